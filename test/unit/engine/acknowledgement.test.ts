// Partner acknowledgement (delivery.acknowledgment), driven by a manual clock: `deliveries check`
// moves a verified data file to acknowledged when the partner's ack file appears or the file leaves
// the incoming folder, and past the timeout raises one ack_timeout alert per file, told to the
// notify channels. Against the local destination and a real sshd; the partner is played by the
// test writing and removing files in the delivery folder.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { deliveryConfig, deliveryPolicy } from '../../../src/config/delivery.js';
import { manualClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { acknowledgeDelivery, checkAcknowledgements, isConfirmed } from '../../../src/engine/acknowledgement.js';
import { runPipeline } from '../../../src/engine/run.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { startSshd, type Sshd } from '../../support/servers/sshd.js';
import { tempDir } from '../../support/tmp.js';

const hour = 3_600_000;

interface Remote {
  /** The destination config, and the local folder the partner sees. */
  readonly place: (dir: string) => { readonly destination: Record<string, unknown>; readonly folder: string };
}

async function setup(remote: Remote, acknowledgment: Record<string, unknown>, notify?: Record<string, unknown>) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const clock = manualClock('2026-01-02T00:00:00Z');
  const { destination, folder } = remote.place(dir);
  const loaded = { ...parsePipeline({
    name: 'acks', source: { type: 'inbox' },
    delivery: { retry: { attempts: 1 }, acknowledgment },
    output: { type: 'file', format: 'csv', checksum: 'sha256', naming: 'leads_{batch_id}.{ext}', destination },
    ...(notify ? { notify } : {}),
  }, { env: process.env }), baseDir: dir, origin: '<test>' };
  await store.ingest('acks', [{ data: { id: 1 } }, { data: { id: 2 } }], clock.now());
  const report = await runPipeline(loaded, { store, dataDir: join(dir, '.lading'), clock, ids: sequentialIds() });
  assert.equal(report.status, 'completed');
  const check = () => checkAcknowledgements(store, { dataDir: join(dir, '.lading'), clock, pipeline: 'acks' });
  const data = async () => (await store.listDeliveries({ pipeline: 'acks' })).find((d) => d.records !== null)!;
  return { store, clock, folder, check, data, policy: deliveryPolicy(loaded.config.delivery) };
}

function describeAcks(name: string, remote: () => Remote) {
  describe(`partner acknowledgement: ${name}`, () => {
    test('ack_file: the file waits, verified but not confirmed, until the partner writes its ack file', async () => {
      const { store, folder, check, data, policy } = await setup(remote(), { require: true });
      const waiting = await check();
      assert.deepEqual(waiting.map((r) => [r.name, r.outcome]), [['leads_batch_0001.csv', 'waiting']], 'only the data file waits; its sidecar does not');
      assert.equal(isConfirmed(await data(), policy), false);
      const sidecar = (await store.listDeliveries({ pipeline: 'acks' })).find((d) => d.records === null)!;
      assert.equal(isConfirmed(sidecar, policy), true, 'sidecars and manifests are confirmed once verified');

      writeFileSync(join(folder, 'leads_batch_0001.csv.ack'), 'OK\n');
      assert.deepEqual((await check()).map((r) => [r.outcome, r.how]), [['acknowledged', 'ack_file leads_batch_0001.csv.ack']]);
      const d = await data();
      assert.equal(d.state, 'acknowledged');
      assert.equal(isConfirmed(d, policy), true);
      assert.deepEqual((await store.deliverySteps(d.id)).at(-1), { state: 'acknowledged', at: new Date('2026-01-02T00:00:00Z'), detail: 'ack_file leads_batch_0001.csv.ack' });
      assert.deepEqual(await check(), [], 'nothing awaits acknowledgement any more');
    });

    test('file_removed: the file leaving the incoming folder acknowledges it', async () => {
      const { store, folder, check, data } = await setup(remote(), { require: true, mode: 'file_removed' });
      assert.deepEqual((await check()).map((r) => r.outcome), ['waiting']);
      rmSync(join(folder, 'leads_batch_0001.csv'));
      assert.deepEqual((await check()).map((r) => [r.outcome, r.how]), [['acknowledged', 'file_removed']]);
      assert.equal((await store.deliverySteps((await data()).id)).at(-1)?.detail, 'file_removed');
    });

    test('past the timeout: one ack_timeout alert per file, the delivery stays verified with DEST_ACK_TIMEOUT; a late ack still counts', async () => {
      const { store, clock, folder, check, data } = await setup(remote(), { require: true, timeout: '24h' });
      await clock.advance(23 * hour);
      assert.deepEqual((await check()).map((r) => r.outcome), ['waiting']);
      await clock.advance(hour);
      const [late] = await check();
      assert.deepEqual([late?.outcome, late?.code], ['timed_out', 'DEST_ACK_TIMEOUT']);
      await clock.advance(hour);
      assert.deepEqual((await check()).map((r) => r.outcome), ['timed_out'], 'still polled');
      const alerts = await store.listAlerts({ pipeline: 'acks' });
      assert.deepEqual(alerts.map((a) => [a.kind, a.code]), [['ack_timeout', 'DEST_ACK_TIMEOUT']], 'alerted once');
      const d = await data();
      assert.deepEqual([d.state, d.code], ['verified', 'DEST_ACK_TIMEOUT']);
      assert.match(d.reason ?? '', /not acknowledged by the partner within 24h/);

      writeFileSync(join(folder, 'leads_batch_0001.csv.ack'), '');
      assert.deepEqual((await check()).map((r) => r.outcome), ['acknowledged']);
      const done = await data();
      assert.deepEqual([done.state, done.code], ['acknowledged', null]);
      assert.deepEqual((await store.deliverySteps(done.id)).map((s) => s.detail ?? s.state).slice(-3), ['verified', 'ack_timeout', 'ack_file leads_batch_0001.csv.ack']);
    });
  });
}

