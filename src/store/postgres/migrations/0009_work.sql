-- Scale-out: jobs queued in the store and worked by `lading worker` processes (docs/scale-out.md).
-- A queued job is a run in status 'queued'; its items are materialised here, one row per chunk,
-- so the chunk table is the job's checkpoint: whatever is not 'done' is still to do.
CREATE TABLE jobs (
  run_id       text PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  priority     integer NOT NULL DEFAULT 0,
  kind         text NOT NULL CHECK (kind IN ('chunks', 'whole')),
  total        bigint,
  submitted_at timestamptz NOT NULL
);

CREATE TABLE job_chunks (
  run_id           text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  chunk_index      integer NOT NULL,
  items            json,            -- NULL for a whole job (the worker reads the run's source)
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done')),
  lease_worker     text,
  lease_token      text UNIQUE,
  lease_expires_at timestamptz,
  attempts         integer NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, chunk_index)
);
CREATE INDEX job_chunks_open ON job_chunks (state, lease_expires_at) WHERE state <> 'done';

-- Named leases held by one process at a time (the batch scheduler), renewed by heartbeat.
CREATE TABLE leases (
  name       text PRIMARY KEY,
  holder     text NOT NULL,
  token      text NOT NULL,
  expires_at timestamptz NOT NULL
);
