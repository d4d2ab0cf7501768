-- Checkpoints, where each scheduled job stands, first answers to idempotent
-- requests, published plugins and the registry's event log.

CREATE TABLE jobhost_checkpoints (
    run_id uuid PRIMARY KEY REFERENCES jobhost_runs (id) ON DELETE CASCADE,
    state bytea NOT NULL
);

CREATE TABLE jobhost_schedules (
    job_id uuid PRIMARY KEY,
    record jsonb NOT NULL
);

CREATE TABLE jobhost_idempotency (
    slot bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX jobhost_idempotency_by_expiry ON jobhost_idempotency (expires_at);

CREATE TABLE jobhost_plugins (
    job_type text COLLATE "C" NOT NULL,
    version text COLLATE "C" NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (job_type, version)
);

CREATE TABLE jobhost_registry_events (
    id uuid PRIMARY KEY,
    record jsonb NOT NULL
);
