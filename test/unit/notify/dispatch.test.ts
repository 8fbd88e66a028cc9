// Who hears what, and how often: de-duplication per rule and channel over min_interval (kept in
// the store, so separate processes agree), recovery messages, success notifications, the rules.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { manualClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import type { RunReport } from '../../../src/core/report.js';
import { runPipeline } from '../../../src/engine/run.js';
import { ladingError } from '../../../src/errors/lading-error.js';
import { notifyConfig } from '../../../src/notify/config.js';
import { notify } from '../../../src/notify/dispatch.js';
import { judgeRun } from '../../../src/notify/rules.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { tempDir } from '../../support/tmp.js';

const bad = [{ id: 1 }, { id: 2 }];
const good = [{ id: 1, email: 'ann@example.com' }, { id: 2, email: 'bob@example.com' }];
const minute = 60_000;

async function harness(notify: Record<string, unknown>, shared?: { path: string; process: string }) {
  const dir = tempDir();
  const path = shared?.path ?? join(dir, 'lading.db');
  const clock = manualClock('2026-03-02T10:00:00Z');
  const counter = sequentialIds();
  const ids = { next: (prefix: string) => `${counter.next(prefix)}${shared ? `_${shared.process}` : ''}` };
  const run = async (items: readonly Record<string, unknown>[], name = 'leads') => {
    // A store per run, as separate CLI processes would open it.
    const store = await openSqliteStore(path);
    try {
      const parsed = parsePipeline({
        name, source: { type: 'inline', items }, validate: { required: ['email'] },
        output: { type: 'file', format: 'csv', naming: '{batch_id}.{ext}', destination: { type: 'local', path: 'out' } },
        execution: { success_threshold: 0.5 }, notify,
      }, { env: { HOOK_SECRET: 's'.repeat(16), PD_KEY: 'k' } });
      return await runPipeline({ ...parsed, baseDir: dir, origin: '<test>' }, { store, dataDir: join(dir, '.lading'), clock, ids });
    } finally {
      await store.close();
    }
  };
  const notifications = async () => {
    const store = await openSqliteStore(path);
    try {
      return (await store.listNotifications({ limit: 1000 })).reverse();
    } finally {
      await store.close();
    }
  };
  return { clock, run, notifications, path };
}

async function hook() {
  const s = await startRecordingServer();
  after(() => s.stop());
  const events = () => s.requests.map((r) => { const b = r.body as { event: string; rule: string | null; pipeline: string }; return `${b.pipeline} ${b.event} ${b.rule ?? ''}`.trim(); });
  return { url: `${s.url}/hook`, events };
}

test('two failures within min_interval send one message; a failure after it sends another; the recovery follows once', async () => {
  const h = await hook();
  const { clock, run, notifications } = await harness({ on_failure: [{ type: 'webhook', url: h.url, secret: '${env:HOOK_SECRET}' }], min_interval: '15m' });

  await run(bad);
  await clock.advance(5 * minute);
  await run(bad);
  assert.deepEqual(h.events(), ['leads alert batch_failed'], 'the second failure within 15m is held back');

  await clock.advance(15 * minute);
  await run(bad);
  assert.deepEqual(h.events(), ['leads alert batch_failed', 'leads alert batch_failed']);

  await clock.advance(minute);
  await run(good);
  await run(good);
  assert.deepEqual(h.events(), ['leads alert batch_failed', 'leads alert batch_failed', 'leads recovery batch_failed'], 'one recovery, not one per good run');
  assert.deepEqual((await notifications()).map((n) => `${n.event} ${n.status}`), ['alert sent', 'alert suppressed', 'alert sent', 'recovery sent']);
});

test('rate limits are per pipeline and per channel', async () => {
  const a = await hook();
  const b = await hook();
  const { run } = await harness({ on_failure: [{ type: 'webhook', url: a.url, secret: '${env:HOOK_SECRET}' }, { type: 'webhook', url: b.url, secret: '${env:HOOK_SECRET}' }] });

  await run(bad, 'leads');
  await run(bad, 'orders');
  await run(bad, 'leads');

  assert.deepEqual(a.events(), ['leads alert batch_failed', 'orders alert batch_failed']);
  assert.deepEqual(b.events(), ['leads alert batch_failed', 'orders alert batch_failed']);
});

test('no recovery message is sent for an alert that was never told (held back, or PagerDuty below its threshold)', async () => {
  const h = await hook();
  const pd = await startRecordingServer(() => ({ status: 202 }));
  after(() => pd.stop());
  const { clock, run } = await harness({
    on_failure: [{ type: 'webhook', url: h.url, secret: '${env:HOOK_SECRET}' }, { type: 'pagerduty', routing_key: '${env:PD_KEY}', after_consecutive_failures: 2, url: pd.url }],
  });

  await run(bad);
  await clock.advance(minute);
  await run(good);
  await clock.advance(minute);
  await run(bad); // within 15m of the first alert: held back
  await clock.advance(minute);
  await run(good);

  assert.deepEqual(h.events(), ['leads alert batch_failed', 'leads recovery batch_failed']);
  assert.equal(pd.requests.length, 0, 'never two failures in a row');
});

test('success notifications go to on_success for every completed run; rules go to on_alert, or to on_failure without it', async () => {
  const success = await hook();
  const failure = await hook();
  const { run } = await harness({
    on_success: [{ type: 'webhook', url: success.url, secret: '${env:HOOK_SECRET}' }],
    on_failure: [{ type: 'webhook', url: failure.url, secret: '${env:HOOK_SECRET}' }],
    rules: { failure_rate: { above: 0.1 } },
  });

  await run(good);
  await run([...good, { id: 3 }]);
  await run(good);

  assert.deepEqual(success.events(), ['leads success', 'leads success', 'leads success']);
  assert.deepEqual(failure.events(), ['leads alert failure_rate', 'leads recovery failure_rate']);
});