describeAcks('local', () => ({ place: (dir) => ({ destination: { type: 'local', path: 'out' }, folder: join(dir, 'out') }) }));

let sshd: Sshd | undefined;
let n = 0;
before(async () => {
  sshd = await startSshd();
  process.env.ACK_TEST_SFTP_KEY = sshd.privateKey;
});
after(async () => {
  delete process.env.ACK_TEST_SFTP_KEY;
  await sshd?.stop();
});
describeAcks('sftp (OpenSSH sshd on loopback)', () => ({
  place: () => {
    const server = sshd!;
    const folder = join(server.root, `acks-${++n}`);
    mkdirSync(folder, { recursive: true });
    return {
      folder,
      destination: {
        type: 'sftp', host: server.host, port: server.port, username: server.username, private_key: '${env:ACK_TEST_SFTP_KEY}',
        host_key: server.hostKeyFingerprint, remote_path: folder,
      },
    };
  },
}));

describe('partner acknowledgement: policy and callers', () => {
  test('without require, a verified delivery is confirmed and nothing is polled', async () => {
    const { check, data, policy } = await setup({ place: (dir) => ({ destination: { type: 'local', path: 'out' }, folder: join(dir, 'out') }) }, {});
    assert.deepEqual(await check(), []);
    assert.equal(isConfirmed(await data(), policy), true);
  });

  test('the ack_timeout alert reaches the on_alert channels', async () => {
    const hook = await startRecordingServer();
    after(() => hook.stop());
    process.env.ACK_TEST_HOOK_SECRET = 's'.repeat(16);
    after(() => { delete process.env.ACK_TEST_HOOK_SECRET; });
    const { clock, check } = await setup(
      { place: (dir) => ({ destination: { type: 'local', path: 'out' }, folder: join(dir, 'out') }) },
      { require: true, timeout: '90m' },
      { on_alert: [{ type: 'webhook', url: `${hook.url}/hook`, secret: '${env:ACK_TEST_HOOK_SECRET}' }] },
    );
    await clock.advance(2 * hour);
    await check();
    await check();
    assert.deepEqual(hook.requests.map((r) => { const b = r.body as { event: string; rule: string }; return `${b.event} ${b.rule}`; }), ['alert ack_timeout']);
  });

  test('acknowledgeDelivery (for a callback) takes the step once and refuses an unknown id', async () => {
    const { store, data } = await setup({ place: (dir) => ({ destination: { type: 'local', path: 'out' }, folder: join(dir, 'out') }) }, { require: true });
    const d = await data();
    const at = new Date('2026-01-02T05:00:00Z');
    assert.equal(await acknowledgeDelivery(store, d.id, 'callback', at), true);
    assert.equal(await acknowledgeDelivery(store, d.id, 'callback', at), false);
    await assert.rejects(acknowledgeDelivery(store, 'dlv_nope', 'callback', at), { code: 'STORE_DELIVERY_NOT_FOUND' });
  });

  test('ack_pattern must name the file', () => {
    assert.equal(deliveryConfig.safeParse({ acknowledgment: { ack_pattern: 'done.ack' } }).success, false);
    assert.equal(deliveryConfig.safeParse({ acknowledgment: { ack_pattern: 'acks/{basename}.ok' } }).success, true);
    assert.ok(!existsSync('acks'));
  });
});
