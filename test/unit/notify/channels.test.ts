// Notification channels end to end: a pipeline run tells real servers on loopback — an SMTP
// server (smtp-server) for email, node:http servers for Slack, the signed webhook and PagerDuty.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { manualClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline } from '../../../src/engine/run.js';
import { verifyWebhookSignature } from '../../../src/index.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { Store } from '../../../src/store/types.js';
import { sequence, startRecordingServer } from '../../support/servers/http.js';
import { startSmtpServer } from '../../support/servers/smtp.js';
import { tempDir } from '../../support/tmp.js';

const bad = [{ id: 1 }, { id: 2 }];
const good = [{ id: 1, email: 'ann@example.com' }, { id: 2, email: 'bob@example.com' }];

/** A pipeline named `leads` whose runs fail (items without email) or complete, as the test says. */
async function harness(notify: Record<string, unknown>, env: Record<string, string> = {}) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const clock = manualClock('2026-03-02T10:00:00Z');
  const ids = sequentialIds();
  const run = (items: readonly Record<string, unknown>[]) => {
    const parsed = parsePipeline({
      name: 'leads', source: { type: 'inline', items }, validate: { required: ['email'] },
      output: { type: 'file', format: 'csv', naming: '{batch_id}.{ext}', destination: { type: 'local', path: 'out' } },
      notify,
    }, { env });
    return runPipeline({ ...parsed, baseDir: dir, origin: '<test>' }, { store, dataDir: join(dir, '.lading'), clock, ids });
  };
  return { store, clock, run };
}

async function server(script?: Parameters<typeof startRecordingServer>[0]) {
  const s = await startRecordingServer(script);
  after(() => s.stop());
  return s;
}

const notificationsOf = async (store: Store) => (await store.listNotifications({ limit: 1000 })).reverse();

test('a failed run is mailed through a real SMTP server, logged in with the password from ${env:…}', async () => {
  const smtp = await startSmtpServer({ users: { alerts: 'smtp-pass-4711' } });
  after(() => smtp.stop());
  const { store, run } = await harness({
    on_failure: [{ type: 'email', to: ['ops@example.com', 'oncall@example.com'], from: 'lading@example.com', smtp: { host: smtp.host, port: smtp.port, username: 'alerts', password: '${env:SMTP_PASSWORD}' } }],
  }, { SMTP_PASSWORD: 'smtp-pass-4711' });

  const report = await run(bad);

  assert.equal(report.status, 'failed');
  assert.deepEqual(smtp.logins, ['alerts:smtp-pass-4711']);
  assert.equal(smtp.mails.length, 1);
  const [mail] = smtp.mails;
  assert.equal(mail?.from, 'lading@example.com');
  assert.deepEqual(mail?.to, ['ops@example.com', 'oncall@example.com']);
  assert.equal(mail?.subject, `[lading] leads: run ${report.job_id} failed - 2 of 2 items failed`);
  assert.match(mail!.text, /^pipeline: leads$/m);
  assert.match(mail!.text, /^items: 2 processed, 0 succeeded, 2 failed/m);
  assert.match(mail!.text, /ValidationError: 2/);
  const recorded = await notificationsOf(store);
  assert.deepEqual(recorded.map((n) => [n.event, n.rule, n.channel, n.target, n.status]), [['alert', 'batch_failed', 'email', 'ops@example.com, oncall@example.com', 'sent']]);
  assert.doesNotMatch(JSON.stringify(recorded), /smtp-pass-4711/);
});

test('SMTP down: the run still completes; the failure is recorded with its classified code', async () => {
  const gone = await startSmtpServer();
  await gone.stop(); // a port nothing listens on any more: connection refused
  const { store, run } = await harness({ on_success: [{ type: 'email', to: 'ops@example.com', smtp: { host: gone.host, port: gone.port } }] });

  const report = await run(good);

  assert.equal(report.status, 'completed');
  const [n] = await notificationsOf(store);
  assert.deepEqual([n?.event, n?.status, n?.code], ['success', 'failed', 'NOTIFY_UNAVAILABLE']);
  assert.match(n!.message, new RegExp(`sending mail to ops@example.com via ${gone.host}:${gone.port}`));
});

test('SMTP refusals are classified: a wrong password as NOTIFY_AUTH_FAILED (never shown), a refused recipient as NOTIFY_REJECTED', async () => {
  const smtp = await startSmtpServer({ users: { alerts: 'right-password' } });
  after(() => smtp.stop());
  const strict = await startSmtpServer({ refuseRecipients: true });
  after(() => strict.stop());
  const { store, run } = await harness({
    on_failure: [
      { type: 'email', to: 'ops@example.com', smtp: { host: smtp.host, port: smtp.port, username: 'alerts', password: '${env:WRONG_PASSWORD}' } },
      { type: 'email', to: 'nobody@example.com', smtp: { host: strict.host, port: strict.port } },
    ],
  }, { WRONG_PASSWORD: 'wrong-password-99' });

  await run(bad);

  const byTarget = Object.fromEntries((await notificationsOf(store)).map((n) => [n.target, n]));
  assert.equal(byTarget['ops@example.com']?.code, 'NOTIFY_AUTH_FAILED');
  assert.doesNotMatch(byTarget['ops@example.com']!.message, /wrong-password-99/);
  assert.equal(byTarget['nobody@example.com']?.code, 'NOTIFY_REJECTED');
  assert.equal(smtp.mails.length + strict.mails.length, 0);
});

