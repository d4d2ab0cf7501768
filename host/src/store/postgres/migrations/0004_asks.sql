-- Schema 4: asks between hosts. A pause or resume requested through a
-- host that does not execute the run waits here for the host that does
-- (which looks every 250 ms for asks about the attempts it executes), and
-- that host's answer waits here for the asking host.

CREATE TABLE jobhost_asks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id uuid NOT NULL,
    attempt integer NOT NULL,
    ask text NOT NULL CHECK (ask IN ('pause', 'resume')),
    answer text,
    asked_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX jobhost_asks_unanswered ON jobhost_asks (run_id, attempt) WHERE answer IS NULL;
