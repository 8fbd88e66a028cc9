// The daily report: totals, destinations, issues and their resolution, performance and the
// reconciliation of one local day, built from the store; rendered as JSON, text or an HTML mail.
import { ladingError } from '../errors/lading-error.js';
import type { Alert, RunRecord, Store } from '../store/types.js';
import { gapEnd, instantsOf, isTimeZone, wallAt } from '../triggers/zone.js';

const DAY = 86_400_000;

export interface Difference {
  readonly kind: 'not_batched' | 'batched_not_delivered' | 'failed' | 'duplicates';
  readonly records: number;
  readonly detail: string;
}

export interface DailyReport {
  readonly date: string;
  readonly timezone: string;
  readonly from: string;
  readonly to: string;
  readonly pipeline: string | null;
  readonly totals: {
    readonly runs: number; readonly runs_succeeded: number; readonly runs_failed: number; readonly success_rate: number | null;
    readonly items_processed: number; readonly items_succeeded: number; readonly items_failed: number;
    readonly files: number; readonly bytes: number;
  };
  readonly destinations: readonly { readonly destination: string; readonly batches: number; readonly files: number; readonly records: number; readonly bytes: number }[];
  readonly issues: {
    readonly failed_runs: readonly { readonly run_id: string; readonly pipeline: string; readonly status: string; readonly code: string | null; readonly message: string | null; readonly resolution: string }[];
    readonly dead_letters: readonly { readonly pipeline: string; readonly open: number; readonly retried: number; readonly skipped: number }[];
    readonly alerts: readonly { readonly at: string; readonly pipeline: string; readonly kind: Alert['kind']; readonly message: string }[];
    readonly notifications: readonly { readonly at: string; readonly pipeline: string; readonly event: string; readonly rule: string | null; readonly channel: string; readonly status: string }[];
  };
  readonly performance: {
    readonly average_batch_seconds: number | null;
    readonly average_run_seconds: number | null;
    /** The local hour whose finished runs succeeded the most items. */
    readonly peak_hour: { readonly hour: string; readonly items: number } | null;
  };
  readonly reconciliation: readonly {
    readonly pipeline: string; readonly accepted: number; readonly batched: number; readonly delivered: number; readonly failed: number;
    readonly differences: readonly Difference[];
  }[];
}

/** The instants a local day spans in `timezone`: [start of date, start of the next date). */
export function dayWindow(date: string, timezone: string): { from: Date; to: Date } {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) throw ladingError('USAGE_INVALID', `--date must be YYYY-MM-DD, got "${date}"`);
  if (!isTimeZone(timezone)) throw ladingError('USAGE_INVALID', `unknown time zone "${timezone}": give an IANA zone such as Europe/Berlin`);
  const start = (wall: number) => instantsOf(timezone, wall)[0] ?? gapEnd(timezone, wall);
  const wall = Date.parse(`${date}T00:00:00Z`);
  return { from: new Date(start(wall)), to: new Date(start(wall + DAY)) };
}

/** The local date before the one `now` falls on: what a report sent in the morning covers. */
export function previousDate(now: Date, timezone: string): string {
  return new Date(wallAt(timezone, now.getTime()) - DAY).toISOString().slice(0, 10);
}

const seconds = (r: RunRecord): number | null => (r.completedAt ? (r.completedAt.getTime() - r.createdAt.getTime()) / 1000 : null);
const mean = (values: readonly number[]): number | null => (values.length === 0 ? null : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 1000) / 1000);
const ok = (r: Pick<RunRecord, 'status'>) => r.status === 'completed' || r.status === 'completed_with_errors';

/** How a failed run's problem ended: a later run delivered its batch, a run retried its dead letters, or it is open. */
async function resolution(store: Store, run: RunRecord): Promise<string> {
  const later = run.batchId === null ? [] : (await store.listRuns({ pipeline: run.pipeline, batchId: run.batchId, limit: 1000 })).filter((r) => r.createdAt >= run.createdAt && r.id !== run.id);
  const delivered = later.find(ok);
  if (delivered) return `batch ${run.batchId} delivered by run ${delivered.id}`;
  if (run.report?.remediation.retry_strategy === 'resume' && later.length > 0) return `resumed by run ${later[0]!.id} (${later[0]!.status})`;
  const retry = (await store.listRuns({ pipeline: run.pipeline, since: run.createdAt, limit: 1000 })).find((r) => r.parentRunId === run.id);
  if (retry) return `dead letters retried by run ${retry.id} (${retry.status})`;
  return 'open';
}

