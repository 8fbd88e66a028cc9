-- A record without an idempotency key no longer has an entry in the key's unique index, as on
-- SQLite (its 0013): the table's UNIQUE (pipeline, idempotency_key) indexed every row, keyless
-- ones included. Keyless records never conflicted (NULLs are distinct), and the ingest's
-- ON CONFLICT names the index's predicate, so nothing else changes.
-- inbox_pending goes too: since batches became id ranges (0011) no record cut afterwards gets a
-- batch_id, so it indexed every new record a second time beside inbox_by_batch, whose
-- (pipeline, batch_id IS NULL, id) serves the same pending scans. A 1,000-lead bulk POST wrote four
-- index entries a record and now writes two: 61–65 → 72–75 POST/s (docs/benchmarks.md, machine S).
CREATE UNIQUE INDEX inbox_by_pipeline_key ON inbox_records (pipeline, idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE inbox_records DROP CONSTRAINT inbox_records_pipeline_idempotency_key_key;
DROP INDEX inbox_pending;
