-- Each run's newest checkpoint, gone with the run.

CREATE TABLE jobhost_checkpoints (
    run_id uuid PRIMARY KEY REFERENCES jobhost_runs (id) ON DELETE CASCADE,
    state bytea NOT NULL
);
