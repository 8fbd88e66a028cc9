// Lineage: which batch, files, destinations and runs carried a record - the question partners and
// compliance ask. Built from the store alone, so it answers for any process that shared it.
import { ladingError } from '../errors/lading-error.js';
import type { DeadLetter, DeliveryRecord, InboxRecordRef, RunRecord, Store } from '../store/types.js';

const settled = new Set(['verified', 'acknowledged', 'skipped']);

export interface TracedRun {
  readonly run_id: string;
  readonly status: RunRecord['status'];
  readonly started_at: string;
  readonly completed_at: string | null;
  /** Files the run recorded as delivered (every sink that writes files). */
  readonly files: readonly { readonly name: string; readonly part: number; readonly uri: string; readonly bytes: number; readonly records: number; readonly sha256: string }[];
}

export interface TracedDelivery {
  readonly delivery_id: string;
  readonly part: string;
  readonly name: string;
  readonly destination: string;
  readonly uri: string | null;
  readonly state: DeliveryRecord['state'];
  readonly bytes: number | null;
  readonly records: number | null;
  readonly sha256: string | null;
  readonly run_id: string;
  /** When the partner was confirmed to have it; null while the delivery is not settled. */
  readonly delivered_at: string | null;
}

export interface TracedFailure {
  readonly run_id: string;
  readonly item_id: string | null;
  readonly code: string;
  readonly message: string;
  readonly attempts: number;
  readonly status: DeadLetter['status'];
}

export interface TracedRecord {
  readonly record_id: number;
  readonly item_id: string;
  readonly pipeline: string;
  readonly idempotency_key: string | null;
  readonly received_at: string;
  /** pending (not yet batched), batched (cut, not delivered), delivered, or failed (an unresolved dead letter). */
  readonly status: 'pending' | 'batched' | 'delivered' | 'failed';
  readonly batch: { readonly id: string; readonly reason: string; readonly cut_at: string; readonly status: 'open' | 'delivered'; readonly records: number } | null;
  /**
   * Every file of the batch: the record is in one of them. A split batch does not record which
   * part holds which record; the part numbers follow the batch's record order.
   */
  readonly deliveries: readonly TracedDelivery[];
  readonly runs: readonly TracedRun[];
  readonly failures: readonly TracedFailure[];
}

/** An item of a run from a file, SQL or inline source: traceable by its item id only when it failed. */
export interface TracedItem {
  readonly item_id: string;
  readonly pipeline: string;
  readonly run: TracedRun;
  readonly failures: readonly TracedFailure[];
}

export interface Trace {
  readonly ref: string;
  readonly records: readonly TracedRecord[];
  readonly items: readonly TracedItem[];
}

const failure = (d: DeadLetter): TracedFailure =>
  ({ run_id: d.runId, item_id: d.itemId, code: d.code, message: d.message, attempts: d.attempts, status: d.status });

async function tracedRun(store: Store, run: RunRecord): Promise<TracedRun> {
  const files = await store.listFiles(run.id);
  return {
    run_id: run.id, status: run.status, started_at: run.createdAt.toISOString(), completed_at: run.completedAt?.toISOString() ?? null,
    files: files.map((f) => ({ name: f.name, part: f.part, uri: f.uri, bytes: f.bytes, records: f.records, sha256: f.sha256 })),
  };
}

async function traceRecord(store: Store, record: InboxRecordRef): Promise<TracedRecord> {
  const itemId = `inbox:${record.id}`;
  const batch = record.batchId === null ? null : await store.getBatch(record.batchId);
  const [deliveries, runs, deadLetters] = await Promise.all([
    batch === null ? [] : store.listDeliveries({ pipeline: record.pipeline, batchId: batch.id, limit: 1000 }),
    batch === null ? [] : store.listRuns({ pipeline: record.pipeline, batchId: batch.id, limit: 1000 }),
    store.listDeadLetters({ pipeline: record.pipeline, itemId }),
  ]);
  const failed = deadLetters.some((d) => d.status !== 'retried');
  return {
    record_id: record.id, item_id: itemId, pipeline: record.pipeline, idempotency_key: record.key, received_at: record.receivedAt.toISOString(),
    status: failed ? 'failed' : batch === null ? 'pending' : batch.status === 'delivered' ? 'delivered' : 'batched',
    batch: batch && { id: batch.id, reason: batch.reason, cut_at: batch.cutAt.toISOString(), status: batch.status, records: batch.records },
    deliveries: deliveries.sort((a, b) => a.part.localeCompare(b.part, 'en', { numeric: true }) || a.destination.localeCompare(b.destination)).map((d) => ({
      delivery_id: d.id, part: d.part, name: d.name, destination: d.destination, uri: d.uri, state: d.state, bytes: d.bytes, records: d.records,
      sha256: d.sha256, run_id: d.runId, delivered_at: settled.has(d.state) ? d.updatedAt.toISOString() : null,
    })),
    runs: await Promise.all(runs.reverse().map((r) => tracedRun(store, r))),
    failures: deadLetters.map(failure),
  };
}

