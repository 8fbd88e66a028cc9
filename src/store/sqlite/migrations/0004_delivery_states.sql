-- 0004_delivery_states: every delivery (one file part of a batch to one destination) records each
-- step it takes, so a run after a crash finishes or skips it instead of sending a second copy.

CREATE TABLE deliveries (
  id          TEXT PRIMARY KEY,
  pipeline    TEXT NOT NULL,
  batch_id    TEXT NOT NULL,
  part        TEXT NOT NULL,          -- the file within the batch: '1', 'east/2', '1.sha256', 'manifest'
  destination TEXT NOT NULL,          -- the destination's description (local:/out, sftp://host:22/in)
  run_id      TEXT NOT NULL,          -- the run that rendered or published it last
  name        TEXT NOT NULL,          -- the final name, fixed by the first run: later runs reuse it
  temp_name   TEXT,                   -- set while complete bytes wait under a temp name for their rename
  state       TEXT NOT NULL,          -- sealed | rendered | uploading | published | verified | acknowledged | failed | skipped | rolled_back
  uri         TEXT,
  bytes       INTEGER,
  records     INTEGER,
  sha256      TEXT,
  staged_path TEXT,                   -- the rendered file kept under the data dir until delivery is confirmed
  attempts    INTEGER NOT NULL DEFAULT 0,
  code        TEXT,
  reason      TEXT,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  UNIQUE (pipeline, batch_id, part, destination)
);
CREATE INDEX deliveries_by_run ON deliveries (run_id);
CREATE INDEX deliveries_by_state ON deliveries (pipeline, state);

CREATE TABLE delivery_steps (
  id          INTEGER PRIMARY KEY,
  delivery_id TEXT NOT NULL REFERENCES deliveries (id),
  state       TEXT NOT NULL,
  at          TEXT NOT NULL,
  detail      TEXT
);
CREATE INDEX delivery_steps_by_delivery ON delivery_steps (delivery_id, id);

-- The destination circuit breaker of a pipeline: consecutive failed deliveries, and since when
-- deliveries are held back (NULL: closed).
ALTER TABLE delivery_state ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE delivery_state ADD COLUMN breaker_opened_at TEXT;
