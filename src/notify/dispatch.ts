// Decides who hears about what, de-duplicates through the store, sends, and records every attempt.
// A channel that fails is recorded with its classified error; it never fails the run.
import type { Clock } from '../core/clock.js';
import type { RunReport } from '../core/report.js';
import { codes, isErrorCode } from '../errors/codes.js';
import { classify } from '../errors/classify.js';
import type { LadingError } from '../errors/lading-error.js';
import type { Alert, NotificationRecord, Store } from '../store/types.js';
import type { ChannelConfig, NotifyConfig, RuleName } from './config.js';
import type { Channel, Notification } from './channel.js';
import { emailChannel } from './email.js';
import { pagerdutyChannel } from './pagerduty.js';
import { judgeRun, type Finding } from './rules.js';
import { slackChannel } from './slack.js';
import { webhookChannel } from './webhook.js';

export type NotifyEvent =
  | { readonly type: 'run_finished'; readonly report: RunReport }
  | { readonly type: 'deliveries_suspended'; readonly pipeline: string; readonly runId: string; readonly error: LadingError }
  /** Verdicts judged outside a run: service-level objectives (src/reports/sla.ts), the inbox at a scheduler tick (queue_backup). */
  | { readonly type: 'sla' | 'queue'; readonly pipeline: string; readonly runId: string | null; readonly findings: readonly Finding[] }
  /** An alert the delivery code recorded: breaker_opened / breaker_closed (its recovery), ack_timeout. */
  | { readonly type: 'alert'; readonly alert: Alert };

export interface NotifyContext {
  readonly store: Store;
  readonly clock: Clock;
}

function channel(config: ChannelConfig, index: number, clock: Clock, timeoutMs: number): Channel {
  switch (config.type) {
    case 'email': return emailChannel(config, { clock, index, timeoutMs });
    case 'slack': return slackChannel(config, { clock, index });
    case 'webhook': return webhookChannel(config, { clock, index });
    case 'pagerduty': return pagerdutyChannel(config, { clock, index });
  }
}

/** Channels of a rule: batch_failed → on_failure; the others → on_alert, or on_failure when on_alert is not given. */
const listFor = (config: NotifyConfig, rule: RuleName | null): readonly ChannelConfig[] =>
  (rule === null ? config.on_success : rule === 'batch_failed' ? config.on_failure : config.on_alert ?? config.on_failure) ?? [];

/** Tells the channels of `config` about `event`; does nothing without a notify section. */
export async function notify(config: NotifyConfig | undefined, event: NotifyEvent, ctx: NotifyContext): Promise<void> {
  if (config === undefined) return;
  await new Dispatcher(config, ctx).dispatch(event);
}

/** Records an alert and tells the on_alert channels of `config` about it. */
export async function raiseAlert(config: NotifyConfig | undefined, alert: Alert, ctx: NotifyContext): Promise<void> {
  await ctx.store.recordAlert(alert);
  await notify(config, { type: 'alert', alert }, ctx);
}

/** The rule an alert kind breaches (or, for a recovery, clears); kinds other code tells about map to none. */
const alertRules: Partial<Record<Alert['kind'], { readonly rule: 'delivery_breaker' | 'ack_timeout'; readonly breached: boolean }>> = {
  breaker_opened: { rule: 'delivery_breaker', breached: true },
  breaker_closed: { rule: 'delivery_breaker', breached: false },
  ack_timeout: { rule: 'ack_timeout', breached: true },
};

class Dispatcher {
  constructor(private readonly config: NotifyConfig, private readonly ctx: NotifyContext) {}

  async dispatch(event: NotifyEvent): Promise<void> {
    if (event.type === 'deliveries_suspended') {
      if (!this.config.rules.deliveries_suspended) return;
      const { error } = event;
      await this.breach(event.pipeline, event.runId, {
        rule: 'deliveries_suspended', breached: true, summary: `deliveries suspended - ${error.code}: ${error.message}`,
        details: { code: error.code, message: error.message, fix: codes[error.code].fix },
      }, [`fix: ${codes[error.code].fix}`]);
      return;
    }
    if ('findings' in event) {
      for (const finding of event.findings) {
        if (finding.breached) await this.breach(event.pipeline, event.runId, finding, []);
        else await this.clear(event.pipeline, event.runId, finding, []);
      }
      return;
    }
    if (event.type === 'alert') {
      const { alert } = event;
      const rule = alertRules[alert.kind];
      if (rule === undefined || !this.config.rules[rule.rule]) return;
      const finding = { ...rule, summary: alert.message, details: { kind: alert.kind, code: alert.code, at: alert.at.toISOString() } };
      const facts = [`alert: ${alert.kind}${alert.code ? ` (${alert.code})` : ''} at ${alert.at.toISOString()}`, ...(alert.code !== null && isErrorCode(alert.code) ? [`fix: ${codes[alert.code].fix}`] : [])];
      if (rule.breached) await this.breach(alert.pipeline, alert.runId, finding, facts, 'times');
      else await this.clear(alert.pipeline, alert.runId, finding, facts, 'time');
      return;
    }
    const { report } = event;
    if (report.mode !== 'full') return;
    const findings = judgeRun(report, this.config.rules, await this.previousCounts(report));
    const facts = runFacts(report);
    for (const finding of findings) {
      if (finding.breached) await this.breach(report.pipeline, report.job_id, finding, facts);
      else await this.clear(report.pipeline, report.job_id, finding, facts);
    }
    if (report.status === 'completed' || report.status === 'completed_with_errors') {
      const n = this.notification(report.pipeline, report.job_id, 'success', null, `run ${report.job_id} ${report.status}: ${report.summary.succeeded} of ${report.summary.processed} items delivered`, facts, 0, { summary: report.summary });
      await Promise.all(this.channels(null).filter((c) => c.wants(n)).map((c) => this.send(c, n)));
    }
  }

