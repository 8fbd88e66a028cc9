// The destination circuit breaker of a pipeline (delivery.circuit_breaker), driven by a manual
// clock: after N failed deliveries in a row runs stage their files without contacting the
// destination; after the cool-down one canary decides. The destination is the real local one
// behind a switch that makes its puts fail (STYLE.md: faults on purpose).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { manualClock } from '../../../src/core/clock.js';
import { defineDestination, type DestinationDef } from '../../../src/core/component.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { registry } from '../../../src/core/registry.js';
import { local, LocalDestination } from '../../../src/destinations/local.js';
import { readFileSync } from 'node:fs';
import { retryDelivery } from '../../../src/engine/deliveries.js';
import { runPipeline } from '../../../src/engine/run.js';
import { ladingError } from '../../../src/errors/lading-error.js';
import { csv } from '../../../src/formats/csv.js';
import { fileSink } from '../../../src/sinks/file/file.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { tempDir } from '../../support/tmp.js';

async function setup(extra: { notify?: Record<string, unknown>; output?: Record<string, unknown> } = {}) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const partner = { down: true, puts: 0 };
  // Registered under `local`, so runs, the backlog and `deliveries retry` (which rebuild the
  // destination from the stored config) all reach the same switchable partner.
  const flaky = defineDestination({
    ...local, summary: 'test: local that refuses connections while the partner is down',
    create: (config, ctx) => {
      const inner = local.create(config, ctx) as LocalDestination;
      return Object.assign(Object.create(inner) as LocalDestination, {
        put: (...args: Parameters<LocalDestination['put']>) => {
          partner.puts++;
          return partner.down ? Promise.reject(ladingError('NETWORK_FAILED', 'connect ECONNREFUSED')) : inner.put(...args);
        },
      });
    },
  });
  const destinations = [flaky] as unknown as DestinationDef[];
  const reg = { ...registry, destinations, sinks: [fileSink({ formats: [csv], codecs: [], destinations })] };
  const clock = manualClock('2026-01-02T00:00:00Z');
  const ids = sequentialIds();
  const loaded = { ...parsePipeline({
    name: 'brk', source: { type: 'inbox' },
    delivery: { retry: { attempts: 1 }, circuit_breaker: { failures: 2, cool_down: '15m' } },
    output: { type: 'file', format: 'csv', naming: 'f_{batch_id}.{ext}', destination: { type: 'local', path: 'out' }, ...extra.output },
    ...(extra.notify ? { notify: extra.notify } : {}),
  }, { env: { HOOK_SECRET: 's'.repeat(16) } }), baseDir: dir, origin: '<test>' };
  const run = async (records: number) => {
    await store.ingest('brk', Array.from({ length: records }, (_, i) => ({ data: { id: i } })), clock.now());
    return runPipeline(loaded, { store, dataDir: join(dir, '.lading'), clock, ids, registry: reg });
  };
  const delivered = () => readdirSync(join(dir, 'out')).filter((f) => !f.startsWith('.')).sort();
  return { store, run, clock, partner, delivered, dir, reg };
}

test('after N failed deliveries runs keep batching and staging but do not contact the destination; the report says deferred', async () => {
  const { store, run, partner } = await setup();
  assert.equal((await run(1)).status, 'failed');
  // The next run sends the failed file first (the second failure opens the breaker), then holds back its own render of the batch.
  const second = await run(0);
  assert.equal(second.status, 'completed_with_errors');
  assert.deepEqual(second.held_deliveries?.map((h) => [h.name, h.outcome, h.code]), [['f_batch_0001.csv', 'deferred', 'DEST_BREAKER_OPEN']]);
  assert.notEqual((await store.deliveryState('brk')).breakerOpenedAt, null);
  assert.deepEqual((await store.listAlerts({ pipeline: 'brk' })).map((a) => a.kind), ['breaker_opened']);
  const contacted = partner.puts;

  const third = await run(3);
  assert.equal(partner.puts, contacted, 'no contact while the breaker is open');
  assert.equal(third.status, 'completed_with_errors');
  assert.equal(third.summary.processed, 3, 'new records are accepted, batched, rendered and staged');
  assert.deepEqual(third.held_deliveries?.map((h) => [h.name, h.outcome]), [['f_batch_0001.csv', 'deferred'], ['f_batch_0002.csv', 'deferred']]);
  assert.equal((await store.inboxStats('brk')).pending, 0);
  const pending = await store.listDeliveries({ pipeline: 'brk', states: ['rendered', 'uploading', 'failed'] });
  assert.deepEqual(pending.map((d) => [d.name, d.code]).sort(), [['f_batch_0001.csv', 'DEST_BREAKER_OPEN'], ['f_batch_0002.csv', 'DEST_BREAKER_OPEN']]);
  assert.ok(pending.every((d) => d.stagedPath !== null));
});

