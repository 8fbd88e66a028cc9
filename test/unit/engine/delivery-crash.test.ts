// Exactly-once delivery across crashes: a destination wrapper stops the run between two steps of a
// put (after the upload, before the rename; after the rename, before the store heard of it), then
// a later run of the same batch inspects the remote and finishes the delivery without sending the
// file again or giving the part a second name. Against the local destination, a real sshd and
// ftp-srv (where the left-over temp file is recognised by its size alone: FTP has no checksum).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { gzip } from '../../../src/codecs/gzip.js';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { defineDestination, type DestinationDef } from '../../../src/core/component.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { registry } from '../../../src/core/registry.js';
import { LocalDestination } from '../../../src/destinations/local.js';
import { ftpConfig, FtpDestination } from '../../../src/destinations/ftp.js';
import { sftpConfig, SftpDestination } from '../../../src/destinations/sftp.js';
import type { Destination, PutOptions } from '../../../src/destinations/types.js';
import { runPipeline } from '../../../src/engine/run.js';
import { ladingError } from '../../../src/errors/lading-error.js';
import { csv } from '../../../src/formats/csv.js';
import { fileSink } from '../../../src/sinks/file/file.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/store.js';
import { startFtpServer, type FtpServer } from '../../support/servers/ftp.js';
import { startSshd, type Sshd } from '../../support/servers/sshd.js';
import { tempDir } from '../../support/tmp.js';

type CrashPoint = 'after_upload' | 'after_publish';

/** Wraps a real destination: the armed put stops at `crash`, as if the process died there. Counts the puts that reach the server. */
function crashing(inner: Destination, plan: { crash: CrashPoint | undefined; puts: string[] }): Destination {
  const crash = () => ladingError('UNCLASSIFIED', 'injected crash');
  return Object.assign(Object.create(inner) as Destination, {
    put: async (name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions) => {
      plan.puts.push(name);
      const point = plan.crash;
      plan.crash = undefined;
      if (point === 'after_upload') {
        await inner.put(name, body, { ...opts, onUploaded: async (temp) => { await opts.onUploaded?.(temp); throw crash(); } });
      }
      const receipt = await inner.put(name, body, opts);
      if (point === 'after_publish') throw crash();
      return receipt;
    },
  });
}

interface Remote {
  readonly destination: (dir: string, store: SqliteStore) => Destination;
  /** Files under the delivery folder. */
  readonly list: (dir: string) => string[];
  readonly read: (dir: string, name: string) => Buffer;
}

async function scenario(remote: Remote, crash: CrashPoint) {
  const dir = tempDir();
  const store: SqliteStore = await openSqliteStore(join(dir, 'lading.db'));
  const plan: { crash: CrashPoint | undefined; puts: string[] } = { crash, puts: [] };
  const def = defineDestination({
    type: 'crashing', summary: 'test: a real destination that stops between steps',
    schema: z.object({ type: z.literal('crashing') }).strict(),
    create: () => crashing(remote.destination(dir, store), plan),
  }) as unknown as DestinationDef;
  const reg = { ...registry, destinations: [def], sinks: [fileSink({ formats: [csv], codecs: [gzip], destinations: [def] })] };
  const ids = sequentialIds();
  const pipeline = parsePipeline({
    name: 'crashy', source: { type: 'inbox' }, delivery: { retry: { attempts: 1 } },
    output: { type: 'file', format: 'csv', compression: 'gzip', checksum: 'sha256', split: { max_records: 2 }, naming: 'leads_{time}_{batch_id}_{part}.{ext}', destination: { type: 'local', path: 'out' } },
  }, { env: {} });
  const loaded = { ...pipeline, config: { ...pipeline.config, output: { ...(pipeline.config.output as object), destination: { type: 'crashing' } } as never }, baseDir: dir, origin: '<t>' };
  // Each run starts at another time, so a name rendered afresh would differ from the first run's.
  const run = (at: string) => runPipeline(loaded, { store, dataDir: join(dir, '.lading'), clock: fixedClock(at), ids, registry: reg });
  await store.ingest('crashy', [{ data: { n: 1 } }, { data: { n: 2 } }, { data: { n: 3 } }], new Date('2026-01-02T00:00:00Z'));
  return { dir, store, plan, run };
}

