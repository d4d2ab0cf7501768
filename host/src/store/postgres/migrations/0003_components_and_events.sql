-- Schema 3: what hosts sharing the database share beyond the records: the
-- bytes of published components, so that every host loads what any of
-- them published, and the event log, numbered in commit order, so that a
-- stream on any host shows every host's events in one order.

CREATE TABLE jobhost_components (
    sha256 text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes bytea NOT NULL
);

CREATE TABLE jobhost_events (
    -- Taken under an advisory lock held to commit, so a reader that has
    -- seen an id has seen every smaller one.
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for job type events (everyone's).
    tenant text,
    kind text NOT NULL,
    record jsonb NOT NULL
);
