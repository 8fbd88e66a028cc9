// The alert rules, judged from a finished run's report: pure, so the thresholds are easy to test.
import type { RunReport } from '../core/report.js';
import type { InboxStats } from '../store/types.js';
import type { NotifyConfig, RuleName } from './config.js';

/** One rule's verdict on a run: breached (with what was seen) or clear. */
export interface Finding {
  readonly rule: RuleName;
  readonly breached: boolean;
  /** One line for the subject: what was seen against what was allowed. */
  readonly summary: string;
  readonly details: Readonly<Record<string, unknown>>;
}

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60 ? ` ${s % 60}s` : ''}` : `${Math.floor(m / 60)}h${m % 60 ? ` ${m % 60}m` : ''}`;
}

/** The middle value: the "usual" record count of previous runs, robust to one odd run. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The verdicts a finished full run gives. A failed or timed-out run breaches batch_failed and
 * leaves the other rules as they were (its counts say nothing about the usual); a completed run
 * clears batch_failed and deliveries_suspended (it delivered) and judges the rest. A cancelled
 * run judges nothing. `previous` are the processed counts of earlier completed runs, newest first.
 */
export function judgeRun(report: RunReport, rules: NotifyConfig['rules'], previous: readonly number[]): Finding[] {
  const { summary } = report;
  if (report.status === 'cancelled' || report.status === 'running') return [];
  const findings: Finding[] = [];
  const failed = report.status === 'failed' || report.status === 'timed_out';
  if (rules.batch_failed) {
    const why = report.failure ? `${report.failure.code}: ${report.failure.message}` : `${summary.failed} of ${summary.processed} items failed`;
    findings.push({ rule: 'batch_failed', breached: failed, summary: failed ? `run ${report.job_id} ${report.status} - ${why}` : `run ${report.job_id} ${report.status}`, details: { status: report.status, ...(report.failure ? { failure: report.failure } : {}) } });
  }
  if (failed) return findings;
  if (rules.deliveries_suspended) findings.push({ rule: 'deliveries_suspended', breached: false, summary: `run ${report.job_id} delivered again`, details: {} });
  if (rules.failure_rate) {
    const rate = summary.processed === 0 ? 0 : summary.failed / summary.processed;
    findings.push({
      rule: 'failure_rate', breached: rate > rules.failure_rate.above,
      summary: `${percent(rate)} of items failed (${summary.failed} of ${summary.processed}; alert above ${percent(rules.failure_rate.above)})`,
      details: { failure_rate: rate, above: rules.failure_rate.above, error_categories: report.error_categories },
    });
  }
  if (rules.slow_run) {
    const ms = summary.duration_seconds * 1000;
    findings.push({
      rule: 'slow_run', breached: ms > rules.slow_run.over,
      summary: `run took ${formatDuration(ms)} (alert over ${formatDuration(rules.slow_run.over)})`,
      details: { duration_ms: ms, over_ms: rules.slow_run.over },
    });
  }
  const low = rules.low_volume;
  const history = low ? previous.slice(0, low.lookback_runs) : [];
  if (low && history.length >= Math.min(3, low.lookback_runs)) {
    const usual = median(history);
    findings.push({
      rule: 'low_volume', breached: summary.processed < usual * low.below_fraction_of_usual,
      summary: `${summary.processed} records, usually ${usual} (alert below ${percent(low.below_fraction_of_usual)} of usual): data missing upstream?`,
      details: { records: summary.processed, usual, below_fraction_of_usual: low.below_fraction_of_usual, runs_compared: history.length },
    });
  }
  return findings;
}

/** The queue_backup verdict on an inbox as the scheduler sees it at a tick; undefined when the rule is off. */
export function judgeQueue(stats: InboxStats, rules: NotifyConfig['rules'], now: Date): Finding | undefined {
  const rule = rules.queue_backup;
  if (!rule) return undefined;
  const breached = stats.pending > rule.over;
  const age = stats.oldest ? `, oldest waiting ${formatDuration(now.getTime() - stats.oldest.getTime())}` : '';
  return {
    rule: 'queue_backup', breached,
    summary: breached
      ? `${stats.pending} records pending in the inbox (alert over ${rule.over})${age}${rule.cut ? ': cutting a batch now' : ''}`
      : `${stats.pending} records pending in the inbox (at or below ${rule.over})`,
    details: { pending: stats.pending, over: rule.over, cut: rule.cut, oldest_pending_at: stats.oldest?.toISOString() ?? null },
  };
}
