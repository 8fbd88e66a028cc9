// `lading runs rollback`: what a run published is removed where the destination can delete, and
// recorded as rolled_back; http_upload cannot, and says so. Local folder, OpenSSH's sshd, and the
// recording HTTP server on loopback.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { rollbackRun } from '../../../src/engine/deliveries.js';
import { runPipeline } from '../../../src/engine/run.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { startSshd, type Sshd } from '../../support/servers/sshd.js';
import { tempDir } from '../../support/tmp.js';

let sshd: Sshd;
before(async () => {
  sshd = await startSshd();
});
after(() => sshd.stop());

async function publish(destination: Record<string, unknown>) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const loaded = parsePipeline({
    name: 'rb', source: { type: 'inbox' }, delivery: { retry: { attempts: 1 } },
    output: { type: 'file', format: 'csv', naming: 'r_{batch_id}_{part}.{ext}', split: { max_records: 1 }, checksum: 'sha256', manifest: true, destination },
  }, { env: {} });
  await store.ingest('rb', [{ data: { id: 1 } }, { data: { id: 2 } }], new Date('2026-01-02T00:00:00Z'));
  const opts = { store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T00:00:00Z'), ids: sequentialIds() };
  const report = await runPipeline({ ...loaded, baseDir: dir, origin: '<test>' }, opts);
  assert.equal(report.status, 'completed');
  return { store, dir, runId: report.job_id, opts };
}

test('a local run is rolled back: data files, sidecars and the manifest are removed and recorded as rolled_back', async () => {
  const { store, dir, runId, opts } = await publish({ type: 'local', path: 'out' });
  assert.equal(readdirSync(join(dir, 'out')).length, 5, 'two parts, two sidecars, one manifest');
  const results = await rollbackRun(store, runId, opts);
  assert.deepEqual(results.map((r) => r.outcome), ['removed', 'removed', 'removed', 'removed', 'removed']);
  assert.equal(results[0]?.name, 'rb_20260102_000000_batch_0001.manifest.json', 'the "complete" marker goes first');
  assert.deepEqual(readdirSync(join(dir, 'out')), []);
  const deliveries = await store.listDeliveries({ runId });
  assert.ok(deliveries.every((d) => d.state === 'rolled_back'));
  assert.equal((await store.deliverySteps(deliveries[0]!.id)).at(-1)?.state, 'rolled_back');
  assert.deepEqual(await rollbackRun(store, runId, opts), [], 'nothing is left to take back');
  await assert.rejects(rollbackRun(store, 'run_nope', opts), { code: 'STORE_RUN_NOT_FOUND' });
});

test('an sftp run is rolled back on the server', async () => {
  const root = join(sshd.root, 'rollback');
  const { store, runId, opts } = await publish({
    type: 'sftp', host: sshd.host, port: sshd.port, username: sshd.username, private_key_file: sshd.privateKeyPath, host_key: sshd.hostKeyFingerprint, remote_path: root,
  });
  assert.ok(existsSync(join(root, 'r_batch_0001_1.csv')));
  const results = await rollbackRun(store, runId, opts);
  assert.ok(results.length === 5 && results.every((r) => r.outcome === 'removed'));
  assert.deepEqual(readdirSync(root), []);
});

test('http_upload cannot delete: each file is reported as not supported, and stays recorded as delivered', async () => {
  const s = await startRecordingServer((req) => (req.method === 'HEAD' ? { status: 404 } : { status: 201 }));
  after(() => s.stop());
  const { store, runId, opts } = await publish({ type: 'http_upload', url: `${s.url}/in/{name}` });
  const results = await rollbackRun(store, runId, opts);
  assert.ok(results.length === 5 && results.every((r) => r.outcome === 'unsupported' && r.code === 'DEST_REMOVE_UNSUPPORTED'));
  assert.ok((await store.listDeliveries({ runId })).every((d) => d.state === 'verified'));
});
