-- 0002_executor: resume, liveness and remote control of runs; dead letters; chunk timings.

-- A retry of dead letters is a new run linked to the one it retries; lineage is the first run of
-- the chain, from which idempotency keys derive, so a receiver sees the same key for an item.
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE runs ADD COLUMN lineage TEXT;
-- The folder relative paths of its config resolved against: --resume and dead-letter retries rebuild the run from it.
ALTER TABLE runs ADD COLUMN base_dir TEXT;
-- With the checkpoint: where a seekable source stood after the last committed item.
ALTER TABLE runs ADD COLUMN last_position TEXT;
-- host:pid of the process running it, and when it last said it was alive: a running run whose
-- heartbeat is stale (or whose pid is gone on this host) was interrupted.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
-- pause | cancel, set from another process and honoured at the next chunk boundary.
ALTER TABLE runs ADD COLUMN control TEXT;

ALTER TABLE run_chunks ADD COLUMN duration_ms INTEGER;

-- Failures keep the item's data so they can be retried or exported (warnings do not).
ALTER TABLE item_errors ADD COLUMN payload TEXT;
-- JSON [{attempt, code, message, at}]: every try, not just the last.
ALTER TABLE item_errors ADD COLUMN history TEXT;
-- dead | retried | skipped for failures; NULL for warnings.
ALTER TABLE item_errors ADD COLUMN status TEXT;
CREATE INDEX item_errors_by_status ON item_errors (run_id, status, error_type);
