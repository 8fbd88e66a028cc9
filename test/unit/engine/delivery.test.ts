// Delivery policy of the engine and file sink: transient failures are retried with the same
// bytes; failures that need an operator suspend the pipeline's deliveries. The destination here
// is a fault-injecting wrapper around the real local destination (STYLE.md: faults on purpose).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { gzip } from '../../../src/codecs/gzip.js';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { defineDestination, type DestinationDef } from '../../../src/core/component.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { registry } from '../../../src/core/registry.js';
import { LocalDestination } from '../../../src/destinations/local.js';
import { retryDelivery } from '../../../src/engine/deliveries.js';
import { runPipeline, type RunEvent } from '../../../src/engine/run.js';
import { ladingError } from '../../../src/errors/lading-error.js';
import type { ErrorCode } from '../../../src/errors/codes.js';
import { csv } from '../../../src/formats/csv.js';
import { fileSink } from '../../../src/sinks/file/file.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { tempDir } from '../../support/tmp.js';

/** Fails the first `failures` puts (counted across runs) with `code`, then behaves like the local destination. */
const faulty = (script: { code: ErrorCode; failures: number }, puts = { n: 0 }) => defineDestination({
  type: 'faulty', summary: 'test: local with injected faults',
  schema: z.object({ type: z.literal('faulty'), path: z.string() }).strict(),
  create: (config, ctx) => {
    const inner = new LocalDestination(join(ctx.baseDir, config.path), true);
    return Object.assign(Object.create(inner) as LocalDestination, {
      put: (...args: Parameters<LocalDestination['put']>) => (++puts.n <= script.failures ? Promise.reject(ladingError(script.code, `injected ${script.code} on try ${puts.n}`)) : inner.put(...args)),
    });
  },
});

async function setup(script: { code: ErrorCode; failures: number }) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const destinations = [faulty(script)] as unknown as DestinationDef[];
  const reg = { ...registry, destinations, sinks: [fileSink({ formats: [csv], codecs: [gzip], destinations })] };
  const ids = sequentialIds();
  const run = async () => {
    const events: RunEvent[] = [];
    const pipeline = parsePipeline({
      name: 'deliv', source: { type: 'inbox' }, delivery: { retry: { attempts: 3, delay: 10 } },
      output: { type: 'file', format: 'csv', naming: 'x_{batch_id}.{ext}', destination: { type: 'local', path: 'out' } },
    }, { env: {} });
    // The root schema is composed from the built-in registry; the faulty destination is swapped in at build time.
    const report = await runPipeline({ ...pipeline, config: { ...pipeline.config, output: { ...(pipeline.config.output as object), destination: { type: 'faulty', path: 'out' } } as never }, baseDir: dir, origin: '<t>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T00:00:00Z'), ids, registry: reg, onEvent: (e) => events.push(e),
    });
    return { report, events };
  };
  return { store, run, dir };
}

test('a transient delivery failure is retried with the same bytes; the file records its attempts', async () => {
  const { store, run } = await setup({ code: 'NETWORK_FAILED', failures: 2 });
  await store.ingest('deliv', [{ data: { a: 1 } }], new Date());
  const { report, events } = await run();
  assert.equal(report.status, 'completed');
  assert.equal(report.artifacts.files[0]?.attempts, 3);
  assert.deepEqual(events.filter((e) => e.type === 'delivery_retry').map((e) => (e as { attempt: number }).attempt), [1, 2]);
  await store.close();
});

test('an authentication failure suspends deliveries and records an alert; the next run waits for resume', async () => {
  const { store, run } = await setup({ code: 'DEST_AUTH_FAILED', failures: 1 });
  await store.ingest('deliv', [{ data: { a: 1 } }], new Date());
  const first = await run();
  assert.deepEqual([first.report.status, first.report.failure?.code], ['failed', 'DEST_AUTH_FAILED']);
  assert.equal((await store.deliveryState('deliv')).code, 'DEST_AUTH_FAILED');
  assert.deepEqual((await store.listAlerts({ pipeline: 'deliv' })).map((a) => a.kind), ['deliveries_suspended']);

  await store.ingest('deliv', [{ data: { a: 2 } }], new Date());
  const blocked = await run();
  assert.deepEqual([blocked.report.status, blocked.report.failure?.code, blocked.report.summary.processed], ['failed', 'DEST_SUSPENDED', 0]);
  assert.equal((await store.inboxStats('deliv')).pending, 1, 'no batch is cut while suspended');

  await store.resumeDeliveries('deliv');
  const resumed = await run();
  assert.equal(resumed.report.status, 'completed');
  assert.equal(resumed.report.summary.processed, 1, 'the batch of the failed run is delivered first');
  await store.close();
});

test('a failed delivery keeps its staged file; `deliveries retry` sends the same bytes under the same name without rendering', async () => {
  const { store, run, dir } = await setup({ code: 'DEST_NOT_FOUND', failures: 1 });
  await store.ingest('deliv', [{ data: { a: 1 } }, { data: { a: 2 } }], new Date());
  const { report } = await run();
  assert.deepEqual([report.status, report.failure?.code], ['failed', 'DEST_NOT_FOUND']);
  const [failed] = await store.listDeliveries({ pipeline: 'deliv', states: ['failed'] });
  assert.ok(failed?.stagedPath && existsSync(failed.stagedPath), 'the rendered file is kept under the data dir');
  assert.equal(failed.name, 'x_batch_0001.csv');
  assert.equal((await store.inboxStats('deliv')).pending, 0);
  assert.equal((await store.openBatch('deliv'))?.id, 'batch_0001', 'the batch keeps its records until delivery is confirmed');

  const sent = await retryDelivery(store, failed.id, { dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-03T00:00:00Z') });
  assert.ok('sha256' in sent, 'sent, not held');
  assert.deepEqual([sent.name, sent.sha256, sent.outcome], [failed.name, failed.sha256, 'sent']);
  const delivered = readFileSync(join(dir, 'out', failed.name));
  assert.equal(createHash('sha256').update(delivered).digest('hex'), failed.sha256);
  assert.equal((await store.getDelivery(failed.id))?.state, 'verified');
  assert.ok(!existsSync(failed.stagedPath), 'the staged copy goes once the partner has the file');
  await assert.rejects(retryDelivery(store, failed.id, { dataDir: join(dir, '.lading') }), { code: 'DEST_NOT_RETRYABLE' });
  await assert.rejects(retryDelivery(store, 'dlv_nope', { dataDir: join(dir, '.lading') }), { code: 'STORE_DELIVERY_NOT_FOUND' });
  await store.close();
});
