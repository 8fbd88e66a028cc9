-- 0001_init: inbox, batches, runs, chunk checkpoints, item errors, delivered files.
-- Append-only: never edit a released migration; add 0002_… instead. No BEGIN/COMMIT here: the
-- runner wraps each file in its own transaction together with its ledger row.
-- Dates are ISO-8601 UTC text written by the caller (no now() in SQL), so tests control time.
-- JSON columns hold JSON text.

-- A batch: the fixed set of inbox records one delivery carries. Membership never changes once cut.
CREATE TABLE batches (
  id           TEXT PRIMARY KEY,
  pipeline     TEXT NOT NULL,
  records      INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  cut_at       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'open',   -- open | delivered
  delivered_at TEXT,
  run_id       TEXT
);
CREATE INDEX batches_by_status ON batches (pipeline, status, cut_at);

-- The inbox: records ingested for a pipeline. batch_id IS NULL = pending.
-- AUTOINCREMENT: ids are never reused, so id order is arrival order even after pruning.
CREATE TABLE inbox_records (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline        TEXT NOT NULL,
  data            TEXT NOT NULL,                 -- JSON object
  bytes           INTEGER NOT NULL,              -- UTF-8 byte length of data
  idempotency_key TEXT,
  received_at     TEXT NOT NULL,
  batch_id        TEXT REFERENCES batches (id),
  UNIQUE (pipeline, idempotency_key)
);
-- Serves the pending scan (batch_id IS NULL, id order), batch reads (keyset on id) and stats.
CREATE INDEX inbox_by_batch ON inbox_records (pipeline, batch_id, id);

CREATE TABLE runs (
  id                 TEXT PRIMARY KEY,
  pipeline           TEXT NOT NULL,
  mode               TEXT NOT NULL,
  status             TEXT NOT NULL,
  batch_id           TEXT,
  source             TEXT NOT NULL,
  created_at         TEXT NOT NULL,
  completed_at       TEXT,
  processed          INTEGER NOT NULL DEFAULT 0,
  succeeded          INTEGER NOT NULL DEFAULT 0,
  failed             INTEGER NOT NULL DEFAULT 0,
  warnings           INTEGER NOT NULL DEFAULT 0,
  config             TEXT NOT NULL,              -- JSON, secret-free (${env:…} kept as written)
  report             TEXT,                       -- JSON RunReport once finished
  last_chunk_index   INTEGER,                    -- checkpoint: the committed chunk with the highest last_seq
  last_seq           INTEGER,
  last_processed     INTEGER,
  last_checkpoint_at TEXT
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at DESC, id DESC);

-- One row per committed chunk; a re-commit of the same chunk replaces its row, counters and errors.
CREATE TABLE run_chunks (
  run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  chunk_index  INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  processed    INTEGER NOT NULL,
  succeeded    INTEGER NOT NULL,
  failed       INTEGER NOT NULL,
  warnings     INTEGER NOT NULL,
  committed_at TEXT NOT NULL,
  PRIMARY KEY (run_id, chunk_index)
) WITHOUT ROWID;

CREATE TABLE item_errors (
  id           INTEGER PRIMARY KEY,
  run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  commit_chunk INTEGER NOT NULL,                 -- the chunk commit that recorded this row
  item_id      TEXT,
  seq          INTEGER,
  chunk_index  INTEGER,
  code         TEXT NOT NULL,
  error_type   TEXT NOT NULL,
  category     TEXT NOT NULL,                    -- transient | permanent
  severity     TEXT NOT NULL,                    -- block | warn
  field        TEXT,
  location     TEXT,
  message      TEXT NOT NULL,
  attempts     INTEGER NOT NULL
);
CREATE INDEX item_errors_by_severity ON item_errors (run_id, severity, seq);
CREATE INDEX item_errors_by_chunk ON item_errors (run_id, commit_chunk);

-- Files a run delivered (one row per file or split part); re-recording the same name updates it.
CREATE TABLE files (
  run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  part         INTEGER NOT NULL,
  uri          TEXT NOT NULL,
  bytes        INTEGER NOT NULL,
  records      INTEGER NOT NULL,
  sha256       TEXT NOT NULL,
  destination  TEXT NOT NULL,
  delivered_at TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
