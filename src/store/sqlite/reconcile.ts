// The inbox's reconciliation on SQLite (records of a window -> batches -> deliveries -> failures):
// run on the store's connection, or on the read thread's (read-thread.ts) in a long-running
// process, where a window of 1M records held the event loop for 4.5 s.
import type Database from 'better-sqlite3';
import { batchOfRecord } from '../batch-ranges.js';
import { failedSampleSize } from '../reports.js';
import type { InboxReconciliation, ReportWindow } from '../types.js';

export function reconcileOn(stmt: (sql: string) => Database.Statement, window: ReportWindow): InboxReconciliation[] {
  // A pipeline's records of the window lie within the ids of its ingest commits there (migration
  // 0016): one range of the table each, filtered exactly, and one pipeline at a time, so no
  // GROUP BY sorts the records (1M: 1.1 s; a GROUP BY over the range took 2.1 s).
  const spans = stmt(
    `SELECT pipeline, min(first_id) AS lo, max(last_id) AS hi FROM inbox_commits
     WHERE received_at >= ? AND received_at < ? AND (? IS NULL OR pipeline = ?) GROUP BY pipeline ORDER BY pipeline`,
  ).all(window.from.toISOString(), window.to.toISOString(), window.pipeline ?? null, window.pipeline ?? null) as { pipeline: string; lo: number; hi: number }[];
  // A failed record: its item has a dead letter still dead or skipped (a retried one was delivered by its retry).
  const records = `WITH w AS (
    SELECT r.id, r.received_at, r.data, b.id AS batch_id, b.status AS batch_status, b.cut_at,
      (julianday(b.delivered_at) - julianday(r.received_at)) * 86400000.0 AS latency,
      EXISTS (SELECT 1 FROM item_errors e JOIN runs ru ON ru.id = e.run_id
        WHERE e.item_id = 'inbox:' || r.id AND ru.pipeline = r.pipeline AND e.severity = 'block' AND e.status IN ('dead', 'skipped')) AS failed
    FROM inbox_records r LEFT JOIN batches b ON b.id = ${batchOfRecord('r')}
    WHERE r.id BETWEEN ? AND ? AND r.pipeline = ? AND r.received_at >= ? AND r.received_at < ?)`;
  const totals = stmt(
    `${records} SELECT count(*) AS accepted, count(batch_id) AS batched,
       sum(batch_status IS 'delivered' AND NOT failed) AS delivered, sum(failed) AS failed,
       count(CASE WHEN batch_status IS 'delivered' AND NOT failed THEN 1 END) - count(DISTINCT CASE WHEN batch_status IS 'delivered' AND NOT failed THEN data END) AS duplicates,
       min(CASE WHEN batch_status IS NOT 'delivered' AND NOT failed THEN received_at END) AS oldest,
       max(CASE WHEN batch_status IS 'delivered' THEN latency END) AS latency
     FROM w`,
  );
  const open = stmt(`${records} SELECT batch_id, count(*) AS records, cut_at FROM w WHERE batch_status = 'open' GROUP BY batch_id, cut_at ORDER BY cut_at, batch_id`);
  const failed = stmt(`${records} SELECT id FROM w WHERE failed ORDER BY id LIMIT ?`).pluck();
  return spans.flatMap(({ pipeline, lo, hi }) => {
    const params = [lo, hi, pipeline, window.from.toISOString(), window.to.toISOString()];
    const t = totals.get(...params) as { accepted: number; batched: number; delivered: number; failed: number; duplicates: number; oldest: string | null; latency: number | null };
    // Commits whose records were all purged name a pipeline with nothing left in the window.
    if (t.accepted === 0) return [];
    return [{
      pipeline, accepted: t.accepted, batched: t.batched, delivered: t.delivered, failed: t.failed, duplicates: t.duplicates,
      oldestUndelivered: t.oldest === null ? null : new Date(t.oldest),
      maxLatencyMs: t.latency === null ? null : Math.round(t.latency),
      openBatches: (open.all(...params) as { batch_id: string; records: number; cut_at: string }[]).map((o) => ({ batchId: o.batch_id, records: o.records, cutAt: new Date(o.cut_at) })),
      failedIds: failed.all(...params, failedSampleSize) as number[],
    }];
  });
}
