// `notify:` — who hears about a pipeline's runs, and which rules count as worth an alert.
// Declared here, next to the channels; plugged into the root schema in config/pipeline.ts.
import { z } from 'zod';
import { duration, secret } from '../config/units.js';

export const emailChannel = z.object({
  type: z.literal('email'),
  to: z.union([z.string().min(3), z.array(z.string().min(3)).min(1)]).describe('Recipient address, or a list of them.'),
  from: z.string().min(3).optional().describe('Sender address. Default: lading@<host name>.'),
  smtp: z.object({
    host: z.string().min(1).describe('SMTP server host name.'),
    port: z.number().int().min(1).max(65535).default(587).describe('SMTP port: 587 (STARTTLS) or 465 (TLS from the start, with secure: true).'),
    secure: z.boolean().default(false).describe('TLS from the first byte (port 465). With false, STARTTLS is used when the server offers it.'),
    username: z.string().min(1).optional().describe('SMTP login; leave out for a relay that takes mail without one.'),
    password: secret().optional().describe('SMTP password; write ${env:NAME}.'),
  }).strict().refine((s) => (s.username === undefined) === (s.password === undefined), 'username and password go together')
    .describe('The mail server that sends the alerts.'),
}).strict().meta({ id: 'notify.email' });

const slackChannel = z.object({
  type: z.literal('slack'),
  webhook_url: secret().min(1).describe('Slack incoming webhook URL (it is the credential); write ${env:NAME}.'),
}).strict().meta({ id: 'notify.slack' });

const webhookChannel = z.object({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/ }).describe('Receives a JSON POST per notification; see docs/notifications.md for the body and the signature.'),
  secret: secret().min(16).describe('Key of the HMAC-SHA256 signature in X-Lading-Signature (at least 16 characters); write ${env:NAME}.'),
}).strict().meta({ id: 'notify.webhook' });

const pagerdutyChannel = z.object({
  type: z.literal('pagerduty'),
  routing_key: secret().min(1).describe('Events API v2 integration (routing) key; write ${env:NAME}.'),
  after_consecutive_failures: z.number().int().min(1).default(1).describe('Page only once a rule has been breached this many runs in a row; the incident resolves when the rule clears.'),
  url: z.url({ protocol: /^https?$/ }).default('https://events.pagerduty.com/v2/enqueue').describe('Events API endpoint; change it only for a proxy or a test server.'),
}).strict().meta({ id: 'notify.pagerduty' });

export const channelConfig = z.discriminatedUnion('type', [emailChannel, slackChannel, webhookChannel, pagerdutyChannel]);

/** The channels as the config reference lists them. */
export const channelDocs = [
  { type: 'email', summary: 'Plain-text mail over SMTP (nodemailer).', schema: emailChannel },
  { type: 'slack', summary: 'A Slack incoming webhook: `{"text": …}`.', schema: slackChannel },
  { type: 'webhook', summary: 'A signed JSON POST: `X-Lading-Signature: sha256=<hex HMAC-SHA256 of "<X-Lading-Timestamp>.<raw body>">` (docs/notifications.md).', schema: webhookChannel },
  { type: 'pagerduty', summary: 'PagerDuty Events API v2: trigger after N breaches in a row, resolve on recovery.', schema: pagerdutyChannel },
] as const;
export type ChannelConfig = z.output<typeof channelConfig>;

const channels = (what: string) => z.array(channelConfig).optional().describe(what);

export const notifyConfig = z.object({
  on_failure: channels('Told when a run fails (rule batch_failed) and, unless on_alert is given, of every other rule breach.'),
  on_success: channels('Told of every full run that completes (with or without item errors); never rate-limited.'),
  on_alert: channels('Told of rule breaches other than batch_failed (failure_rate, slow_run, deliveries_suspended, low_volume, delivery_breaker, ack_timeout, queue_backup). Default: the on_failure channels.'),
  rules: z.object({
    batch_failed: z.boolean().default(true).describe('Alert when a full run fails or times out.'),
    deliveries_suspended: z.boolean().default(true).describe('Alert when a failure that needs an operator (credentials, permissions, host key) suspends deliveries.'),
    delivery_breaker: z.boolean().default(true).describe('Alert when the destination circuit breaker opens (alert breaker_opened); its closing (breaker_closed) is the recovery.'),
    ack_timeout: z.boolean().default(true).describe('Alert when a delivered file is not acknowledged by the partner within delivery.acknowledgment.timeout (alert ack_timeout).'),
    failure_rate: z.object({
      above: z.number().min(0).max(1).describe('Fraction of processed items that failed, e.g. 0.05.'),
    }).strict().optional().describe('Alert when a completed run failed more than this fraction of its items.'),
    slow_run: z.object({
      over: duration().describe('Longest acceptable run, e.g. 30m.'),
    }).strict().optional().describe('Alert when a run takes longer than this.'),
    low_volume: z.object({
      below_fraction_of_usual: z.number().gt(0).max(1).describe('Alert below this fraction of the usual count, e.g. 0.5.'),
      lookback_runs: z.number().int().min(1).max(100).default(7).describe('The usual count is the median of this many previous completed full runs (at least 3 of them, or lookback_runs when smaller).'),
    }).strict().optional().describe('Alert when a completed run processed far fewer records than usual: data missing upstream?'),
    queue_backup: z.object({
      over: z.number().int().min(1).describe('Alert when more than this many records are pending in the inbox.'),
      cut: z.boolean().default(true).describe('Also cut a batch now (flush_reason backup), unless a hold rule is active or deliveries are suspended.'),
    }).strict().optional().describe('Judged by the batch scheduler at each tick (lading serve, lading triggers): alert when the inbox backs up, and cut a batch now; the recovery follows when the pending count is back at or below over.'),
  }).strict().prefault({}).describe('Which conditions are alerts. Each breach is told once per min_interval per channel; a recovery message follows when the rule clears.'),
  min_interval: duration().default(900_000).describe('The same rule is not told again on the same channel within this interval (shared by every process using the store). Default 15m.'),
  timeout: duration().default(10_000).describe('Longest a channel may take to accept one message; a channel that fails is recorded and never fails the run. Default 10s.'),
}).strict().meta({ id: 'notify' });

export type NotifyConfig = z.output<typeof notifyConfig>;
export type RuleName = 'batch_failed' | 'deliveries_suspended' | 'failure_rate' | 'slow_run' | 'low_volume' | 'delivery_breaker' | 'ack_timeout' | 'queue_backup' | SlaRule;
/** One rule per service-level objective (src/reports/sla.ts), so each breach and recovery is told on its own. */
export type SlaRule = 'sla_freshness' | 'sla_completeness' | 'sla_accuracy' | 'sla_availability';