test('after the cool-down one canary is tried: success closes the breaker and sends the backlog in the same run', async () => {
  const { store, run, clock, partner, delivered } = await setup();
  await run(1);
  await run(0);
  await run(2);
  partner.down = false;
  await clock.advance(15 * 60_000);
  const report = await run(1);
  assert.equal(report.status, 'completed');
  assert.equal(report.backlog_sent, 2);
  assert.deepEqual(delivered(), ['f_batch_0001.csv', 'f_batch_0002.csv', 'f_batch_0003.csv']);
  assert.equal((await store.deliveryState('brk')).breakerOpenedAt, null);
  assert.deepEqual((await store.listAlerts({ pipeline: 'brk' })).map((a) => a.kind), ['breaker_closed', 'breaker_opened']);
});

test('a failed canary re-opens the breaker from now: the rest waits another cool-down', async () => {
  const { store, run, clock, partner, dir, reg } = await setup();
  await run(1);
  await run(0);
  await run(2);
  await clock.advance(15 * 60_000);
  const contacted = partner.puts;
  const report = await run(1);
  assert.equal(partner.puts, contacted + 1, 'one canary, nothing else');
  assert.deepEqual(report.held_deliveries?.map((h) => [h.name, h.outcome]), [['f_batch_0002.csv', 'deferred'], ['f_batch_0003.csv', 'deferred']]);
  assert.deepEqual((await store.deliveryState('brk')).breakerOpenedAt, clock.now(), 're-opened as of the canary');

  await clock.advance(15 * 60_000);
  partner.puts = 0;
  partner.down = false;
  const [oldest] = (await store.listDeliveries({ pipeline: 'brk', states: ['failed', 'rendered'] })).reverse();
  // `lading deliveries retry` goes through the same breaker: this one is the canary.
  const sent = await retryDelivery(store, oldest!.id, { dataDir: join(dir, '.lading'), clock, registry: reg });
  assert.equal(sent.outcome, 'sent');
  assert.equal((await store.deliveryState('brk')).breakerOpenedAt, null);
});


test('the breaker opening and closing reach the on_alert channels: the opening as an alert, the closing (here by `deliveries retry`) as its recovery', async () => {
  const hook = await startRecordingServer();
  after(() => hook.stop());
  const { run, clock, partner, dir, store } = await setup({ notify: { on_alert: [{ type: 'webhook', url: `${hook.url}/hook`, secret: '${env:HOOK_SECRET}' }] } });
  const told = () => hook.requests.map((r) => { const b = r.body as { event: string; rule: string | null; details: { kind?: string } }; return `${b.event} ${b.rule} ${b.details.kind ?? ''}`.trim(); });
  await run(1);
  await run(0);
  assert.deepEqual(told(), ['alert delivery_breaker breaker_opened']);
  await clock.advance(15 * 60_000);
  await run(0);
  assert.deepEqual(told(), ['alert delivery_breaker breaker_opened'], 'a failed canary keeps it open: nothing new to tell');

  partner.down = false;
  await clock.advance(15 * 60_000);
  const [pending] = await store.listDeliveries({ pipeline: 'brk', states: ['failed', 'rendered'] });
  // The canary sent by `lading deliveries retry` closes it: that path tells the channels too,
  // resolving the stored config's ${env:…} references from the environment as the CLI does.
  process.env.HOOK_SECRET = 's'.repeat(16);
  after(() => { delete process.env.HOOK_SECRET; });
  await retryDelivery(store, pending!.id, { dataDir: join(dir, '.lading'), clock });
  assert.deepEqual(told(), ['alert delivery_breaker breaker_opened', 'recovery delivery_breaker breaker_closed']);
  assert.deepEqual((await store.listNotifications({ pipeline: 'brk' })).map((n) => `${n.event} ${n.rule} ${n.status}`).reverse(), [
    'alert delivery_breaker sent', 'recovery delivery_breaker sent',
  ]);
  assert.deepEqual((await store.listAlerts({ pipeline: 'brk' })).map((a) => a.kind), ['breaker_closed', 'breaker_opened']);
});

