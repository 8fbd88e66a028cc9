-- Scale-out: jobs queued in the store and worked by `lading worker` processes (docs/scale-out.md).
-- A queued job is a run in status 'queued'; its items are materialised here, one row per chunk,
-- so the chunk table is the job's checkpoint: whatever is not 'done' is still to do.
CREATE TABLE jobs (
  run_id       TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  priority     INTEGER NOT NULL DEFAULT 0,
  kind         TEXT NOT NULL,     -- chunks (any worker takes any chunk) | whole (one worker runs the run: file outputs)
  total        INTEGER,           -- items materialised; NULL for a whole job
  submitted_at TEXT NOT NULL
);

CREATE TABLE job_chunks (
  run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  chunk_index      INTEGER NOT NULL,
  items            TEXT,            -- JSON array of items; NULL for a whole job (the worker reads the run's source)
  state            TEXT NOT NULL DEFAULT 'pending',  -- pending | leased | done
  lease_worker     TEXT,
  lease_token      TEXT,
  lease_expires_at TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, chunk_index)
);
CREATE UNIQUE INDEX job_chunks_by_token ON job_chunks (lease_token);
CREATE INDEX job_chunks_open ON job_chunks (state, lease_expires_at);

-- Named leases held by one process at a time (the batch scheduler), renewed by heartbeat.
CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  token      TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
