-- 0002_delivery_states (SQLite's 0004): every delivery (one file part of a batch to one
-- destination) records each step it takes, so a run after a crash finishes or skips it instead of
-- sending a second copy; and the per-pipeline destination circuit breaker.

CREATE TABLE deliveries (
  id          text PRIMARY KEY,
  pipeline    text NOT NULL,
  batch_id    text NOT NULL,
  part        text NOT NULL,          -- the file within the batch: '1', 'east/2', '1.sha256', 'manifest'
  destination text NOT NULL,          -- the destination's description (local:/out, sftp://host:22/in)
  run_id      text NOT NULL,          -- the run that rendered or published it last
  name        text NOT NULL,          -- the final name, fixed by the first run: later runs reuse it
  temp_name   text,                   -- set while complete bytes wait under a temp name for their rename
  state       text NOT NULL CHECK (state IN
                ('sealed', 'rendered', 'uploading', 'published', 'verified', 'acknowledged', 'failed', 'skipped', 'rolled_back')),
  uri         text,
  bytes       bigint,
  records     bigint,
  sha256      text,
  staged_path text,                   -- the rendered file kept under the data dir until delivery is confirmed
  attempts    integer NOT NULL DEFAULT 0,
  code        text,
  reason      text,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  UNIQUE (pipeline, batch_id, part, destination)
);
CREATE INDEX deliveries_by_run ON deliveries (run_id);
CREATE INDEX deliveries_by_state ON deliveries (pipeline, state);
-- listDeliveries: newest first.
CREATE INDEX deliveries_by_created ON deliveries (created_at DESC, id DESC);

CREATE TABLE delivery_steps (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id text NOT NULL REFERENCES deliveries (id),
  state       text NOT NULL,
  at          timestamptz NOT NULL,
  detail      text
);
CREATE INDEX delivery_steps_by_delivery ON delivery_steps (delivery_id, id);

-- The destination circuit breaker of a pipeline: consecutive failed deliveries, and since when
-- deliveries are held back (NULL: closed).
ALTER TABLE delivery_state
  ADD COLUMN failures integer NOT NULL DEFAULT 0,
  ADD COLUMN breaker_opened_at timestamptz;
