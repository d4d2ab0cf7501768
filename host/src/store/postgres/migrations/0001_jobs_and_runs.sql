-- Jobs, runs and run logs. Each record is stored whole as the JSON the API
-- and the sled store use (`record`); the columns beside it are what lists,
-- filters, cursors, the queue and fencing query, and are written with it.
-- Ids are UUIDv7, so id order is creation order.

CREATE TABLE jobhost_jobs (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    job_type text NOT NULL,
    is_deleted boolean NOT NULL DEFAULT false,
    record jsonb NOT NULL
);
CREATE INDEX jobhost_jobs_by_tenant ON jobhost_jobs (tenant, id);

CREATE TABLE jobhost_runs (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    job_id uuid NOT NULL,
    job_type text NOT NULL,
    status text NOT NULL CHECK (
        status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')
    ),
    priority integer NOT NULL,
    -- The attempt every write of a running attempt is fenced by.
    attempt integer NOT NULL CHECK (attempt >= 0),
    -- While waiting for a retry: not taken before then.
    next_attempt_at timestamptz,
    -- While running: which host's worker holds it, and until when.
    lease_holder text,
    lease_expires_at timestamptz,
    record jsonb NOT NULL
);
CREATE INDEX jobhost_runs_by_tenant ON jobhost_runs (tenant, id);
CREATE INDEX jobhost_runs_by_job ON jobhost_runs (tenant, job_id, id);
CREATE INDEX jobhost_runs_by_type ON jobhost_runs (tenant, job_type, id);
CREATE INDEX jobhost_runs_by_status ON jobhost_runs (tenant, status, id);
-- The queue: each tenant's pending runs, highest priority first, then
-- oldest (also how the tenants with queued runs are found, one probe each).
CREATE INDEX jobhost_runs_pending ON jobhost_runs (tenant, priority DESC, id)
    WHERE status = 'pending';
-- Running runs: counted per tenant for its cap, watched for lapsed leases.
CREATE INDEX jobhost_runs_running ON jobhost_runs (tenant, lease_expires_at)
    WHERE status = 'running';

CREATE TABLE jobhost_run_logs (
    run_id uuid NOT NULL REFERENCES jobhost_runs (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (run_id, seq)
);
