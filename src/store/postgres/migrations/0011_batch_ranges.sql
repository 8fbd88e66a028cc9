-- Batches cut from now on are ranges of record ids (first_id..last_id; src/store/batch-ranges.ts):
-- a cut no longer writes its batch's id into every record, a new version of every row with new
-- entries in every index (the UPDATE took 22.5 s of a 1M-record cut's 29.7). Batches cut before
-- keep their records' batch_id and a NULL range.
ALTER TABLE batches ADD COLUMN first_id bigint, ADD COLUMN last_id bigint;
CREATE INDEX batches_by_range ON batches (pipeline, last_id) WHERE last_id IS NOT NULL;
