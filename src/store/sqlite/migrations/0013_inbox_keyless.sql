-- A record without an idempotency key no longer has an entry in the key's unique index: the
-- table's UNIQUE (pipeline, idempotency_key) indexed every row, keyless ones included, and was
-- about a sixth of an insert's CPU (docs/benchmarks.md, machine F). SQLite cannot drop a table
-- constraint, so the table is rebuilt; ids, and the AUTOINCREMENT counter past deleted ids, are
-- kept. Keyless records never conflicted (NULLs are distinct), so nothing else changes.
CREATE TABLE inbox_records_keyed (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline        TEXT NOT NULL,
  data            TEXT NOT NULL,                 -- JSON object
  bytes           INTEGER NOT NULL,              -- UTF-8 byte length of data
  idempotency_key TEXT,
  received_at     TEXT NOT NULL,
  batch_id        TEXT REFERENCES batches (id),
  priority        INTEGER
);
INSERT INTO inbox_records_keyed (id, pipeline, data, bytes, idempotency_key, received_at, batch_id, priority)
  SELECT id, pipeline, data, bytes, idempotency_key, received_at, batch_id, priority FROM inbox_records;
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox_records'), 0))
  WHERE name = 'inbox_records_keyed';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'inbox_records_keyed', seq FROM sqlite_sequence WHERE name = 'inbox_records'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbox_records_keyed');
DROP TABLE inbox_records;
ALTER TABLE inbox_records_keyed RENAME TO inbox_records;
CREATE UNIQUE INDEX inbox_by_pipeline_key ON inbox_records (pipeline, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Serves the pending scan (batch_id IS NULL, id order), batch reads (keyset on id) and stats.
CREATE INDEX inbox_by_batch ON inbox_records (pipeline, batch_id, id);
CREATE INDEX inbox_by_key ON inbox_records (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX inbox_by_received ON inbox_records (pipeline, received_at);