function describeCrashes(name: string, remote: () => Remote) {
  describe(`delivery across a crash: ${name}`, () => {
    test('stopped after the upload, before the rename: the next run renames the left-over temp file instead of sending it again', async () => {
      const { dir, store, plan, run } = await scenario(remote(), 'after_upload');
      const first = await run('2026-01-02T01:00:00Z');
      assert.equal(first.status, 'failed');
      assert.deepEqual(remote().list(dir), ['leads_010000_batch_0001_1.csv.gz.tmp'], 'the crash left complete bytes under the temp name');
      const [pending] = await store.listDeliveries({ pipeline: 'crashy', states: ['failed'] });
      assert.equal(pending?.tempName, 'leads_010000_batch_0001_1.csv.gz.tmp');

      plan.puts.length = 0;
      const second = await run('2026-01-02T02:00:00Z');
      assert.equal(second.status, 'completed');
      assert.equal(second.batch_id, 'batch_0001', 'the same batch');
      assert.deepEqual(second.artifacts.files.map((f) => f.name), ['leads_010000_batch_0001_1.csv.gz', 'leads_010000_batch_0001_2.csv.gz'], 'parts keep the first run\'s names');
      assert.ok(!plan.puts.includes('leads_010000_batch_0001_1.csv.gz'), 'part 1 was renamed, not sent again');
      assert.deepEqual(remote().list(dir), [
        'leads_010000_batch_0001_1.csv.gz', 'leads_010000_batch_0001_1.csv.gz.sha256', 'leads_010000_batch_0001_2.csv.gz', 'leads_010000_batch_0001_2.csv.gz.sha256',
      ]);
      const sidecar = remote().read(dir, 'leads_010000_batch_0001_1.csv.gz.sha256').toString();
      assert.equal(sidecar, `${second.artifacts.files[0]!.sha256}  leads_010000_batch_0001_1.csv.gz\n`);
      const part1 = (await store.listDeliveries({ pipeline: 'crashy' })).find((d) => d.part === '1')!;
      assert.deepEqual((await store.deliverySteps(part1.id)).map((s) => s.state), ['sealed', 'rendered', 'uploading', 'failed', 'published', 'verified']);
      assert.equal(existsSync(join(dir, '.lading', 'staging')) ? readdirSync(join(dir, '.lading', 'staging')).length : 0, 1, 'only the failed run\'s staging folder is left');
      await store.close();
    });

    test('stopped after the rename, before the store heard of it: the next run finds the file and does not send it again', async () => {
      const { dir, store, plan, run } = await scenario(remote(), 'after_publish');
      assert.equal((await run('2026-01-02T01:00:00Z')).status, 'failed');
      plan.puts.length = 0;
      const second = await run('2026-01-02T02:00:00Z');
      assert.equal(second.status, 'completed');
      assert.ok(!plan.puts.includes('leads_010000_batch_0001_1.csv.gz'), 'part 1 was found, not sent again');
      assert.deepEqual(remote().list(dir).filter((f) => !f.endsWith('.sha256')), ['leads_010000_batch_0001_1.csv.gz', 'leads_010000_batch_0001_2.csv.gz']);
      assert.deepEqual((await store.listDeliveries({ pipeline: 'crashy' })).map((d) => d.state), ['verified', 'verified', 'verified', 'verified']);

      plan.puts.length = 0;
      await store.ingest('crashy', [{ data: { n: 4 } }], new Date('2026-01-02T03:00:00Z'));
      const next = await run('2026-01-02T03:00:00Z');
      assert.deepEqual(next.artifacts.files.map((f) => f.name), ['leads_030000_batch_0002_1.csv.gz'], 'a new batch gets names of its own');
      await store.close();
    });
  });
}

const localRemote: Remote = {
  destination: (dir) => new LocalDestination(join(dir, 'out'), true),
  list: (dir) => (existsSync(join(dir, 'out')) ? readdirSync(join(dir, 'out')).sort() : []),
  read: (dir, name) => readFileSync(join(dir, 'out', name)),
};
describeCrashes('local', () => localRemote);

let sshd: Sshd | undefined;
let n = 0;
const folders = new Map<string, string>();
before(async () => {
  sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});
describeCrashes('sftp (OpenSSH sshd on loopback)', () => ({
  destination: (dir, store) => {
    const server = sshd!;
    if (!folders.has(dir)) folders.set(dir, join(server.root, `crash-${++n}`));
    const config = sftpConfig.parse({
      type: 'sftp', host: server.host, port: server.port, username: server.username, private_key: server.privateKey, host_key: server.hostKeyFingerprint, remote_path: folders.get(dir)!,
    });
    return new SftpDestination(config, { baseDir: dir, store });
  },
  list: (dir) => (existsSync(folders.get(dir) ?? '/nonexistent') ? readdirSync(folders.get(dir)!).sort() : []),
  read: (dir, name) => readFileSync(join(folders.get(dir)!, name)),
}));

let ftpServer: FtpServer | undefined;
before(async () => {
  ftpServer = await startFtpServer();
});
after(async () => {
  await ftpServer?.stop();
});
describeCrashes('ftp (ftp-srv on loopback)', () => ({
  destination: (dir) => {
    const server = ftpServer!;
    if (!folders.has(dir)) folders.set(dir, `ftp-crash-${++n}`);
    const config = ftpConfig.parse({ type: 'ftp', host: server.host, port: server.port, username: server.username, password: server.password, remote_path: `/${folders.get(dir)!}` });
    return new FtpDestination(config, dir);
  },
  list: (dir) => (existsSync(join(ftpServer!.root, folders.get(dir) ?? '/nonexistent')) ? readdirSync(join(ftpServer!.root, folders.get(dir)!)).sort() : []),
  read: (dir, name) => readFileSync(join(ftpServer!.root, folders.get(dir)!, name)),
}));
