-- inboxStats no longer reads every pending record (560 ms a call with 1M pending, and serve asks
-- once a second per inbox pipeline): the counts are kept as records are stored and cut, and the
-- oldest pending arrival is one index seek (src/store/inbox-totals.ts says how).
CREATE TABLE inbox_totals (
  pipeline TEXT PRIMARY KEY,
  records  INTEGER NOT NULL,   -- pending records
  bytes    INTEGER NOT NULL,   -- their bytes
  prioritized INTEGER NOT NULL -- those of them that carry a priority
) WITHOUT ROWID;
-- One row per pipeline per ingest commit: the commit's time and its highest record id. A cut
-- deletes the rows its range covers, so every row left names a pending record. Keyed by time
-- alone, with no second index: one page fewer for each commit to write.
CREATE TABLE inbox_arrivals (
  pipeline    TEXT NOT NULL,
  received_at TEXT NOT NULL,
  last_id     INTEGER NOT NULL,
  PRIMARY KEY (pipeline, received_at, last_id)
) WITHOUT ROWID;
-- Priorities are counted over the pending records that carry one, when there are any.
CREATE INDEX inbox_by_priority ON inbox_records (pipeline, id) WHERE priority IS NOT NULL;

INSERT INTO inbox_totals (pipeline, records, bytes, prioritized)
  SELECT pipeline, count(*), sum(bytes), count(priority) FROM inbox_records r
  WHERE batch_id IS NULL AND id > (SELECT coalesce(max(last_id), 0) FROM batches WHERE pipeline = r.pipeline)
  GROUP BY pipeline;
INSERT INTO inbox_arrivals (pipeline, received_at, last_id)
  SELECT pipeline, received_at, max(id) FROM inbox_records r
  WHERE batch_id IS NULL AND id > (SELECT coalesce(max(last_id), 0) FROM batches WHERE pipeline = r.pipeline)
  GROUP BY pipeline, received_at;
