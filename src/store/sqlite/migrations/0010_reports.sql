-- 0010_reports: lookups of lading trace, the daily report's windows and retention.

-- A record traced by its idempotency key, whatever its pipeline.
CREATE INDEX inbox_by_key ON inbox_records (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Reconciliation counts the records received in a day.
CREATE INDEX inbox_by_received ON inbox_records (pipeline, received_at);
-- An item's failures across runs (trace, reconciliation's failed records).
CREATE INDEX item_errors_by_item ON item_errors (item_id);
-- The files delivered in a day.
CREATE INDEX files_by_delivered ON files (delivered_at);
-- The runs of a batch.
CREATE INDEX runs_by_batch ON runs (batch_id);
