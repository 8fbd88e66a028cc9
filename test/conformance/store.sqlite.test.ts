/**
 * Runs the Store conformance suite against a real SQLite file in WAL mode (not :memory:), plus
 * what only SQLite has: several connections and processes on one file, lock classification, and
 * the on-disk settings.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LadingError } from '../../src/errors/lading-error.js';
import { IngestThread } from '../../src/store/sqlite/ingest-thread.js';
import { openSqliteStore, SqliteStore } from '../../src/store/sqlite/store.js';
import type { Batch } from '../../src/store/types.js';
import { rejects } from '../support/errors.js';
import { describeStore } from './store.suite.js';

async function tempDbPath(): Promise<{ path: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'lading-store-'));
  // A nested folder that does not exist yet: openSqliteStore creates it.
  return { dir, path: join(dir, 'data', 'lading.db') };
}

describeStore('sqlite (WAL file)', async () => {
  const { dir, path } = await tempDbPath();
  const open: SqliteStore[] = [await openSqliteStore(path)];
  return {
    store: open[0]!,
    async reopen() {
      const store = await openSqliteStore(path);
      open.push(store);
      return store;
    },
    async cleanup() {
      for (const store of open) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// Again with every API ingest group committed on the ingest thread (its own connection), as
// `lading serve` commits its large ones, and the reconciliation read on the read thread: the
// threads must store and answer exactly as the store does.
describeStore('sqlite (WAL file, ingest and read threads)', async () => {
  const { dir, path } = await tempDbPath();
  const options = { ingestThread: true, readThread: true };
  const open: SqliteStore[] = [await openSqliteStore(path, options)];
  return {
    store: open[0]!,
    async reopen() {
      const store = await openSqliteStore(path, options);
      open.push(store);
      return store;
    },
    async cleanup() {
      for (const store of open) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore on a shared file', () => {
  let dir: string;
  let path: string;
  before(async () => ({ dir, path } = await tempDbPath()));
  after(async () => rm(dir, { recursive: true, force: true }));

  test('with the read thread, the event loop turns while a reconciliation reads', async () => {
    const store = await openSqliteStore(path, { readThread: true });
    try {
      await store.ingest('leads', [{ data: { n: 1 } }], new Date('2024-05-01T10:00:00Z'));
      let turned = false;
      setImmediate(() => { turned = true; });
      const [row] = await store.reconcile({ from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-05-02T00:00:00Z') });
      assert.equal(row?.accepted, 1);
      assert.ok(turned, 'a callback queued as the reconciliation began ran before it answered');
    } finally {
      await store.close();
    }
  });

  test('the file is in WAL mode and the description is its path', async () => {
    const store = await openSqliteStore(path);
    try {
      assert.equal(store.description, path);
      const raw = new Database(path, { readonly: true });
      try {
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
        assert.deepEqual(raw.prepare('SELECT version, name FROM lading_migrations ORDER BY version').all()[0], { version: 1, name: '0001_init' });
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });

  /** A store on its own connection at synchronous=FULL (read back by the tests), holding the run `runId`. */
  async function storeAtFull(runId: string): Promise<{ db: Database.Database; wrapped: SqliteStore }> {
    await (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.pragma('synchronous = FULL');
    const wrapped = new SqliteStore(db, path);
    await wrapped.createRun({ id: runId, pipeline: 'p', mode: 'full', batchId: null, source: 's', config: null, createdAt: new Date(0) });
    return { db, wrapped };
  }

  test('a chunk commit that need not be durable leaves the connection at synchronous=FULL for the next writes', async () => {
    const { db, wrapped } = await storeAtFull('run_sync');
    try {
      await wrapped.commitChunk('run_sync', { index: 0, lastSeq: 1, processed: 1, succeeded: 1, failed: 0, warnings: 0, errors: [], at: new Date(1), durable: false });
      assert.equal(db.pragma('synchronous', { simple: true }), 2);
      assert.equal((await wrapped.getRun('run_sync'))?.processed, 1);
    } finally {
      await wrapped.close();
    }
  });

  test('a durable chunk commit syncs the WAL file itself, fails as STORE_FAILED when it cannot, and leaves the connection at FULL', async () => {
    const { db, wrapped } = await storeAtFull('run_wal');
    const commit = (index: number) => wrapped.commitChunk('run_wal', { index, lastSeq: index + 1, processed: 1, succeeded: 1, failed: 0, warnings: 0, errors: [], at: new Date(index) });
    try {
      // The WAL file gone from its folder (SQLite goes on writing to the handle it holds): the
      // commit is written, but lading cannot open the WAL to fdatasync it, and says so.
      await unlink(`${path}-wal`);
      const error = await rejects(commit(0), 'STORE_FAILED');
      assert.match(error.message, /^sqlite: commitChunk: fdatasync .*lading\.db-wal/);
      assert.equal(db.pragma('synchronous', { simple: true }), 2);
      assert.equal((await wrapped.getRun('run_wal'))?.processed, 1);
      // Several chunks at once fail alike, named after the call that was made.
      const chunks = [1, 2].map((index) => ({ index, lastSeq: index + 1, processed: 1, succeeded: 1, failed: 0, warnings: 0, errors: [], at: new Date(index) }));
      const together = await rejects(wrapped.commitChunks('run_wal', chunks), 'STORE_FAILED');
      assert.match(together.message, /^sqlite: commitChunks: fdatasync .*lading\.db-wal/);
      assert.equal((await wrapped.getRun('run_wal'))?.processed, 3);
    } finally {
      await wrapped.close();
    }
  });

  test('two connections taking turns see each other\'s cuts and never share a record', async () => {
    const a = await openSqliteStore(path);
    const b = await openSqliteStore(path);
    try {
      await a.ingest('turns', Array.from({ length: 500 }, (_, n) => ({ data: { n } })), new Date(0));
      const cut = async (store: SqliteStore, name: string): Promise<Batch[]> => {
        const batches: Batch[] = [];
        for (let i = 0; ; i++) {
          const batch = await store.cutBatch('turns', { id: `${name}-${i}`, at: new Date(0), reason: 'manual', maxRecords: 7 });
          if (batch === null) return batches;
          batches.push(batch);
          await new Promise((resolve) => setImmediate(resolve)); // let the other connection in
        }
      };
      const [fromA, fromB] = await Promise.all([cut(a, 'a'), cut(b, 'b')]);
      assert.ok(fromA.length > 0 && fromB.length > 0, 'both connections cut');
      const members = await Promise.all([...fromA, ...fromB].map((batch) => a.readBatch(batch.id, 0, 1000)));
      const ns = members.flat().map((m) => m.data.n as number).sort((x, y) => x - y);
      assert.deepEqual(ns, Array.from({ length: 500 }, (_, n) => n));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('processes cutting concurrently while another ingests: every record lands in exactly one batch', async () => {
    const pipeline = 'concurrent';
    const seed = await openSqliteStore(path);
    await seed.ingest(pipeline, Array.from({ length: 3000 }, (_, n) => ({ data: { n } })), new Date(0));
    await seed.close();

    const storeUrl = new URL('../../src/store/sqlite/store.ts', import.meta.url).href;
    // Each child opens the store, prints "ready", waits for "go" on stdin (so all start together),
    // then works and prints the batches it cut ({ id, records }) as JSON.
    const script = `
      const { openSqliteStore } = await import(${JSON.stringify(storeUrl)});
      const store = await openSqliteStore(process.env.DB_PATH);
      process.stdout.write('ready\\n');
      await new Promise((resolve) => process.stdin.once('data', resolve));
      const cut = [];
      if (process.env.ROLE === 'ingest') {
        for (let call = 0; call < 20; call++) {
          await store.ingest(${JSON.stringify(pipeline)}, Array.from({ length: 100 }, (_, i) => ({ data: { n: 3000 + call * 100 + i } })), new Date());
        }
      } else {
        for (let i = 0; ; i++) {
          const batch = await store.cutBatch(${JSON.stringify(pipeline)}, { id: process.env.NAME + '-' + i, at: new Date(), reason: 'manual', maxRecords: 1 + Math.floor(Math.random() * 10) });
          if (batch === null) break;
          cut.push({ id: batch.id, records: batch.records });
          await new Promise((resolve) => setTimeout(resolve, 1)); // a real cutter does not spin
        }
      }
      await store.close();
      process.stdout.write(JSON.stringify(cut));
    `;
    const roles = [['cut', 'p1'], ['cut', 'p2'], ['cut', 'p3'], ['ingest', 'ingester']] as const;
    const children = roles.map(([role, name]) => {
      const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
        env: { ...process.env, DB_PATH: path, ROLE: role, NAME: name },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      const ready = new Promise<void>((resolve) => {
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.startsWith('ready\n')) resolve();
        });
      });
      proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const done = new Promise<{ id: string; records: number }[]>((resolve, reject) => {
        proc.on('error', reject);
        proc.on('close', (status) =>
          status === 0 ? resolve(JSON.parse(out.slice('ready\n'.length)) as { id: string; records: number }[]) : reject(new Error(`${name} exited ${status}: ${err}`)));
      });
      return { proc, ready: Promise.race([ready, done.then(() => undefined)]), done };
    });
    try {
      await Promise.all(children.map((c) => c.ready));
    } catch (error) {
      for (const c of children) c.proc.kill(); // the ones still waiting for "go"
      throw error;
    }
    for (const c of children) c.proc.stdin.end('go\n');

    const results = await Promise.all(children.map((c) => c.done));
    const store = await openSqliteStore(path);
    try {
      const drained = await store.cutBatch(pipeline, { id: 'drain', at: new Date(), reason: 'manual' });
      const batches = [...results.flat(), ...(drained === null ? [] : [drained])];
      assert.ok(results.slice(0, 3).filter((cut) => cut.length > 0).length >= 2, 'at least two processes cut batches');
      const members = await Promise.all(batches.map((batch) => store.readBatch(batch.id, 0, 10_000)));
      // Membership is frozen at cut time: each batch still holds exactly the records its cut counted.
      assert.deepEqual(members.map((m) => m.length), batches.map((batch) => batch.records));
      const ns = members.flat().map((m) => m.data.n as number);
      assert.equal(new Set(ns).size, ns.length, 'no record in two batches');
      assert.deepEqual(ns.sort((x, y) => x - y), Array.from({ length: 5000 }, (_, n) => n), 'every record in a batch');
      assert.equal((await store.inboxStats(pipeline)).pending, 0);
    } finally {
      await store.close();
    }
  });

  /** Runs `body` while another connection holds the file's write lock, then lets it go. */
  async function whileLocked(body: () => Promise<void>): Promise<void> {
    const holder = new Database(path);
    try {
      holder.exec('BEGIN IMMEDIATE');
      await body();
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  }

  /** A transient STORE_BUSY named after the store operation that met the lock. */
  async function rejectsBusy(promise: Promise<unknown>, operation: string): Promise<void> {
    const error = await rejects(promise, 'STORE_BUSY');
    assert.equal(error.transient, true);
    assert.ok(error.message.startsWith(`sqlite: ${operation}:`), error.message);
  }

  test('a write blocked by another connection\'s lock fails as the transient STORE_BUSY', async () => {
    const store = await openSqliteStore(path, { busyTimeoutMs: 20 });
    try {
      await whileLocked(() => rejectsBusy(store.ingest('busy', [{ data: { n: 1 } }], new Date(0)), 'ingest'));
      assert.deepEqual(await store.ingest('busy', [{ data: { n: 1 } }], new Date(0)), { accepted: 1, duplicates: 0 });
    } finally {
      await store.close();
    }
  });

  test('the ingest thread\'s lock wait fails as the transient STORE_BUSY, classified as the store\'s own', async () => {
    const store = await openSqliteStore(path, { busyTimeoutMs: 20, ingestThread: true });
    const request = { pipeline: 'busy-thread', records: [{ data: { n: 1 } }, { data: { n: 2 } }] };
    try {
      await whileLocked(() => rejectsBusy(store.ingestRequests([request], new Date(0)), 'ingestRequests'));
      assert.deepEqual(await store.ingestRequests([request], new Date(0)), [{ accepted: 2, duplicates: 0, replayed: false }]);
      assert.equal((await store.inboxStats('busy-thread')).pending, 2);
    } finally {
      await store.close();
    }
  });

  test('an ingest thread that stopped is replaced by the next call', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lading-thread-'));
    const blocker = join(root, 'data');
    await writeFile(blocker, 'a file where the database folder should be');
    const threadPath = join(blocker, 'lading.db');
    const thread = new IngestThread({ path: threadPath, options: {} });
    const request = { pipeline: 'again', records: [{ data: { n: 1 } }] };
    try {
      // The thread cannot open its database and stops; the call fails with the thread's reason.
      await assert.rejects(thread.requests([request], new Date(0).toISOString()), (error: Error) => /^EEXIST: file already exists, mkdir/.test(error.message));
      await rm(blocker);
      const store = await openSqliteStore(threadPath); // the folder and the tables, as lading serve has them
      try {
        assert.deepEqual(await thread.requests([request], new Date(0).toISOString()), [{ accepted: 1, duplicates: 0, replayed: false }]);
        assert.equal((await store.inboxStats('again')).pending, 1);
      } finally {
        await store.close();
      }
    } finally {
      await thread.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  test('the ingest thread stores what the store itself would: JSON as text or bytes, keys, priorities, several requests a group', async () => {
    const store = await openSqliteStore(path, { ingestThread: true });
    const body = Buffer.from('{"id":"v1","note":"Zoë ✓"}\n  {"id":"v2"}\t\n');
    try {
      const outcomes = await store.ingestRequests([
        { pipeline: 'thread-a', requestKey: 'req', extra: [{ index: 9 }], records: [
          { json: body.subarray(0, body.indexOf(0x0a)), key: 'k1', priority: 5 },
          { json: body.subarray(body.indexOf(0x0a) + 1, body.length - 1) },
          { json: ' {"id":"s1"} ', key: 'k1' },
          { data: { id: 'd1' }, priority: 1 },
        ] },
        { pipeline: 'thread-b', records: [{ data: { id: 'other' }, key: 'k1' }] },
        { pipeline: 'thread-b', records: [{ json: '{"id":"plain"}' }, { json: '{"id":"plain2"}' }] },
        { pipeline: 'thread-a', requestKey: 'req', extra: [{ index: 1 }], records: [{ data: { id: 'resent' } }] },
      ], new Date(0));
      assert.deepEqual(outcomes, [
        { accepted: 3, duplicates: 1, replayed: false, extra: [{ index: 9 }] },
        { accepted: 1, duplicates: 0, replayed: false },
        { accepted: 2, duplicates: 0, replayed: false },
        { accepted: 3, duplicates: 1, replayed: true, extra: [{ index: 9 }] },
      ]);
      assert.equal((await store.inboxStats('thread-b')).pending, 3);
      const stats = await store.inboxStats('thread-a');
      assert.deepEqual(stats.priorities, [{ priority: 5, count: 1 }, { priority: 1, count: 1 }]);
      assert.equal(stats.bytes, Buffer.byteLength('{"id":"v1","note":"Zoë ✓"}{"id":"v2"}{"id":"d1"}'));
      await store.cutBatch('thread-a', { id: 'batch_thread', at: new Date(1), reason: 'manual' });
      assert.deepEqual((await store.readBatch('batch_thread', 0, 10)).map((r) => r.data), [{ id: 'v1', note: 'Zoë ✓' }, { id: 'v2' }, { id: 'd1' }]);
      assert.deepEqual(await store.ingestRequests([{ pipeline: 'thread-a', requestKey: 'req', records: [{ data: { id: 'x' } }] }], new Date(2)),
        [{ accepted: 3, duplicates: 1, replayed: true, extra: [{ index: 9 }] }]);
    } finally {
      await store.close();
    }
  });

  test('groups handed to the ingest thread while it holds others are committed in the order they were sent, each answered as its own', async () => {
    const store = await openSqliteStore(path, { ingestThread: true });
    try {
      assert.equal(store.ingestDepth, 4, 'the API may hand over the next groups before the first is answered');
      const large = { pipeline: 'order', requestKey: 'k', extra: ['first'], records: [{ data: { n: 1 } }, { data: { n: 2 } }] };
      const small = { pipeline: 'order', requestKey: 'k', extra: ['again'], records: [{ data: { n: 3 } }] };
      const keyed = { pipeline: 'order', records: [{ data: { n: 4 }, key: 'four' }, { data: { n: 5 }, key: 'four' }] };
      const plain = { pipeline: 'order-b', records: [{ json: '{"n":6}' }] };
      // Committed first, the small group would store its record and the large one would be the
      // replay; the thread may take the later groups together into one transaction, or not.
      const answers = await Promise.all([
        store.ingestRequests([large], new Date(0)), store.ingestRequests([small], new Date(1)),
        store.ingestRequests([keyed, plain], new Date(2)), store.ingestRequests([plain], new Date(3)),
      ]);
      assert.deepEqual(answers, [
        [{ accepted: 2, duplicates: 0, replayed: false, extra: ['first'] }],
        [{ accepted: 2, duplicates: 0, replayed: true, extra: ['first'] }],
        [{ accepted: 1, duplicates: 1, replayed: false }, { accepted: 1, duplicates: 0, replayed: false }],
        [{ accepted: 1, duplicates: 0, replayed: false }],
      ]);
      assert.equal((await store.inboxStats('order')).pending, 3);
      assert.equal((await store.inboxStats('order-b')).pending, 2);
    } finally {
      await store.close();
    }
  });

  test('a claim that finds no work does not wait for another connection\'s write lock', async () => {
    const store = await openSqliteStore(path, { busyTimeoutMs: 20 });
    try {
      // An idle worker polls all the time: behind an ingest commit it used to fail (or stall the event loop) here.
      await whileLocked(async () => assert.equal(await store.claimChunk('idle-worker', 1000, new Date(0)), null));
    } finally {
      await store.close();
    }
  });

  test('a database migrated by a newer lading is refused with STORE_SCHEMA_NEWER', async () => {
    const { dir: newerDir, path: newer } = await tempDbPath();
    try {
      await (await openSqliteStore(newer)).close();
      const raw = new Database(newer);
      raw.prepare('INSERT INTO lading_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(9999, '9999_future', new Date(0).toISOString());
      raw.close();
      await assert.rejects(openSqliteStore(newer), (error: unknown) => {
        assert.ok(error instanceof LadingError);
        assert.equal(error.code, 'STORE_SCHEMA_NEWER');
        assert.match(error.message, /9999/);
        return true;
      });
    } finally {
      await rm(newerDir, { recursive: true, force: true });
    }
  });
});
