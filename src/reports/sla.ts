// Service-level objectives of a pipeline, judged by a pure function from store facts; the facts
// are gathered by slaFacts, and a breach is told through notify (de-duplicated there).
import type { Clock } from '../core/clock.js';
import type { NotifyConfig, SlaRule } from '../notify/config.js';
import { notify } from '../notify/dispatch.js';
import { formatDuration } from '../notify/rules.js';
import type { Finding } from '../notify/rules.js';
import type { InboxReconciliation, RunRecord, Store } from '../store/types.js';
import type { SlaConfig } from './config.js';

export interface SlaFacts {
  readonly now: Date;
  /** Inbox records of the whole window. */
  readonly window: InboxReconciliation | null;
  /** Inbox records of the window old enough to be due (arrived at least `freshness` ago). */
  readonly due: InboxReconciliation | null;
  /** Full runs of the window. */
  readonly runs: readonly Pick<RunRecord, 'status'>[];
}

export interface Objective {
  readonly name: 'freshness' | 'completeness' | 'accuracy' | 'availability';
  readonly target: number | boolean;
  readonly observed: number | null;
  /** null: nothing to judge in the window (no records, no finished runs). */
  readonly met: boolean | null;
  readonly summary: string;
}

export interface SlaStatus {
  readonly pipeline: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly objectives: readonly Objective[];
  /** False when any objective is breached. */
  readonly met: boolean;
}

const percent = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** Judges the objectives `config` declares against the facts of one pipeline. */
export function judgeSla(pipeline: string, config: SlaConfig, facts: SlaFacts): SlaStatus {
  const objectives: Objective[] = [];
  const w = facts.window;
  if (config.freshness !== undefined) {
    const waiting = w?.oldestUndelivered ? facts.now.getTime() - w.oldestUndelivered.getTime() : null;
    const worst = Math.max(w?.maxLatencyMs ?? -1, waiting ?? -1);
    const observed = worst < 0 ? null : worst;
    objectives.push({
      name: 'freshness', target: config.freshness, observed, met: observed === null ? null : observed <= config.freshness,
      summary: observed === null
        ? 'no records in the window'
        : `slowest record ${waiting !== null && waiting >= (w?.maxLatencyMs ?? 0) ? 'still undelivered after' : 'delivered after'} ${formatDuration(observed)} (objective ${formatDuration(config.freshness)})`,
    });
  }
  if (config.completeness) {
    const d = facts.due;
    const missing = d ? d.accepted - d.delivered : 0;
    objectives.push({
      name: 'completeness', target: true, observed: d ? d.delivered : null, met: d ? missing === 0 : null,
      summary: d ? `${d.delivered} of ${d.accepted} due records delivered (${d.failed} failed, ${d.accepted - d.batched} not batched)` : 'no records due in the window',
    });
  }
  if (config.accuracy !== undefined) {
    const duplicates = w?.duplicates ?? 0;
    objectives.push({
      name: 'accuracy', target: config.accuracy, observed: duplicates, met: w ? duplicates <= config.accuracy : null,
      summary: `${duplicates} duplicate record${duplicates === 1 ? '' : 's'} delivered (at most ${config.accuracy})`,
    });
  }
  if (config.availability !== undefined) {
    const finished = facts.runs.filter((r) => r.status !== 'running');
    const ok = finished.filter((r) => r.status === 'completed' || r.status === 'completed_with_errors').length;
    const rate = finished.length === 0 ? null : ok / finished.length;
    objectives.push({
      name: 'availability', target: config.availability, observed: rate, met: rate === null ? null : rate >= config.availability,
      summary: rate === null ? 'no finished runs in the window' : `${ok} of ${finished.length} runs succeeded: ${percent(rate)} (objective ${percent(config.availability)})`,
    });
  }
  return {
    pipeline,
    window: { from: new Date(facts.now.getTime() - config.window).toISOString(), to: facts.now.toISOString() },
    objectives, met: objectives.every((o) => o.met !== false),
  };
}

/** Reads what judgeSla needs for one pipeline from the store. */
export async function slaFacts(store: Store, pipeline: string, config: SlaConfig, now: Date): Promise<SlaFacts> {
  const from = new Date(now.getTime() - config.window);
  const [window, due, runs] = await Promise.all([
    store.reconcile({ pipeline, from, to: now }),
    store.reconcile({ pipeline, from, to: new Date(now.getTime() - (config.freshness ?? 0)) }),
    store.listRuns({ pipeline, since: from, before: now, limit: 100_000 }),
  ]);
  return { now, window: window[0] ?? null, due: due[0] ?? null, runs: runs.filter((r) => r.mode === 'full') };
}

export async function slaStatus(store: Store, pipeline: string, config: SlaConfig, now: Date): Promise<SlaStatus> {
  return judgeSla(pipeline, config, await slaFacts(store, pipeline, config, now));
}

/** The objectives as notify findings: a breach alerts, a met objective that was breached recovers. */
export function slaFindings(status: SlaStatus): Finding[] {
  return status.objectives.filter((o) => o.met !== null).map((o) => ({
    rule: `sla_${o.name}` as SlaRule, breached: o.met === false, summary: `SLA ${o.name}: ${o.summary}`,
    details: { objective: o.name, target: o.target, observed: o.observed, window: status.window },
  }));
}

/** At the end of a run: judges the pipeline's SLAs and tells notify of breaches and recoveries. */
export async function checkSla(pipeline: string, sla: SlaConfig | undefined, notifyConfig: NotifyConfig | undefined, runId: string, ctx: { readonly store: Store; readonly clock: Clock }): Promise<void> {
  if (sla === undefined || notifyConfig === undefined) return;
  const status = await slaStatus(ctx.store, pipeline, sla, ctx.clock.now());
  await notify(notifyConfig, { type: 'sla', pipeline, runId, findings: slaFindings(status) }, ctx);
}

/** The status for a terminal. */
export function renderSla(status: SlaStatus): string {
  const mark = (met: boolean | null) => (met === null ? '·' : met ? '✔' : '✖');
  return [
    `${status.pipeline}: SLA ${status.met ? 'met' : 'BREACHED'} (${status.window.from} → ${status.window.to})`,
    ...status.objectives.map((o) => `  ${mark(o.met)} ${o.name.padEnd(12)} ${o.summary}`),
    ...(status.objectives.length === 0 ? ['  no objectives declared (sla: in the pipeline config)'] : []),
  ].join('\n');
}