test('Slack gets {text}; the webhook gets a JSON body whose signature verifies, and a tampered body does not', async () => {
  const slack = await server();
  const hook = await server();
  const secret = 'whsec-0123456789abcdef';
  const { clock, run } = await harness({
    on_failure: [{ type: 'slack', webhook_url: '${env:SLACK_WEBHOOK}' }, { type: 'webhook', url: `${hook.url}/lading`, secret: '${env:HOOK_SECRET}' }],
  }, { SLACK_WEBHOOK: `${slack.url}/services/T000/B000/xyz`, HOOK_SECRET: secret });

  const report = await run(bad);

  assert.equal(slack.requests.length, 1);
  assert.equal(slack.requests[0]?.path, '/services/T000/B000/xyz');
  const text = (slack.requests[0]?.body as { text: string }).text;
  assert.match(text, new RegExp(`^\\*\\[lading\\] leads: run ${report.job_id} failed`));

  assert.equal(hook.requests.length, 1);
  const request = hook.requests[0]!;
  assert.equal(request.path, '/lading');
  assert.equal(request.headers['x-lading-event'], 'alert');
  const timestamp = request.headers['x-lading-timestamp'] as string;
  const signature = request.headers['x-lading-signature'] as string;
  assert.equal(timestamp, String(clock.now().getTime() / 1000));
  // The documented scheme, computed independently: sha256=hex(HMAC-SHA256(secret, "<timestamp>.<raw body>")).
  assert.equal(signature, `sha256=${createHmac('sha256', secret).update(`${timestamp}.${request.text}`).digest('hex')}`);
  assert.equal(verifyWebhookSignature(secret, { timestamp, signature, body: request.text }, clock.now()), true);
  assert.equal(verifyWebhookSignature(secret, { timestamp, signature, body: request.text.replace('"leads"', '"other"') }, clock.now()), false, 'tampered body');
  assert.equal(verifyWebhookSignature(secret, { timestamp: String(Number(timestamp) - 1), signature, body: request.text }, clock.now()), false, 'replayed with another timestamp');
  assert.equal(verifyWebhookSignature(secret, { timestamp, signature, body: request.text }, new Date(clock.now().getTime() + 600_000)), false, 'too old');
  assert.deepEqual(request.body, {
    event: 'alert', rule: 'batch_failed', pipeline: 'leads', run_id: report.job_id, at: clock.now().toISOString(),
    subject: `[lading] leads: run ${report.job_id} failed - 2 of 2 items failed`, text: (request.body as { text: string }).text,
    consecutive: 1, dedup_key: 'lading/leads/batch_failed', details: { status: 'failed' },
  });
});

test('an HTTP channel answering 500 is recorded as NOTIFY_UNAVAILABLE without its webhook URL', async () => {
  const slack = await server(() => ({ status: 500, body: 'no_service' }));
  const { store, run } = await harness({ on_failure: [{ type: 'slack', webhook_url: '${env:SLACK_WEBHOOK}' }] }, { SLACK_WEBHOOK: `${slack.url}/services/T/B/secret-token-xyz` });

  const report = await run(bad);

  assert.equal(report.status, 'failed');
  const [n] = await notificationsOf(store);
  assert.deepEqual([n?.status, n?.code], ['failed', 'NOTIFY_UNAVAILABLE']);
  assert.match(n!.message, /HTTP 500/);
  assert.doesNotMatch(n!.message, /secret-token-xyz/);
});

test('PagerDuty triggers after N failures in a row and resolves, with the same dedup_key, when a run succeeds', async () => {
  const pd = await server(sequence({ status: 202, body: { status: 'success' } }));
  const { clock, run } = await harness({ on_failure: [{ type: 'pagerduty', routing_key: '${env:PD_KEY}', after_consecutive_failures: 3, url: `${pd.url}/v2/enqueue` }] }, { PD_KEY: 'pd-routing-key-1' });

  await run(bad);
  await clock.advance(60_000);
  await run(bad);
  assert.equal(pd.requests.length, 0, 'two failures in a row: not yet');
  await clock.advance(60_000);
  const third = await run(bad);
  await clock.advance(60_000);
  await run(good);

  const bodies = pd.requests.map((r) => r.body as Record<string, unknown>);
  assert.deepEqual(bodies.map((b) => [b.event_action, b.dedup_key, b.routing_key]), [
    ['trigger', 'lading/leads/batch_failed', 'pd-routing-key-1'],
    ['resolve', 'lading/leads/batch_failed', 'pd-routing-key-1'],
  ]);
  const payload = bodies[0]?.payload as Record<string, unknown>;
  assert.equal(payload.summary, `[lading] leads: run ${third.job_id} failed - 2 of 2 items failed`);
  assert.deepEqual([payload.source, payload.severity, payload.component, payload.class], ['lading:leads', 'error', 'leads', 'batch_failed']);
});

