// Helpers the two stores share for lineage, reconciliation and retention.

/** The inbox record id a trace reference names: `42` or `inbox:42` (the item id runs give it); null for anything else. */
export function inboxRef(ref: string): number | null {
  const match = /^(?:inbox:)?(\d{1,15})$/.exec(ref);
  return match ? Number(match[1]) : null;
}

/** How many failed record ids the reconciliation lists; the count says how many there are in all. */
export const failedSampleSize = 20;

/**
 * Rows a purge reads and removes at once: 1M records held whole took 1.4 GB, and a JSON Lines
 * archive of them was past V8's longest string (docs/benchmarks.md, machine M).
 */
export const purgePageSize = 5_000;

/** A purge's removed rows as archived, by kind: the same JSON from either store. */
export const archivedRow = {
  record: (r: { id: number; pipeline: string; idempotency_key: string | null; received_at: string; batch_id: string; data: unknown }) =>
    ({ kind: 'record', pipeline: r.pipeline, id: r.id, key: r.idempotency_key, received_at: r.received_at, batch_id: r.batch_id, data: r.data }),
  deadLetter: (pipeline: string, e: { run_id: string; item_id: string | null; code: string; error_type: string; status: string; attempts: number; message: string; payload: unknown }) =>
    ({ kind: 'dead_letter', pipeline, run_id: e.run_id, item_id: e.item_id, code: e.code, error_type: e.error_type, status: e.status, attempts: e.attempts, message: e.message, payload: e.payload ?? null }),
  run: (r: { id: string; pipeline: string; status: string; batch_id: string | null; created_at: string; completed_at: string | null; report: unknown }) =>
    ({ kind: 'run', pipeline: r.pipeline, id: r.id, status: r.status, batch_id: r.batch_id, created_at: r.created_at, completed_at: r.completed_at, report: r.report ?? null }),
};