  /** Processed counts of earlier completed full runs, newest first: the baseline of low_volume. */
  private async previousCounts(report: RunReport): Promise<number[]> {
    const low = this.config.rules.low_volume;
    if (!low) return [];
    const runs = await this.ctx.store.listRuns({ pipeline: report.pipeline, limit: 100 });
    return runs
      .filter((r) => r.id !== report.job_id && r.mode === 'full' && (r.status === 'completed' || r.status === 'completed_with_errors'))
      .slice(0, low.lookback_runs)
      .map((r) => r.processed);
  }

  private async breach(pipeline: string, runId: string | null, finding: Finding, facts: readonly string[], counted: 'runs' | 'times' = 'runs'): Promise<void> {
    const at = this.ctx.clock.now();
    const state = await this.ctx.store.breachRule(pipeline, finding.rule, at);
    const inARow = state.consecutive > 1 ? [`breached ${state.consecutive} ${counted} in a row, since ${state.breachedAt?.toISOString()}`] : [];
    const n = this.notification(pipeline, runId, 'alert', finding.rule, finding.summary, [...facts, ...inARow], state.consecutive, finding.details);
    await Promise.all(this.channels(finding.rule).filter((c) => c.wants(n)).map(async (c) => {
      if (await this.ctx.store.claimAlert({ pipeline, rule: finding.rule, channel: key(c) }, at, this.config.min_interval)) await this.send(c, n);
      else await this.record(c, n, 'suppressed', null, `${n.subject} (already told within min_interval)`);
    }));
  }

  private async clear(pipeline: string, runId: string | null, finding: Finding, facts: readonly string[], counted: 'run' | 'time' = 'run'): Promise<void> {
    const was = await this.ctx.store.clearRule(pipeline, finding.rule);
    if (was === null) return;
    const since = `breached since ${was.breachedAt?.toISOString()} (${was.consecutive} ${counted}${was.consecutive === 1 ? '' : 's'})`;
    const n = this.notification(pipeline, runId, 'recovery', finding.rule, `recovered: ${finding.rule} cleared - ${finding.summary}`, [...facts, since], 0, finding.details);
    await Promise.all(this.channels(finding.rule).filter((c) => c.wants(n)).map(async (c) => {
      if (await this.ctx.store.claimRecovery({ pipeline, rule: finding.rule, channel: key(c) })) await this.send(c, n);
    }));
  }

  private notification(pipeline: string, runId: string | null, event: Notification['event'], rule: RuleName | null, summary: string, facts: readonly string[], consecutive: number, details: Readonly<Record<string, unknown>>): Notification {
    const subject = `[lading] ${pipeline}: ${summary}`;
    const text = [summary, '', `pipeline: ${pipeline}`, ...facts, '', `lading alerts --pipeline ${pipeline}${runId ? `, lading runs show ${runId}` : ''}`].join('\n');
    return { event, rule, pipeline, runId, subject, text, at: this.ctx.clock.now(), consecutive, dedupKey: `lading/${pipeline}/${rule ?? 'run'}`, details };
  }

  private channels(rule: RuleName | null): Channel[] {
    return listFor(this.config, rule).map((c, i) => channel(c, i, this.ctx.clock, this.config.timeout));
  }

  private async send(c: Channel, n: Notification): Promise<void> {
    try {
      await c.send(n, AbortSignal.timeout(this.config.timeout));
      await this.record(c, n, 'sent', null, n.subject);
    } catch (error) {
      const e = classify(error, { ioCode: 'NOTIFY_UNAVAILABLE', doing: `${c.type} to ${c.target}`, notify: 'http' });
      await this.record(c, n, 'failed', e.code, e.message);
    }
  }

  private record(c: Channel, n: Notification, status: NotificationRecord['status'], code: string | null, message: string): Promise<void> {
    return this.ctx.store.recordNotification({ pipeline: n.pipeline, runId: n.runId, event: n.event, rule: n.rule, channel: c.type, target: c.target, status, code, message, at: this.ctx.clock.now() });
  }
}

const key = (c: Channel): string => `${c.type}:${c.target}`;

/** The run in a few lines, for the message body. */
function runFacts(report: RunReport): string[] {
  const s = report.summary;
  return [
    `run: ${report.job_id} (${report.status}${report.batch_id ? `, batch ${report.batch_id}` : ''})`,
    `items: ${s.processed} processed, ${s.succeeded} succeeded, ${s.failed} failed, in ${s.duration_seconds}s`,
    ...(report.failure ? [`failure: ${report.failure.code}: ${report.failure.message}`] : []),
    ...Object.entries(report.error_categories).map(([type, count]) => `  ${type}: ${count}`),
  ];
}
