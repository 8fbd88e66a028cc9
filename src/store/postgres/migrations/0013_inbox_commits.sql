-- The records received in a window (reconciliation reports) are found through a log of ingest
-- commits, as on SQLite (its 0016): one row per pipeline per ingest transaction, with its time and
-- the range of ids it stored, instead of an index entry per record on (pipeline, received_at),
-- which cost a bulk ingest 7-8% (docs/benchmarks.md, machine K). A record's received_at is its
-- transaction's, and its id lies in that transaction's range, so the ids of a window's commits
-- bound its records; a filter on received_at keeps the result exact, also where transactions of
-- other processes took ids inside the range.
CREATE TABLE inbox_commits (
  received_at timestamptz NOT NULL,
  pipeline    text NOT NULL,
  first_id    bigint NOT NULL,
  last_id     bigint NOT NULL,
  PRIMARY KEY (received_at, pipeline, first_id)
);
INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id)
  SELECT received_at, pipeline, min(id), max(id) FROM inbox_records GROUP BY received_at, pipeline;
DROP INDEX inbox_by_received;
