// delivery.on_rejection: a partner's refusal (http_upload 4xx with its body, an FTP 5xx reply)
// is skipped, left for later or fails the run, per the first matching rule. Real servers on
// loopback: the recording HTTP server and ftp-srv.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline } from '../../../src/engine/run.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { startFtpServer } from '../../support/servers/ftp.js';
import { startRecordingServer, type Script } from '../../support/servers/http.js';
import { tempDir } from '../../support/tmp.js';

async function setup(destination: Record<string, unknown>, onRejection: unknown[]) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const ids = sequentialIds();
  const loaded = parsePipeline({
    name: 'partner', source: { type: 'inbox' }, delivery: { retry: { attempts: 1 }, on_rejection: onRejection },
    output: { type: 'file', format: 'csv', naming: 'leads_{batch_id}.{ext}', destination },
  }, { env: { FTP_PASSWORD: 'ftp-secret-Pa55' } });
  const pipeline = { ...loaded, baseDir: dir, origin: '<test>' };
  const run = async (records: number) => {
    await store.ingest('partner', Array.from({ length: records }, (_, i) => ({ data: { id: i } })), new Date('2026-01-02T00:00:00Z'));
    return runPipeline(pipeline, { store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T00:00:00Z'), ids });
  };
  return { store, run };
}

/** An upload endpoint answering PUTs by `script`; HEAD (the collision check) finds nothing. */
async function partner(script: Script) {
  const s = await startRecordingServer((req, n) => (req.method === 'HEAD' ? { status: 404 } : script(req, n)));
  after(() => s.stop());
  return { server: s, destination: { type: 'http_upload', url: `${s.url}/in/{name}`, stat_url: `${s.url}/in/{name}` } };
}

test('an HTTP 409 matching a skip rule records the delivery as skipped with the partner\'s reply; the run completes', async () => {
  const { destination } = await partner(() => ({ status: 409, body: 'duplicate batch: leads_batch_0001.csv was received before' }));
  const { store, run } = await setup(destination, [{ status: 422, action: 'fail' }, { status: 409, action: 'skip' }]);
  const report = await run(2);
  assert.equal(report.status, 'completed');
  assert.deepEqual(report.held_deliveries?.map((h) => [h.name, h.outcome, h.code]), [['leads_batch_0001.csv', 'skipped', 'SINK_HTTP_REJECTED']]);
  const [d] = await store.listDeliveries({ pipeline: 'partner' });
  assert.equal(d?.state, 'skipped');
  assert.match(d?.reason ?? '', /duplicate batch/);
  assert.equal(d?.stagedPath, null, 'a skipped file is never sent again, so its staged copy goes');
  assert.equal((await store.openBatch('partner')), null, 'the batch is settled');
  assert.equal((await store.deliveryState('partner')).suspendedAt, null);
});

test('retry_later leaves the refused file staged and failed; the next run sends it first, then its own batch', async () => {
  let refusing = true;
  const { server, destination } = await partner(() => (refusing ? { status: 423, body: '{"error":"mailbox locked for maintenance"}' } : { status: 201 }));
  const { store, run } = await setup(destination, [{ pattern: 'maintenance', action: 'retry_later' }]);
  const first = await run(1);
  assert.equal(first.status, 'completed_with_errors', 'a file not yet at the partner is not a clean completion');
  assert.deepEqual(first.held_deliveries?.map((h) => h.outcome), ['retry_later']);
  const [waiting] = await store.listDeliveries({ pipeline: 'partner', states: ['failed'] });
  assert.ok(waiting?.stagedPath && existsSync(waiting.stagedPath), 'the rendered file is kept');
  assert.match(waiting.reason ?? '', /retry later .*maintenance/);

  refusing = false;
  const second = await run(1);
  assert.equal(second.status, 'completed');
  assert.equal(second.backlog_sent, 1);
  assert.deepEqual((await store.listDeliveries({ pipeline: 'partner' })).map((d) => [d.name, d.state]).sort(), [['leads_batch_0001.csv', 'verified'], ['leads_batch_0002.csv', 'verified']]);
  const puts = server.requests.filter((r) => r.method === 'PUT').map((r) => r.path);
  assert.deepEqual(puts, ['/in/leads_batch_0001.csv', '/in/leads_batch_0001.csv', '/in/leads_batch_0002.csv']);
  assert.equal(server.requests.filter((r) => r.method === 'PUT')[1]?.text, 'id\n0\n', 'the same staged bytes');
});

test('a refusal no rule matches fails the run, as without rules', async () => {
  const { destination } = await partner(() => ({ status: 400, body: 'bad header row' }));
  const { store, run } = await setup(destination, [{ status: 409, action: 'skip' }]);
  const report = await run(1);
  assert.deepEqual([report.status, report.failure?.code], ['failed', 'SINK_HTTP_REJECTED']);
  assert.equal((await store.listDeliveries({ pipeline: 'partner' }))[0]?.state, 'failed');
});

test('an FTP 550 reply matching a pattern is skipped instead of suspending deliveries', async () => {
  const ftp = await startFtpServer({ refuseUpload: (path) => (path.includes('batch_0001') ? 'Duplicate file: already processed' : undefined) });
  after(() => ftp.stop());
  const { store, run } = await setup(
    { type: 'ftp', host: ftp.host, port: ftp.port, username: ftp.username, password: '${env:FTP_PASSWORD}', remote_path: '/in' },
    [{ status: 550, pattern: 'duplicate', action: 'skip' }],
  );
  const first = await run(1);
  assert.equal(first.status, 'completed');
  const [skipped] = await store.listDeliveries({ pipeline: 'partner' });
  assert.deepEqual([skipped?.state, skipped?.code], ['skipped', 'DEST_PERMISSION_DENIED']);
  assert.match(skipped?.reason ?? '', /Duplicate file: already processed/);
  assert.equal((await store.deliveryState('partner')).suspendedAt, null, 'a rule decided: no suspension');

  const second = await run(2);
  assert.equal(second.status, 'completed');
  assert.equal(readFileSync(join(ftp.root, 'in', 'leads_batch_0002.csv'), 'utf8'), 'id\n0\n1\n');
});
