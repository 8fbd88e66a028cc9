-- inboxStats no longer reads every pending record: the counts are kept as records are stored and
-- cut, and the oldest pending arrival is one index seek (src/store/inbox-totals.ts says how).
CREATE TABLE inbox_totals (
  pipeline text PRIMARY KEY,
  records  bigint NOT NULL,   -- pending records
  bytes    bigint NOT NULL,   -- their bytes
  prioritized bigint NOT NULL -- those of them that carry a priority
);
-- One row per pipeline per ingest transaction: its time and its highest record id. A cut deletes
-- the rows its range covers, so every row left names a pending record. Keyed by time alone, with
-- no second index.
CREATE TABLE inbox_arrivals (
  pipeline    text NOT NULL,
  received_at timestamptz NOT NULL,
  last_id     bigint NOT NULL,
  PRIMARY KEY (pipeline, received_at, last_id)
);
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
