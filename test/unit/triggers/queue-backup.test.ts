// The queue_backup alert rule, judged by the scheduler at each tick: an inbox over N pending is
// told (and, with cut, a batch is cut now with flush_reason backup); the recovery follows once
// the queue is back at or below N.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { manualClock, type ManualClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { Store } from '../../../src/store/types.js';
import { Scheduler } from '../../../src/triggers/scheduler.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { tempDir } from '../../support/tmp.js';

const minute = 60_000;

async function setup(queueBackup: Record<string, unknown>) {
  const hook = await startRecordingServer();
  after(() => hook.stop());
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const clock = manualClock('2026-03-02T10:00:00Z');
  const loaded = {
    ...parsePipeline({
      name: 'leads', source: { type: 'inbox' }, batch: { triggers: [{ type: 'record_count', value: 100 }] },
      output: { type: 'file', format: 'csv', naming: '{batch_id}.csv', destination: { type: 'local', path: 'out' } },
      notify: { on_alert: [{ type: 'webhook', url: `${hook.url}/hook`, secret: '${env:HOOK_SECRET}' }], rules: { queue_backup: queueBackup }, min_interval: '15m' },
    }, { env: { HOOK_SECRET: 's'.repeat(16) } }),
    baseDir: dir, origin: '<test>',
  };
  const scheduler = new Scheduler({ store, dataDir: join(dir, '.lading'), clock, ids: sequentialIds(), pipelines: [loaded] });
  const told = () => hook.requests.map((r) => {
    const b = r.body as { event: string; rule: string; details: { pending: number } };
    return `${b.event} ${b.rule} ${b.details.pending}`;
  });
  return { store, clock, scheduler, told };
}

const ingest = (store: Store, clock: ManualClock, n: number) =>
  store.ingest('leads', Array.from({ length: n }, (_, i) => ({ data: { i } })), clock.now());

test('queue_backup with cut: over N pending alerts, cuts a batch now with reason backup, and the drained queue recovers', async () => {
  const { store, clock, scheduler, told } = await setup({ over: 3 });
  await ingest(store, clock, 3);
  await scheduler.tick();
  assert.deepEqual(told(), [], 'at N pending the queue is not backed up');
  assert.equal((await store.inboxStats('leads')).pending, 3);

  await ingest(store, clock, 2);
  await scheduler.tick();
  assert.deepEqual(told(), ['alert queue_backup 5']);
  const [run] = await store.listRuns({ pipeline: 'leads', limit: 10 });
  const batch = await store.getBatch(run?.batchId ?? '');
  assert.deepEqual([batch?.reason, batch?.records, batch?.status], ['backup', 5, 'delivered']);

  await scheduler.tick();
  assert.deepEqual(told(), ['alert queue_backup 5', 'recovery queue_backup 0']);
  await scheduler.tick();
  assert.equal(told().length, 2, 'one recovery, not one per tick');
});

test('queue_backup without cut: told once per min_interval while backed up, nothing cut; the recovery follows a flush', async () => {
  const { store, clock, scheduler, told } = await setup({ over: 3, cut: false });
  await ingest(store, clock, 4);
  await scheduler.tick();
  await clock.advance(minute);
  await scheduler.tick();
  assert.deepEqual(told(), ['alert queue_backup 4'], 'a tick within min_interval tells nobody again');
  assert.equal((await store.inboxStats('leads')).pending, 4, 'cut: false leaves the records waiting');

  await ingest(store, clock, 1);
  await clock.advance(15 * minute);
  await scheduler.tick();
  assert.deepEqual(told(), ['alert queue_backup 4', 'alert queue_backup 5'], 'a reminder after min_interval');
  const alerts = (await store.listNotifications({ limit: 100 })).filter((n) => n.rule === 'queue_backup');
  assert.deepEqual(alerts.map((n) => n.status), ['sent', 'sent'], 'quiet ticks are not recorded as suppressed');

  const flushed = await scheduler.flush('leads');
  assert.equal(flushed?.batch.reason, 'manual');
  await scheduler.tick();
  assert.deepEqual(told(), ['alert queue_backup 4', 'alert queue_backup 5', 'recovery queue_backup 0']);
});
