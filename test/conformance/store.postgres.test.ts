/**
 * Runs the Store conformance suite against PostgreSQL (LADING_TEST_POSTGRES_URL), each test in a
 * database of its own, plus what only a shared server has: concurrent cutters and migrators.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { LadingError } from '../../src/errors/lading-error.js';
import { loadMigrations, runMigrations } from '../../src/store/migrate.js';
import { openPostgresStore, postgresMigrationDriver, postgresMigrationsDir, PostgresStore } from '../../src/store/postgres/store.js';
import type { Batch } from '../../src/store/types.js';
import { postgresSkip, scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { describeStore } from './store.suite.js';

if (postgresSkip) {
  test('Store conformance: postgres', { skip: postgresSkip }, () => {});
} else {
  describeStore('postgres', async () => {
    const db = await scratchDatabase();
    const open: PostgresStore[] = [await openPostgresStore(db.url)];
    return {
      store: open[0]!,
      async reopen() {
        const store = await openPostgresStore(db.url);
        open.push(store);
        return store;
      },
      async cleanup() {
        for (const store of open) await store.close();
        await db.drop();
      },
    };
  });
}

/** A scratch database migrated up to (not including) `version`, as an older lading left it, and a client on it. */
async function migratedBefore(version: number): Promise<{ old: ScratchDatabase; client: pg.Client }> {
  const old = await scratchDatabase();
  const pool = new pg.Pool({ connectionString: old.url });
  await runMigrations(postgresMigrationDriver(pool), (await loadMigrations(postgresMigrationsDir())).filter((m) => m.version < version), { description: 'test' });
  await pool.end();
  const client = new pg.Client({ connectionString: old.url });
  await client.connect();
  return { old, client };
}

