import type { Clock } from '../core/clock.js';
import type { RuleName } from './config.js';

/** One message for the channels: an alert (a rule breached), its recovery, or a run that succeeded. */
export interface Notification {
  readonly event: 'alert' | 'recovery' | 'success';
  readonly rule: RuleName | null;
  readonly pipeline: string;
  readonly runId: string | null;
  readonly subject: string;
  readonly text: string;
  readonly at: Date;
  /** Breaches of the rule in a row, this one included (alerts); PagerDuty waits for several. */
  readonly consecutive: number;
  /** Stable per pipeline and rule, so a recovery resolves what its alert opened (PagerDuty dedup_key). */
  readonly dedupKey: string;
  /** JSON facts for machine receivers: observed value, threshold, run summary. */
  readonly details: Readonly<Record<string, unknown>>;
  /** An HTML body (the daily report); email sends it with `text` as the plain alternative, other channels send `text`. */
  readonly html?: string;
}

export interface Channel {
  readonly type: 'email' | 'slack' | 'webhook' | 'pagerduty';
  /** Where messages go, without credentials: shown by `lading alerts`, part of the rate-limit key. */
  readonly target: string;
  /** Whether this channel tells this notification at all. */
  wants(notification: Notification): boolean;
  /** Resolves once the channel accepted the message; rejects with a classified LadingError (NOTIFY_*). */
  send(notification: Notification, signal: AbortSignal): Promise<void>;
}

export interface ChannelContext {
  readonly clock: Clock;
  /** Position in its list, naming channels whose only address is a credential (Slack, PagerDuty). */
  readonly index: number;
}

/** The host of a credential URL, which alone may be shown. */
export const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
};
