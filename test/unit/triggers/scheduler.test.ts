import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePipeline, type LoadedPipeline } from '../../../src/config/load.js';
import { manualClock, type ManualClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { Store } from '../../../src/store/types.js';
import { Scheduler, type SchedulerEvent } from '../../../src/triggers/scheduler.js';
import { tempDir } from '../../support/tmp.js';

interface Setup {
  store: Store;
  clock: ManualClock;
  scheduler: Scheduler;
  events: SchedulerEvent[];
  delivered(): string[];
  csv(name: string): string;
}

async function setup(batch: unknown, start = '2024-06-03T01:00:00Z', extra: Record<string, unknown> = {}): Promise<Setup> {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const clock = manualClock(start);
  const loaded: LoadedPipeline = {
    ...parsePipeline({
      name: 'leads', source: { type: 'inbox', ...extra }, batch,
      output: { type: 'file', format: 'csv', naming: '{batch_id}.csv', destination: { type: 'local', path: 'out' } },
    }, { env: {} }),
    baseDir: dir, origin: '<test>',
  };
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler({ store, dataDir: join(dir, '.lading'), clock, ids: sequentialIds(), pipelines: [loaded], onEvent: (e) => events.push(e) });
  const out = join(dir, 'out');
  return {
    store, clock, scheduler, events,
    delivered: () => { try { return readdirSync(out).sort(); } catch { return []; } },
    csv: (name) => readFileSync(join(out, name), 'utf8'),
  };
}

const ingest = (store: Store, clock: ManualClock, ns: number[], extra: { priority?: number } = {}) =>
  store.ingest('leads', ns.map((n) => ({ data: { n }, ...extra })), clock.now());

test('record_count: nothing is cut below the threshold; at it, one batch with reason count is delivered', async () => {
  const { store, clock, scheduler, delivered, csv } = await setup({ triggers: [{ type: 'record_count', value: 3 }] });
  await ingest(store, clock, [1, 2]);
  await scheduler.tick();
  assert.deepEqual(delivered(), []);
  await ingest(store, clock, [3]);
  await scheduler.tick();
  const [file] = delivered();
  assert.ok(file);
  assert.equal(csv(file), 'n\n1\n2\n3\n');
  const batch = await store.getBatch(file.replace('.csv', ''));
  assert.deepEqual([batch?.reason, batch?.records, batch?.status], ['count', 3, 'delivered']);
  assert.equal((await store.inboxStats('leads')).pending, 0);
});

test('a batch left cut but undelivered (a crash) is delivered on the next tick, never cut again', async () => {
  const { store, clock, scheduler, delivered } = await setup({ triggers: [{ type: 'record_count', value: 2 }] });
  await ingest(store, clock, [1, 2]);
  await store.cutBatch('leads', { id: 'batch_crashed', at: clock.now(), reason: 'count' });
  await ingest(store, clock, [3, 4]); // would meet the trigger again, but the open batch goes first
  await scheduler.tick();
  assert.deepEqual(delivered(), ['batch_crashed.csv']);
  assert.equal((await store.getBatch('batch_crashed'))?.status, 'delivered');
  assert.equal((await store.inboxStats('leads')).pending, 2);
  await scheduler.tick();
  assert.equal(delivered().length, 2);
});

test('schedule: armed on first sight, fires at its time with reason schedule, and records the fire', async () => {
  const { store, clock, scheduler, delivered, events } = await setup({ triggers: [{ type: 'schedule', cron: '0 2 * * *', timezone: 'UTC' }] }, '2024-06-03T01:59:00Z');
  await scheduler.tick();
  assert.equal(events[0]?.type, 'schedule_armed');
  await ingest(store, clock, [1]);
  await clock.advance(59_000);
  await scheduler.tick();
  assert.deepEqual(delivered(), [], 'not yet 02:00');
  assert.equal(scheduler.nextTrigger('leads')?.toISOString(), '2024-06-03T02:00:00.000Z');
  await clock.advance(1000);
  await scheduler.tick();
  const [file] = delivered();
  assert.equal((await store.getBatch(file!.replace('.csv', '')))?.reason, 'schedule');
  assert.deepEqual(await store.lastFire('leads', 'schedule:0 2 * * *@UTC'), new Date('2024-06-03T02:00:00Z'));
  assert.equal(scheduler.nextTrigger('leads')?.toISOString(), '2024-06-04T02:00:00.000Z');
});

test('missed: all replays each hourly fire missed while down, each batch holding the records received up to its fire', async () => {
  const { store, clock, scheduler, delivered, csv } = await setup(
    { triggers: [{ type: 'schedule', cron: '0 * * * *', timezone: 'UTC', missed: 'all' }] }, '2024-06-03T00:00:00Z');
  await store.recordFire('leads', 'schedule:0 * * * *@UTC', clock.now());
  for (const n of [1, 2, 3]) {
    await clock.advance(50 * 60_000); // 00:50, 01:40, 02:30 (the scheduler is down)
    await ingest(store, clock, [n]);
  }
  await clock.advance(60 * 60_000); // 03:30
  scheduler.start(); // up since 03:30: the fires at 01:00, 02:00, 03:00 were missed
  await scheduler.stop();
  for (let i = 0; i < 4; i++) await scheduler.tick();
  assert.deepEqual(delivered().map(csv), ['n\n1\n', 'n\n2\n', 'n\n3\n']);
});

test('missed: skip drops fires missed while down; once catches up with one cut', async () => {
  for (const [missed, expected] of [['skip', 0], ['once', 1]] as const) {
    const { store, clock, scheduler, delivered, events } = await setup(
      { triggers: [{ type: 'schedule', cron: '0 * * * *', timezone: 'UTC', missed }] }, '2024-06-03T00:00:00Z');
    await store.recordFire('leads', 'schedule:0 * * * *@UTC', clock.now());
    await ingest(store, clock, [1]);
    await clock.advance(210 * 60_000); // 03:30
    scheduler.start();
    await scheduler.stop();
    await scheduler.tick();
    await scheduler.tick();
    assert.equal(delivered().length, expected, missed);
    if (missed === 'skip') assert.ok(events.some((e) => e.type === 'fire_skipped'));
  }
});

test('a hold rule stops automatic cuts in its window; a manual flush still cuts', async () => {
  const { store, clock, scheduler, delivered } = await setup({
    triggers: [{ type: 'record_count', value: 1 }],
    rules: [{ between: ['22:00', '06:00'], timezone: 'America/New_York', hold: true }],
  }, '2024-06-03T03:00:00Z'); // 23:00 EDT
  await ingest(store, clock, [1]);
  await scheduler.tick();
  assert.deepEqual(delivered(), []);
  const flushed = await scheduler.flush('leads');
  assert.equal(flushed?.batch.reason, 'manual');
  assert.equal(flushed?.report.status, 'completed');
  await ingest(store, clock, [2]);
  await clock.advance(7 * 3600_000); // 06:00 EDT
  await scheduler.tick();
  assert.equal(delivered().length, 2);
});

test('priority_count cuts on enough high-priority records; flush with nothing pending is null', async () => {
  const { store, clock, scheduler, delivered } = await setup({ triggers: [{ type: 'priority_count', value: 2, min_priority: 5 }] });
  assert.equal(await scheduler.flush('leads'), null);
  await ingest(store, clock, [1, 2, 3], { priority: 1 });
  await ingest(store, clock, [4], { priority: 9 });
  await scheduler.tick();
  assert.deepEqual(delivered(), []);
  await ingest(store, clock, [5], { priority: 5 });
  await scheduler.tick();
  const [file] = delivered();
  assert.equal((await store.getBatch(file!.replace('.csv', '')))?.reason, 'priority');
  await assert.rejects(scheduler.flush('nope'), { code: 'TRIGGER_UNKNOWN_PIPELINE' });
});

test('the loop ticks with the clock; stop waits for the run in flight', async () => {
  const { store, clock, scheduler, delivered } = await setup({ triggers: [{ type: 'age', value: '10m' }] });
  await ingest(store, clock, [1]);
  scheduler.start();
  assert.equal(scheduler.nextTrigger('leads'), null, 'no look at the inbox yet');
  await clock.advance(5 * 60_000);
  assert.equal(scheduler.nextTrigger('leads')?.toISOString(), '2024-06-03T01:10:00.000Z');
  await clock.advance(5 * 60_000);
  await scheduler.stop();
  assert.equal(delivered().length, 1);
});