describe('sidecars and manifest of a batch whose data file was held back', () => {
  const output = { checksum: 'sha256', manifest: { naming: 'f_{batch_id}.manifest.json' } };
  /** Batch 1 completes with its data file deferred by the open breaker: no sidecar, no manifest yet. */
  async function heldBatch() {
    const s = await setup({ output });
    await s.run(1);
    const second = await s.run(0);
    assert.deepEqual(second.held_deliveries?.map((h) => [h.name, h.outcome]), [['f_batch_0001.csv', 'deferred']]);
    assert.equal((await s.store.getBatch('batch_0001'))?.status, 'delivered', 'the batch is done: no run will render it again');
    const manifest = (await s.store.listDeliveries({ pipeline: 'brk', batchId: 'batch_0001' })).find((d) => d.part === 'manifest');
    assert.deepEqual([manifest?.name, manifest?.state], ['f_batch_0001.manifest.json', 'sealed'], 'the run named the manifest and left it for later');
    s.partner.down = false;
    await s.clock.advance(15 * 60_000);
    return s;
  }
  const once = async (store: Awaited<ReturnType<typeof setup>>['store']) => {
    const batch = await store.listDeliveries({ pipeline: 'brk', batchId: 'batch_0001' });
    return Promise.all(batch.map(async (d) => [d.name, d.state, (await store.deliverySteps(d.id)).filter((s) => s.state === 'published').length]));
  };

  test('`deliveries retry` of the last held data file sends its sidecar and the manifest, once', async () => {
    const { store, dir, clock, delivered } = await heldBatch();
    const [pending] = await store.listDeliveries({ pipeline: 'brk', states: ['rendered', 'failed'] });
    await retryDelivery(store, pending!.id, { dataDir: join(dir, '.lading'), clock });
    assert.deepEqual(delivered(), ['f_batch_0001.csv', 'f_batch_0001.csv.sha256', 'f_batch_0001.manifest.json']);
    const sha = (await store.getDelivery(pending!.id))!.sha256!;
    assert.equal(readFileSync(join(dir, 'out', 'f_batch_0001.csv.sha256'), 'utf8'), `${sha}  f_batch_0001.csv\n`);
    const manifest = JSON.parse(readFileSync(join(dir, 'out', 'f_batch_0001.manifest.json'), 'utf8')) as { batch_id: string; record_count: number; files: { name: string; sha256: string }[] };
    assert.deepEqual([manifest.batch_id, manifest.record_count, manifest.files.map((f) => [f.name, f.sha256])], ['batch_0001', 1, [['f_batch_0001.csv', sha]]]);
    assert.deepEqual((await once(store)).sort(), [
      ['f_batch_0001.csv', 'verified', 1], ['f_batch_0001.csv.sha256', 'verified', 1], ['f_batch_0001.manifest.json', 'verified', 1],
    ]);
    await assert.rejects(retryDelivery(store, pending!.id, { dataDir: join(dir, '.lading'), clock }), { code: 'DEST_NOT_RETRYABLE' });
    const staged = readdirSync(join(dir, '.lading', 'staging'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(staged, [], 'no staged copy is left behind');
  });

  test('a backlog release by the next run sends them too, and the run\'s own batch gets its own', async () => {
    const { store, run, delivered } = await heldBatch();
    const report = await run(1);
    assert.equal(report.status, 'completed');
    assert.equal(report.backlog_sent, 1);
    assert.deepEqual(delivered(), [
      'f_batch_0001.csv', 'f_batch_0001.csv.sha256', 'f_batch_0001.manifest.json', 'f_batch_0002.csv', 'f_batch_0002.csv.sha256', 'f_batch_0002.manifest.json',
    ]);
    assert.ok((await once(store)).every(([, state, published]) => state === 'verified' && published === 1));
  });
});