test('deliveries suspended alert the on_alert channels; the next run that delivers sends the recovery', async () => {
  const alerts = await hook();
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const clock = manualClock('2026-03-02T10:00:00Z');
  const config = notifyConfig.parse({ on_failure: [], on_alert: [{ type: 'webhook', url: alerts.url, secret: 's'.repeat(16) }] });
  const error = ladingError('DEST_AUTH_FAILED', 'sftp.partner.example: login refused');

  await notify(config, { type: 'deliveries_suspended', pipeline: 'leads', runId: 'run_1', error }, { store, clock });
  const delivered = { job_id: 'run_2', pipeline: 'leads', mode: 'full', status: 'completed', error_categories: {}, summary: { processed: 1, succeeded: 1, failed: 0, duration_seconds: 1 } } as unknown as RunReport;
  await notify(config, { type: 'run_finished', report: delivered }, { store, clock });

  assert.deepEqual(alerts.events(), ['leads alert deliveries_suspended', 'leads recovery deliveries_suspended']);
  const n = (await store.listNotifications()).reverse();
  assert.equal(n[0]?.message, '[lading] leads: deliveries suspended - DEST_AUTH_FAILED: sftp.partner.example: login refused');
});

test('dry runs and samples notify nobody', async () => {
  const h = await hook();
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const config = notifyConfig.parse({ on_failure: [{ type: 'webhook', url: h.url, secret: 's'.repeat(16) }] });
  const sample = { job_id: 'run_1', pipeline: 'leads', mode: 'sample', status: 'failed', error_categories: {}, summary: { processed: 1, succeeded: 0, failed: 1, duration_seconds: 1 } } as unknown as RunReport;
  await notify(config, { type: 'run_finished', report: sample }, { store, clock: manualClock() });
  assert.deepEqual(h.events(), []);
});

describe('rules', () => {
  const rules = (r: Record<string, unknown>) => notifyConfig.parse({ rules: r }).rules;
  const report = (summary: Partial<RunReport['summary']>, status: RunReport['status'] = 'completed'): RunReport =>
    ({ job_id: 'run_9', pipeline: 'p', mode: 'full', status, error_categories: {}, summary: { processed: 100, succeeded: 100, failed: 0, duration_seconds: 60, ...summary } }) as unknown as RunReport;
  const verdicts = (r: RunReport, config: Record<string, unknown>, previous: number[] = []) =>
    judgeRun(r, rules(config), previous).map((f) => `${f.rule}:${f.breached ? 'breached' : 'clear'}`);

  test('failure_rate breaches strictly above its threshold', () => {
    assert.deepEqual(verdicts(report({ processed: 100, failed: 5 }), { failure_rate: { above: 0.05 } }), ['batch_failed:clear', 'deliveries_suspended:clear', 'failure_rate:clear']);
    assert.deepEqual(verdicts(report({ processed: 100, failed: 6 }), { failure_rate: { above: 0.05 } }), ['batch_failed:clear', 'deliveries_suspended:clear', 'failure_rate:breached']);
  });

  test('slow_run compares the run duration with over', () => {
    assert.deepEqual(verdicts(report({ duration_seconds: 1801 }), { slow_run: { over: '30m' }, batch_failed: false, deliveries_suspended: false }), ['slow_run:breached']);
    assert.deepEqual(verdicts(report({ duration_seconds: 1800 }), { slow_run: { over: '30m' }, batch_failed: false, deliveries_suspended: false }), ['slow_run:clear']);
  });

  test('low_volume compares with the median of the last lookback_runs runs, once there are at least 3', () => {
    const config = { low_volume: { below_fraction_of_usual: 0.5, lookback_runs: 3 }, batch_failed: false, deliveries_suspended: false };
    assert.deepEqual(verdicts(report({ processed: 10 }), config, [1000, 1000]), [], 'too little history');
    assert.deepEqual(verdicts(report({ processed: 499 }), config, [1000, 5, 1200, 1]), ['low_volume:breached'], 'median of 1000, 5, 1200 is 1000');
    assert.deepEqual(verdicts(report({ processed: 500 }), config, [1000, 5, 1200]), ['low_volume:clear']);
    const finding = judgeRun(report({ processed: 100 }), rules(config), [1000, 900, 1100])[0];
    assert.equal(finding?.summary, '100 records, usually 1000 (alert below 50.0% of usual): data missing upstream?');
  });

  test('a failed run breaches batch_failed only; a cancelled run judges nothing', () => {
    const all = { failure_rate: { above: 0 }, slow_run: { over: 1 }, low_volume: { below_fraction_of_usual: 0.5 } };
    assert.deepEqual(verdicts(report({ failed: 100, succeeded: 0 }, 'failed'), all, [1000, 1000, 1000]), ['batch_failed:breached']);
    assert.deepEqual(verdicts(report({}, 'timed_out'), all), ['batch_failed:breached']);
    assert.deepEqual(verdicts(report({}, 'cancelled'), all), []);
  });
});

test('separate processes share the rate limit through the store', async () => {
  const h = await hook();
  const dir = tempDir();
  const path = join(dir, 'shared.db');
  const config = { on_failure: [{ type: 'webhook', url: h.url, secret: '${env:HOOK_SECRET}' }] };
  const first = await harness(config, { path, process: 'a' });
  const second = await harness(config, { path, process: 'b' });
  await first.run(bad);
  await second.run(bad);
  assert.deepEqual(h.events(), ['leads alert batch_failed']);
});