/**
 * Traces `ref`: an inbox record id (`42`, `inbox:42`), an idempotency key, or the item id of a
 * failed item of any run. Throws TRACE_NOT_FOUND when nothing matches.
 */
export async function trace(store: Store, ref: string): Promise<Trace> {
  const records = await store.findInboxRecords(ref);
  const inboxItems = new Set(records.map((r) => `inbox:${r.id}`));
  const others = (await store.listDeadLetters({ itemId: ref })).filter((d) => !inboxItems.has(d.itemId ?? ''));
  const byRun = new Map<string, DeadLetter[]>();
  for (const d of others) byRun.set(d.runId, [...(byRun.get(d.runId) ?? []), d]);
  const items: TracedItem[] = [];
  for (const [runId, failures] of byRun) {
    const run = await store.getRun(runId);
    if (run) items.push({ item_id: ref, pipeline: run.pipeline, run: await tracedRun(store, run), failures: failures.map(failure) });
  }
  if (records.length === 0 && items.length === 0) {
    throw ladingError('TRACE_NOT_FOUND', `no inbox record has the id or idempotency key ${JSON.stringify(ref)}, and no run recorded a failure of an item with that id`);
  }
  return { ref, records: await Promise.all(records.map((r) => traceRecord(store, r))), items };
}

/** The trace for a terminal. */
export function renderTrace(t: Trace): string {
  const lines: string[] = [];
  const runLine = (r: TracedRun) => `    run ${r.run_id} ${r.status}, ${r.started_at} → ${r.completed_at ?? '…'}`;
  const fileLine = (f: TracedRun['files'][number]) => `      file ${f.name} (part ${f.part}) ${f.bytes} bytes, ${f.records} records, sha256 ${f.sha256}\n        ${f.uri}`;
  const failureLine = (f: TracedFailure) => `    failed in run ${f.run_id}: ${f.code}: ${f.message} (${f.attempts} attempt${f.attempts === 1 ? '' : 's'}, dead letter ${f.status})`;
  for (const r of t.records) {
    lines.push(`record ${r.record_id} (${r.pipeline}${r.idempotency_key ? `, key ${r.idempotency_key}` : ''}): ${r.status}`, `  received ${r.received_at}`);
    if (r.batch) lines.push(`  batch ${r.batch.id}: ${r.batch.records} records, cut ${r.batch.cut_at} (${r.batch.reason}), ${r.batch.status}`);
    for (const d of r.deliveries) {
      lines.push(`  delivery ${d.delivery_id} part ${d.part} → ${d.destination}: ${d.state}${d.delivered_at ? ` at ${d.delivered_at}` : ''} (run ${d.run_id})`);
      lines.push(`    ${d.name}${d.bytes === null ? '' : `, ${d.bytes} bytes`}${d.records === null ? '' : `, ${d.records} records`}${d.sha256 ? `, sha256 ${d.sha256}` : ''}`);
      if (d.uri) lines.push(`    ${d.uri}`);
    }
    for (const run of r.runs) lines.push(runLine(run).slice(2), ...run.files.map((f) => fileLine(f).slice(2)));
    lines.push(...r.failures.map(failureLine));
  }
  for (const i of t.items) {
    lines.push(`item ${i.item_id} (${i.pipeline})`, runLine(i.run), ...i.run.files.map(fileLine), ...i.failures.map(failureLine));
  }
  return lines.join('\n');
}