describe('PostgresStore on a shared database', { skip: postgresSkip }, () => {
  let db: ScratchDatabase;
  before(async () => (db = await scratchDatabase()));
  after(async () => db.drop());

  test('a chunk commit and an ingest group run as statements prepared once per connection, each commit variant under its own name', async () => {
    // One connection, so the session that ran the store's statements is the one asked about them.
    // (A plain pool: counters come back as text, which the assertions below allow for.)
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const store = new PostgresStore(pool, 'test');
    try {
      await store.migrate();
      const at = new Date('2026-12-06T12:00:00Z');
      await store.createRun({ id: 'run_prepared', createdAt: at, batchId: null, pipeline: 'prepared', mode: 'full', source: 'test', config: { name: 'prepared' } });
      const commit = (index: number, durable?: false) => store.commitChunk('run_prepared', {
        index, lastSeq: (index + 1) * 10, processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at, ...(durable === undefined ? {} : { durable }),
      });
      await commit(0);
      await commit(1);
      await commit(2, false);
      await store.ingestRequests([{ pipeline: 'prepared', records: [{ data: { id: 1 } }] }], at);
      await store.ingestRequests([{ pipeline: 'prepared', records: [{ data: { id: 2 } }] }], at);
      const { rows } = await pool.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name LIKE 'lading_%' ORDER BY name");
      assert.deepEqual(rows.map((r) => r.name), ['lading_commit_chunk', 'lading_commit_chunk_relaxed', 'lading_ingest_insert', 'lading_ingest_totals']);
      assert.equal(Number((await store.getRun('run_prepared'))?.processed), 30, 'the prepared commits did their work');
      assert.equal(Number((await store.inboxStats('prepared')).pending), 2);
    } finally {
      await store.close();
    }
  });

  test('the description is the URL without user or password', async () => {
    const url = new URL(db.url);
    url.username = 'lading';
    url.password = 's3cret';
    // Only the description is checked: the server may not know this user.
    const store = await openPostgresStore(url.href, { migrate: false });
    try {
      assert.equal(store.description, `postgres://${url.host}${url.pathname}`);
      assert.doesNotMatch(store.description, /s3cret|lading@/);
    } finally {
      await store.close();
    }
  });

  test('two stores cutting at once never put one record into two batches', async () => {
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      await a.ingest('race', Array.from({ length: 2000 }, (_, n) => ({ data: { n } })), new Date(0));
      const cut = async (store: PostgresStore, name: string): Promise<Batch[]> => {
        const batches: Batch[] = [];
        for (let i = 0; ; i++) {
          const batch = await store.cutBatch('race', { id: `${name}-${i}`, at: new Date(0), reason: 'manual', maxRecords: 1 + (i % 13) });
          if (batch === null) return batches;
          batches.push(batch);
        }
      };
      // Several cutters per store: their transactions overlap on separate pooled connections.
      const results = await Promise.all([cut(a, 'a1'), cut(a, 'a2'), cut(b, 'b1'), cut(b, 'b2')]);
      assert.ok(results.filter((r) => r.length > 0).length >= 2, 'several cutters took batches');
      const batches = results.flat();
      const members = await Promise.all(batches.map((batch) => a.readBatch(batch.id, 0, 10_000)));
      assert.deepEqual(members.map((m) => m.length), batches.map((batch) => batch.records), 'each batch holds what its cut counted');
      const ns = members.flat().map((m) => m.data.n as number);
      assert.equal(new Set(ns).size, ns.length, 'no record in two batches');
      assert.deepEqual(ns.sort((x, y) => x - y), Array.from({ length: 2000 }, (_, n) => n), 'every record in a batch');
      assert.equal((await a.inboxStats('race')).pending, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a record inserted before a cut and committed after it is never skipped: the cut waits for it', async () => {
    const store = await openPostgresStore(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // The open transaction takes the lower id; a record inserted after it takes a higher one and commits first.
      // It writes what the store's ingest writes: the record, and before it commits its arrival and the pipeline's totals.
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(`INSERT INTO inbox_records (pipeline, data, bytes, received_at) VALUES ('inflight', '{"n":1}', 7, now()) RETURNING id`);
      await store.ingest('inflight', [{ data: { n: 2 } }], new Date());
      let cutDone = false;
      const cut = store.cutBatch('inflight', { id: 'inflight-b1', at: new Date(), reason: 'manual' }).finally(() => (cutDone = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(cutDone, false, 'the cut waits for the insert in flight');
      await client.query(`INSERT INTO inbox_arrivals (pipeline, received_at, last_id) VALUES ('inflight', now(), $1)`, [rows[0]!.id]);
      await client.query(`INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id) VALUES (now(), 'inflight', $1, $1)`, [rows[0]!.id]);
      await client.query(`UPDATE inbox_totals SET records = records + 1, bytes = bytes + 7 WHERE pipeline = 'inflight'`);
      await client.query('COMMIT');
      const batch = await cut;
      assert.deepEqual((await store.readBatch(batch!.id, 0, 10)).map((r) => r.data.n), [1, 2], 'both records, the one committed last included');
      assert.deepEqual(await store.inboxStats('inflight'), { pending: 0, bytes: 0, oldest: null, priorities: [] });
    } finally {
      await client.end();
      await store.close();
    }
  });

  test('a batch cut before ranges (0011) keeps its records; the records pending around it go to the next cut', async () => {
    // A database as it was before 0011, with an old batch and records pending around it; the store upgrades it.
    const { old, client } = await migratedBefore(11);
    let store: PostgresStore | undefined;
    try {
      await client.query(`INSERT INTO batches (id, pipeline, records, bytes, cut_at, reason) VALUES ('old', 'before', 2, 14, now(), 'manual')`);
      for (const [n, batch] of [[1, null], [2, 'old'], [3, 'old'], [4, null]] as const) {
        await client.query('INSERT INTO inbox_records (pipeline, data, bytes, received_at, batch_id) VALUES ($1, $2, 7, $3, $4)', ['before', { n }, new Date(Date.UTC(2024, 2, 1, 9, 0, n)), batch]);
      }
      store = await openPostgresStore(old.url);
      const upgraded = store;
      const read = async (batch: string) => (await upgraded.readBatch(batch, 0, 10)).map((r) => r.data.n);
      const json = async (batch: string) => (await upgraded.readBatchJson(batch, 0, 10)).json.map((text) => (JSON.parse(text) as { n: number }).n);
      assert.deepEqual(await upgraded.inboxStats('before'), { pending: 2, bytes: 14, oldest: new Date(Date.UTC(2024, 2, 1, 9, 0, 1)), priorities: [] });
      assert.deepEqual([await read('old'), await json('old')], [[2, 3], [2, 3]]);
      // Reconciliation finds a record's batch by its batch_id, by the range holding it, or none while pending.
      const day = { from: new Date(Date.UTC(2024, 2, 1)), to: new Date(Date.UTC(2024, 2, 2)) };
      const reconciled = async () => (await upgraded.reconcile(day)).map((r) => [r.accepted, r.batched, r.openBatches.map((b) => [b.batchId, b.records])]);
      assert.deepEqual(await reconciled(), [[4, 2, [['old', 2]]]]);
      const next = await upgraded.cutBatch('before', { id: 'new', at: new Date(), reason: 'manual' });
      assert.equal(next?.records, 2);
      assert.deepEqual([await read('new'), await json('new')], [[1, 4], [1, 4]]);
      const ids = (await client.query<{ id: number }>(`SELECT id FROM inbox_records WHERE pipeline = 'before' ORDER BY id`)).rows.map((r) => Number(r.id));
      const batchOf = async (id: number) => (await upgraded.findInboxRecords(`inbox:${id}`)).map((r) => r.batchId);
      assert.deepEqual(await Promise.all(ids.map(batchOf)), [['new'], ['old'], ['old'], ['new']]);
      assert.deepEqual(await reconciled(), [[4, 4, [['old', 2], ['new', 2]]]]);
      assert.deepEqual(await upgraded.inboxStats('before'), { pending: 0, bytes: 0, oldest: null, priorities: [] });
    } finally {
      await client.end();
      await store?.close();
      await old.drop();
    }
  });

  test('0013: a window\'s records, stored before or after, are found through the commit log; purge drops the commits of purged records', async () => {
    // A database as it was before 0013, with records of two pipelines interleaved by id, two of them sharing an instant.
    const { old, client } = await migratedBefore(13);
    const at = (time: string) => new Date(`2024-03-01T${time}Z`);
    let store: PostgresStore | undefined;
    try {
      for (const [pipeline, n, time] of [['p', 1, '09:00:01'], ['p', 2, '09:00:01'], ['q', 3, '09:00:01'], ['p', 4, '09:00:02'], ['p', 5, '09:30:00']] as const) {
        // A fresh database: the record's id is n.
        await client.query('INSERT INTO inbox_records (pipeline, data, bytes, received_at) VALUES ($1, $2, 7, $3)', [pipeline, { n }, at(time)]);
      }
      store = await openPostgresStore(old.url);
      const upgraded = store;
      const window = (from: string, to: string, pipeline?: string) => ({ from: at(from), to: at(to), ...(pipeline === undefined ? {} : { pipeline }) });
      const accepted = async (w: ReturnType<typeof window>) => (await upgraded.reconcile(w)).map((r) => [r.pipeline, r.accepted]);
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00')), [['p', 3], ['q', 1]]);
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00', 'q')), [['q', 1]]);
      assert.deepEqual(await accepted(window('09:00:02', '10:00:00')), [['p', 2]]);
      assert.deepEqual(await accepted(window('10:00:00', '11:00:00')), []);
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'inbox_by_received'`)).rows[0].n, 0);

      await upgraded.cutBatch('p', { id: 'b1', at: at('10:00:00'), reason: 'manual' });
      await client.query(`UPDATE batches SET status = 'delivered', delivered_at = $1 WHERE id = 'b1'`, [at('10:01:00')]);
      await upgraded.ingest('p', [{ data: { n: 6 } }], at('09:05:00'));
      assert.equal((await upgraded.purge({ pipeline: 'p', records: new Date('2024-03-02T00:00:00Z') })).records, 4);
      const commits = await client.query<{ pipeline: string; first_id: string; last_id: string }>('SELECT pipeline, first_id, last_id FROM inbox_commits ORDER BY received_at, pipeline');
      assert.deepEqual(commits.rows.map((c) => [c.pipeline, Number(c.first_id), Number(c.last_id)]), [['q', 3, 3], ['p', 6, 6]], "p's purged commits are gone; q's and the new one stay");
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00')), [['p', 1], ['q', 1]]);
      // A commit whose records are all gone (purge keeps those above an older record left) names nothing.
      await client.query(`INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id) VALUES ($1, 'p', 100, 100)`, [at('09:40:00')]);
      assert.deepEqual(await accepted(window('09:35:00', '09:45:00')), []);
    } finally {
      await client.end();
      await store?.close();
      await old.drop();
    }
  });

  test('0014: keyed records stored before it still refuse their key again; keyless records are in neither the key index nor a second pending index', async () => {
    const { old, client } = await migratedBefore(14);
    let store: PostgresStore | undefined;
    try {
      await client.query(`INSERT INTO inbox_records (pipeline, data, bytes, idempotency_key, received_at) VALUES ('p', '{"n":1}', 7, 'k1', now()), ('p', '{"n":2}', 7, NULL, now())`);
      store = await openPostgresStore(old.url);
      const at = new Date();
      assert.deepEqual(await store.ingest('p', [{ data: { n: 1 }, key: 'k1' }, { data: { n: 3 }, key: 'k2' }, { data: { n: 3 }, key: 'k2' }], at), { accepted: 1, duplicates: 2 });
      assert.deepEqual(await store.ingest('q', [{ data: { n: 1 }, key: 'k1' }, { data: { n: 2 } }, { data: { n: 2 } }], at), { accepted: 3, duplicates: 0 }, 'a key is per pipeline; keyless records never conflict');
      assert.deepEqual((await store.ingestRequests([{ pipeline: 'p', records: [{ data: { n: 3 }, key: 'k2' }, { data: { n: 4 } }] }], at)).map((o) => [o.accepted, o.duplicates]), [[1, 1]]);
      const indexes = await client.query<{ indexname: string; indexdef: string }>(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'inbox_records' ORDER BY indexname`);
      assert.deepEqual(indexes.rows.map((i) => i.indexname), ['inbox_by_batch', 'inbox_by_key', 'inbox_by_pipeline_key', 'inbox_by_priority', 'inbox_records_pkey']);
      assert.match(indexes.rows.find((i) => i.indexname === 'inbox_by_pipeline_key')!.indexdef, /UNIQUE INDEX .* WHERE \(idempotency_key IS NOT NULL\)/);
      const stored = await client.query<{ data: { n: number }; idempotency_key: string | null }>(`SELECT data, idempotency_key FROM inbox_records WHERE pipeline = 'p' ORDER BY id`);
      assert.deepEqual(stored.rows.map((r) => [r.data.n, r.idempotency_key]), [[1, 'k1'], [2, null], [3, 'k2'], [4, null]]);
    } finally {
      await client.end();
      await store?.close();
      await old.drop();
    }
  });

  test('the same request key sent through two stores at once is stored once and replayed to the other; key order never deadlocks', async () => {
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      for (let round = 0; round < 10; round++) {
        const req = (key: string, from: string) => ({ pipeline: 'api-race', records: [{ data: { key, from } }], requestKey: `${key}-${round}`, extra: { key } });
        // Opposite key orders in the two group commits: the claims are taken in key order, so neither waits on the other in a cycle.
        const [fromA, fromB] = await Promise.all([
          a.ingestRequests(keys.map((k) => req(k, 'a')), new Date(0)),
          b.ingestRequests([...keys].reverse().map((k) => req(k, 'b')), new Date(0)),
        ]);
        const reversed = [...fromB].reverse();
        keys.forEach((key, i) => {
          assert.equal([fromA[i]!.replayed, reversed[i]!.replayed].filter((r) => !r).length, 1, `${key}: one store stored it, the other replayed`);
          assert.deepEqual({ ...fromA[i]!, replayed: false }, { ...reversed[i]!, replayed: false }, `${key}: both got the same answer`);
          assert.deepEqual(fromA[i]!.extra, { key });
        });
      }
      assert.equal((await a.inboxStats('api-race')).pending, 10 * keys.length, 'each request key stored its records once');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('concurrent openers of one delivery share the first one\'s row and record one sealed step', async () => {
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      const open = (store: PostgresStore, i: number) => store.openDelivery({
        id: `dlv_race_${i}`, pipeline: 'race', batchId: 'b1', part: '1', destination: 'local:/out', runId: `run_${i}`, name: `name_${i}.csv`, at: new Date(i),
      });
      const opened = await Promise.all(Array.from({ length: 8 }, (_, i) => open(i % 2 === 0 ? a : b, i)));
      assert.equal(new Set(opened.map((d) => d.id)).size, 1, 'one delivery');
      assert.equal(new Set(opened.map((d) => d.name)).size, 1, 'one name');
      assert.deepEqual((await a.deliverySteps(opened[0]!.id)).map((s) => s.state), ['sealed']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('concurrent breaches all count; concurrent clears: exactly one gets the breach back; recovery is claimed once', async () => {
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).breachRule('race', 'batch_failed', new Date(1000 + i))));
      const cleared = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).clearRule('race', 'batch_failed')));
      const won = cleared.filter((c) => c !== null);
      assert.equal(won.length, 1);
      assert.equal(won[0]!.consecutive, 10);
      const key = { pipeline: 'race', rule: 'batch_failed', channel: 'slack:0' };
      assert.equal(await a.claimAlert(key, new Date(0), 60_000), true);
      const recoveries = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).claimRecovery(key)));
      assert.equal(recoveries.filter(Boolean).length, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('schedule fires recorded at once by cutters and recordFire keep the latest', async () => {
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      await a.ingest('fires', Array.from({ length: 50 }, (_, n) => ({ data: { n } })), new Date(0));
      const fires = Array.from({ length: 20 }, (_, i) => new Date(60_000 * (i + 1)));
      const batches = await Promise.all(fires.map((fire, i) => i % 3 === 0
        ? (i % 2 ? a : b).recordFire('fires', 'daily', fire).then(() => null)
        : (i % 2 ? a : b).cutBatch('fires', { id: `f-${i}`, at: fire, reason: 'schedule', maxRecords: 3, fire: { trigger: 'daily', at: fire } })));
      assert.deepEqual(await a.lastFire('fires', 'daily'), fires[fires.length - 1]);
      const taken = batches.reduce((sum, batch) => sum + (batch?.records ?? 0), 0);
      assert.equal((await a.inboxStats('fires')).pending, 50 - taken);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('stores opening a fresh database at once migrate it once', async () => {
    const fresh = await scratchDatabase();
    const own = await loadMigrations(postgresMigrationsDir());
    const latest = own[own.length - 1]!.version;
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(fresh.url, { migrate: false })));
      try {
        const results = await Promise.all(stores.map((store) => store.migrate()));
        // Each migration applied once, by one of them (not necessarily the same one for all).
        assert.deepEqual(results.flatMap((r) => r.applied.map((m) => m.name)).sort(), own.map((m) => m.name), 'each migration applied once');
        assert.deepEqual(results.map((r) => r.version), [latest, latest, latest, latest]);
      } finally {
        for (const store of stores) await store.close();
      }
    } finally {
      await fresh.drop();
    }
  });

  test('a database migrated by a newer lading is refused with STORE_SCHEMA_NEWER', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await (await openPostgresStore(db.url)).close();
      await client.query('INSERT INTO lading_migrations (version, name, applied_at) VALUES (9999, $1, now())', ['9999_future']);
      await assert.rejects(openPostgresStore(db.url), (error: unknown) => {
        assert.ok(error instanceof LadingError);
        assert.equal(error.code, 'STORE_SCHEMA_NEWER');
        assert.match(error.message, /9999/);
        return true;
      });
    } finally {
      await client.query('DELETE FROM lading_migrations WHERE version = 9999');
      await client.end();
    }
  });

  test('a write blocked past lock_timeout by another transaction fails as the transient STORE_BUSY', async () => {
    const url = new URL(db.url);
    url.searchParams.set('options', '-c lock_timeout=50');
    const store = await openPostgresStore(url.href);
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await store.createRun({ id: 'run_locked', createdAt: new Date(0), batchId: null, pipeline: 'p', mode: 'full', source: 'inline', config: {} });
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM runs WHERE id = 'run_locked' FOR UPDATE");
      const commit = { index: 0, lastSeq: 1, processed: 1, succeeded: 1, failed: 0, warnings: 0, errors: [], at: new Date(1) };
      await assert.rejects(store.commitChunk('run_locked', commit), (error: unknown) => {
        assert.ok(error instanceof LadingError);
        assert.equal(error.code, 'STORE_BUSY');
        assert.equal(error.transient, true);
        assert.match(error.message, /^postgres: commitChunk: .*\[55P03\]/);
        return true;
      });
      await holder.query('ROLLBACK');
      await store.commitChunk('run_locked', commit);
      assert.equal((await store.getRun('run_locked'))?.processed, 1);
    } finally {
      await holder.end();
      await store.close();
    }
  });

  test('a server that cannot be reached fails as the transient STORE_UNAVAILABLE', async () => {
    const url = new URL(db.url);
    url.host = '127.0.0.1:1';
    await assert.rejects(openPostgresStore(url.href, { connectTimeoutMs: 2000 }), (error: unknown) => {
      assert.ok(error instanceof LadingError);
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.equal(error.transient, true);
      assert.match(error.message, /^postgres: migrate/);
      return true;
    });
  });
});
