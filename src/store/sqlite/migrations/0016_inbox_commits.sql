-- The records received in a window (reconciliation reports) are found through a log of ingest
-- commits, one row per pipeline per commit with its time and range of ids, instead of an index
-- entry per record on (pipeline, received_at): that index was 9% of a bulk POST's throughput
-- (1,000-lead NDJSON bodies: 383–399 POST/s with it, 427–428 without; docs/benchmarks.md,
-- machine J). A record's time is its commit's, and its id lies in its commit's range, so the ids
-- of a window's commits bound its records; a filter on received_at keeps the result exact.
CREATE TABLE inbox_commits (
  received_at TEXT NOT NULL,
  pipeline    TEXT NOT NULL,
  first_id    INTEGER NOT NULL,
  last_id     INTEGER NOT NULL,
  PRIMARY KEY (received_at, pipeline, first_id)
) WITHOUT ROWID;
INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id)
  SELECT received_at, pipeline, min(id), max(id) FROM inbox_records GROUP BY received_at, pipeline;
DROP INDEX inbox_by_received;
