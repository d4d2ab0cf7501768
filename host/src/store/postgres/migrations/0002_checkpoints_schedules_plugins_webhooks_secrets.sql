-- Checkpoints, where each scheduled job stands, first answers to idempotent
-- requests, published plugins and the registry's event log, webhook
-- deliveries and notices waiting, and tenants' secrets (sealed).

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

CREATE TABLE jobhost_webhooks (
    run_id uuid PRIMARY KEY,
    due_ms bigint NOT NULL,
    -- Storage failures in a row; set aside at the cap.
    store_failures integer NOT NULL DEFAULT 0
);

CREATE TABLE jobhost_webhooks_aside (
    run_id uuid PRIMARY KEY,
    record jsonb NOT NULL
);

CREATE TABLE jobhost_notices (
    run_id uuid NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    record jsonb NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE jobhost_webhook_secrets (
    tenant text PRIMARY KEY,
    secret text NOT NULL
);

CREATE TABLE jobhost_secrets (
    tenant text NOT NULL,
    name text COLLATE "C" NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (tenant, name)
);
