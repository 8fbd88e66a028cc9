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
  const inWindow = 'r.id BETWEEN @lo AND @hi AND r.pipeline = @pipeline AND r.received_at >= @from AND r.received_at < @to';
  // A failed record: its item has a dead letter still dead or skipped (a retried one was delivered by its retry).
  const records = `WITH w AS (
    SELECT r.id, r.received_at, r.data, b.id AS batch_id, b.status AS batch_status, b.cut_at,
      (julianday(b.delivered_at) - julianday(r.received_at)) * 86400000.0 AS latency,
      EXISTS (SELECT 1 FROM item_errors e JOIN runs ru ON ru.id = e.run_id
        WHERE e.item_id = 'inbox:' || r.id AND ru.pipeline = r.pipeline AND e.severity = 'block' AND e.status IN ('dead', 'skipped')) AS failed
    FROM inbox_records r LEFT JOIN batches b ON b.id = ${batchOfRecord('r')}
    WHERE ${inWindow})`;
  const totals = stmt(
    `${records} SELECT count(*) AS accepted, count(batch_id) AS batched,
       sum(batch_status IS 'delivered' AND NOT failed) AS delivered, sum(failed) AS failed,
       count(CASE WHEN batch_status IS 'delivered' AND NOT failed THEN 1 END) - count(DISTINCT CASE WHEN batch_status IS 'delivered' AND NOT failed THEN data END) AS duplicates,
       min(CASE WHEN batch_status IS NOT 'delivered' AND NOT failed THEN received_at END) AS oldest,
       max(CASE WHEN batch_status IS 'delivered' THEN latency END) AS latency
     FROM w`,
  );
  // Only the totals read every record of the window: the open batches start from the pipeline's
  // open batches (a range's records by a rowid range, a batch cut before ranges by its batch_id),
  // the failed ids from its failed items (each record looked up by id). Read through w, each read
  // the window again: 0.6 and 0.4 s of a reconciliation of 1M records (4.5 s; docs/benchmarks.md).
  const open = stmt(
    `SELECT batch_id, records, cut_at FROM (
       SELECT b.id AS batch_id, b.cut_at, (SELECT count(*) FROM inbox_records r WHERE ${inWindow} AND r.batch_id IS NULL
         AND r.id <= b.last_id AND r.id > coalesce((SELECT max(p.last_id) FROM batches p WHERE p.pipeline = b.pipeline AND p.last_id < b.last_id), 0)) AS records
       FROM batches b WHERE b.pipeline = @pipeline AND b.status = 'open' AND b.last_id IS NOT NULL
       UNION ALL
       SELECT b.id, b.cut_at, count(*) FROM batches b JOIN inbox_records r ON r.pipeline = b.pipeline AND r.batch_id = b.id
       WHERE b.pipeline = @pipeline AND b.status = 'open' AND b.last_id IS NULL AND ${inWindow} GROUP BY b.id, b.cut_at)
     WHERE records > 0 ORDER BY cut_at, batch_id`,
  );
  const failed = stmt(
    `SELECT r.id FROM (SELECT DISTINCT e.item_id FROM item_errors e JOIN runs ru ON ru.id = e.run_id
       WHERE ru.pipeline = @pipeline AND e.severity = 'block' AND e.status IN ('dead', 'skipped') AND e.item_id GLOB 'inbox:[0-9]*') f
     JOIN inbox_records r ON r.id = CAST(substr(f.item_id, 7) AS INTEGER) WHERE ${inWindow} ORDER BY r.id LIMIT @limit`,
  ).pluck();
  return spans.flatMap(({ pipeline, lo, hi }) => {
    const named = { lo, hi, pipeline, from: window.from.toISOString(), to: window.to.toISOString() };
    const t = totals.get(named) as { accepted: number; batched: number; delivered: number; failed: number; duplicates: number; oldest: string | null; latency: number | null };
    // Commits whose records were all purged name a pipeline with nothing left in the window.
    if (t.accepted === 0) return [];
    return [{
      pipeline, accepted: t.accepted, batched: t.batched, delivered: t.delivered, failed: t.failed, duplicates: t.duplicates,
      oldestUndelivered: t.oldest === null ? null : new Date(t.oldest),
      maxLatencyMs: t.latency === null ? null : Math.round(t.latency),
      openBatches: (open.all(named) as { batch_id: string; records: number; cut_at: string }[]).map((o) => ({ batchId: o.batch_id, records: o.records, cutAt: new Date(o.cut_at) })),
      failedIds: failed.all({ ...named, limit: failedSampleSize }) as number[],
    }];
  });
}
