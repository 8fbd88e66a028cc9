-- 0001_init: the PostgreSQL store, equal to the SQLite schema as of its 0003 (PostgreSQL had no
-- deployed databases before, so SQLite's 0001–0003 are folded into this one file).
-- Append-only: never edit a released migration; add 0002_… instead. No BEGIN/COMMIT here: the
-- runner wraps each file in its own transaction together with its ledger row.
-- Dates are timestamptz written by the caller (no now() in SQL), so tests control time.
-- Documents handed back as written (records, configs, reports, failed items' data) are json, not
-- jsonb: jsonb reorders keys, and key order is output (CSV columns, NDJSON fields, report order).

-- A batch: the fixed set of inbox records one delivery carries. Membership never changes once cut.
CREATE TABLE batches (
  id           text PRIMARY KEY,
  -- Cut order among batches cut in the same instant (SQLite's rowid).
  seq          bigint GENERATED ALWAYS AS IDENTITY,
  pipeline     text NOT NULL,
  records      bigint NOT NULL,
  bytes        bigint NOT NULL,
  cut_at       timestamptz NOT NULL,
  reason       text NOT NULL,
  status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'delivered')),
  delivered_at timestamptz,
  run_id       text
);
CREATE INDEX batches_by_status ON batches (pipeline, status, cut_at, seq);

-- The inbox: records ingested for a pipeline. batch_id IS NULL = pending.
-- Identity ids are never reused, so id order is arrival order even after pruning.
CREATE TABLE inbox_records (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline        text NOT NULL,
  data            json NOT NULL,                 -- a JSON object, exactly as ingested
  bytes           bigint NOT NULL,               -- UTF-8 byte length of data
  idempotency_key text,
  received_at     timestamptz NOT NULL,
  batch_id        text REFERENCES batches (id),
  UNIQUE (pipeline, idempotency_key)
);
-- Serves batch reads (keyset on id) and their pipeline lookup.
CREATE INDEX inbox_by_batch ON inbox_records (pipeline, batch_id, id);
-- Serves the pending scan of cutBatch, readPending and inboxStats without visiting batched rows.
CREATE INDEX inbox_pending ON inbox_records (pipeline, id) WHERE batch_id IS NULL;

CREATE TABLE runs (
  id                 text PRIMARY KEY,
  pipeline           text NOT NULL,
  mode               text NOT NULL,
  status             text NOT NULL,
  batch_id           text,
  source             text NOT NULL,
  created_at         timestamptz NOT NULL,
  completed_at       timestamptz,
  processed          bigint NOT NULL DEFAULT 0,
  succeeded          bigint NOT NULL DEFAULT 0,
  failed             bigint NOT NULL DEFAULT 0,
  warnings           bigint NOT NULL DEFAULT 0,
  config             json NOT NULL,              -- secret-free (${env:…} kept as written)
  report             json,                       -- the RunReport once finished
  last_chunk_index   integer,                    -- checkpoint: the committed chunk with the highest last_seq
  last_seq           bigint,
  last_processed     bigint,
  last_checkpoint_at timestamptz,
  -- With the checkpoint: where a seekable source stood after the last committed item.
  last_position      text,
  -- A retry of dead letters is a new run linked to the one it retries; lineage is the first run
  -- of the chain, from which idempotency keys derive, so a receiver sees the same key for an item.
  parent_run_id      text,
  lineage            text,
  -- The folder relative paths of its config resolved against: --resume and dead-letter retries rebuild the run from it.
  base_dir           text,
  -- host:pid of the process running it, and when it last said it was alive: a running run whose
  -- heartbeat is stale (or whose pid is gone on this host) was interrupted.
  owner              text,
  heartbeat_at       timestamptz,
  -- pause | cancel, set from another process and honoured at the next chunk boundary.
  control            text CHECK (control IN ('pause', 'cancel'))
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at DESC, id DESC);

-- One row per committed chunk; a re-commit of the same chunk replaces its row, counters and errors.
CREATE TABLE run_chunks (
  run_id       text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  chunk_index  integer NOT NULL,
  last_seq     bigint NOT NULL,
  processed    bigint NOT NULL,
  succeeded    bigint NOT NULL,
  failed       bigint NOT NULL,
  warnings     bigint NOT NULL,
  committed_at timestamptz NOT NULL,
  duration_ms  bigint,
  PRIMARY KEY (run_id, chunk_index)
);

CREATE TABLE item_errors (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id       text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  commit_chunk integer NOT NULL,                 -- the chunk commit that recorded this row
  item_id      text,
  seq          bigint,
  chunk_index  integer,
  code         text NOT NULL,
  error_type   text NOT NULL,
  category     text NOT NULL CHECK (category IN ('transient', 'permanent')),
  severity     text NOT NULL CHECK (severity IN ('block', 'warn')),
  field        text,
  location     text,
  message      text NOT NULL,
  attempts     integer NOT NULL,
  payload      json,                             -- failures keep the item's data to retry or export it (warnings do not)
  history      jsonb,                            -- [{attempt, code, message, at}]: every try, not just the last
  status       text CHECK (status IN ('dead', 'retried', 'skipped')) -- for failures; NULL for warnings and detail rows
);
CREATE INDEX item_errors_by_severity ON item_errors (run_id, severity, seq);
CREATE INDEX item_errors_by_chunk ON item_errors (run_id, commit_chunk);
CREATE INDEX item_errors_by_status ON item_errors (run_id, status, error_type);

-- Files a run delivered (one row per file or split part); re-recording the same name updates it.
CREATE TABLE files (
  run_id       text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name         text NOT NULL,
  part         integer NOT NULL,
  uri          text NOT NULL,
  bytes        bigint NOT NULL,
  records      bigint NOT NULL,
  sha256       text NOT NULL,
  destination  text NOT NULL,
  delivered_at timestamptz NOT NULL,
  -- How many tries its put took and how long the last one ran.
  attempts     integer NOT NULL DEFAULT 1,
  duration_ms  bigint,
  PRIMARY KEY (run_id, name)
);

-- Host keys seen by SFTP destinations without a configured host_key (trust on first use):
-- the first key is recorded, a later different key is refused.
CREATE TABLE known_hosts (
  host        text PRIMARY KEY,   -- host:port
  key_type    text NOT NULL,
  fingerprint text NOT NULL,      -- SHA256:<base64>, as ssh-keygen -l prints it
  first_seen  timestamptz NOT NULL
);

-- Deliveries of a pipeline stop after a failure that will not heal by itself (credentials,
-- permissions, host key) until an operator resumes them; records keep being ingested meanwhile.
CREATE TABLE delivery_state (
  pipeline     text PRIMARY KEY,
  suspended_at timestamptz,
  code         text,
  reason       text
);

-- Events for the notify channels (email, Slack, webhook, PagerDuty) of a later issue.
CREATE TABLE alerts (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline text NOT NULL,
  run_id   text,
  kind     text NOT NULL,          -- deliveries_suspended | deliveries_resumed | …
  code     text,
  message  text NOT NULL,
  at       timestamptz NOT NULL
);
CREATE INDEX alerts_by_pipeline ON alerts (pipeline, id);