export async function dailyReport(store: Store, opts: { readonly date: string; readonly timezone: string; readonly pipeline?: string }): Promise<DailyReport> {
  const { from, to } = dayWindow(opts.date, opts.timezone);
  const window = { from, to, ...(opts.pipeline === undefined ? {} : { pipeline: opts.pipeline }) };
  const inWindow = (at: Date) => at >= from && at < to;
  const filter = opts.pipeline === undefined ? {} : { pipeline: opts.pipeline };
  const [runs, files, deadLetters, reconciliation, alerts, notifications] = await Promise.all([
    store.listRuns({ ...filter, since: from, before: to, limit: 100_000 }),
    store.listDeliveredFiles(window),
    store.deadLetterCounts(window),
    store.reconcile(window),
    store.listAlerts({ ...filter, limit: 10_000 }),
    store.listNotifications({ ...filter, limit: 10_000 }),
  ]);
  const full = runs.filter((r) => r.mode === 'full').reverse();
  const finished = full.filter((r) => r.status !== 'running');
  const failedRuns = finished.filter((r) => !ok(r));

  const destinations = new Map<string, { batches: Set<string>; files: number; records: number; bytes: number }>();
  for (const f of files) {
    const d = destinations.get(f.destination) ?? { batches: new Set<string>(), files: 0, records: 0, bytes: 0 };
    if (f.batchId !== null) d.batches.add(f.batchId);
    d.files++;
    d.records += f.records;
    d.bytes += f.bytes;
    destinations.set(f.destination, d);
  }

  const byHour = new Map<string, number>();
  for (const r of finished) {
    if (!r.completedAt || !ok(r)) continue;
    const hour = `${new Date(wallAt(opts.timezone, r.completedAt.getTime())).toISOString().slice(11, 13)}:00`;
    byHour.set(hour, (byHour.get(hour) ?? 0) + r.succeeded);
  }
  const peak = [...byHour].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];

  const letters = new Map<string, { pipeline: string; open: number; retried: number; skipped: number }>();
  for (const c of deadLetters) {
    const row = letters.get(c.pipeline) ?? { pipeline: c.pipeline, open: 0, retried: 0, skipped: 0 };
    row[c.status === 'dead' ? 'open' : c.status] += c.count;
    letters.set(c.pipeline, row);
  }

  return {
    date: opts.date, timezone: opts.timezone, from: from.toISOString(), to: to.toISOString(), pipeline: opts.pipeline ?? null,
    totals: {
      runs: full.length, runs_succeeded: finished.length - failedRuns.length, runs_failed: failedRuns.length,
      success_rate: finished.length === 0 ? null : (finished.length - failedRuns.length) / finished.length,
      items_processed: sum(full.map((r) => r.processed)), items_succeeded: sum(full.map((r) => r.succeeded)), items_failed: sum(full.map((r) => r.failed)),
      files: files.length, bytes: sum(files.map((f) => f.bytes)),
    },
    destinations: [...destinations].sort((a, b) => a[0].localeCompare(b[0])).map(([destination, d]) => ({ destination, batches: d.batches.size, files: d.files, records: d.records, bytes: d.bytes })),
    issues: {
      failed_runs: await Promise.all(failedRuns.map(async (r) => ({
        run_id: r.id, pipeline: r.pipeline, status: r.status, code: r.report?.failure?.code ?? null, message: r.report?.failure?.message ?? null, resolution: await resolution(store, r),
      }))),
      dead_letters: [...letters.values()],
      alerts: alerts.filter((a) => inWindow(a.at)).reverse().map((a) => ({ at: a.at.toISOString(), pipeline: a.pipeline, kind: a.kind, message: a.message })),
      notifications: notifications.filter((n) => inWindow(n.at) && n.event !== 'success').reverse()
        .map((n) => ({ at: n.at.toISOString(), pipeline: n.pipeline, event: n.event, rule: n.rule, channel: n.channel, status: n.status })),
    },
    performance: {
      average_batch_seconds: mean(finished.filter((r) => r.batchId !== null).map(seconds).filter((s): s is number => s !== null)),
      average_run_seconds: mean(finished.map(seconds).filter((s): s is number => s !== null)),
      peak_hour: peak ? { hour: peak[0], items: peak[1] } : null,
    },
    reconciliation: reconciliation.map((r) => ({
      pipeline: r.pipeline, accepted: r.accepted, batched: r.batched, delivered: r.delivered, failed: r.failed,
      differences: [
        ...(r.accepted > r.batched ? [{ kind: 'not_batched' as const, records: r.accepted - r.batched, detail: `accepted but not yet batched (pending in the inbox)${r.oldestUndelivered ? `, oldest received ${r.oldestUndelivered.toISOString()}` : ''}` }] : []),
        ...(r.openBatches.length > 0 ? [{ kind: 'batched_not_delivered' as const, records: sum(r.openBatches.map((b) => b.records)), detail: `batched but not delivered: ${r.openBatches.map((b) => `${b.batchId} (${b.records}, cut ${b.cutAt.toISOString()})`).join(', ')}` }] : []),
        ...(r.failed > 0 ? [{ kind: 'failed' as const, records: r.failed, detail: `failed (dead letters open or skipped): records ${r.failedIds.join(', ')}${r.failed > r.failedIds.length ? ', …' : ''}` }] : []),
        ...(r.duplicates > 0 ? [{ kind: 'duplicates' as const, records: r.duplicates, detail: 'delivered with the same data as another record of the day' }] : []),
      ],
    })),
  };
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
