-- Batches cut from now on are ranges of record ids (first_id..last_id; src/store/batch-ranges.ts):
-- a cut no longer writes its batch's id into every record, which rewrote every row and every
-- entry of the batch index (6.3 s of a 1M-record inbox run's 12). Batches cut before keep their
-- records' batch_id and a NULL range.
ALTER TABLE batches ADD COLUMN first_id INTEGER;
ALTER TABLE batches ADD COLUMN last_id INTEGER;
CREATE INDEX batches_by_range ON batches (pipeline, last_id) WHERE last_id IS NOT NULL;
