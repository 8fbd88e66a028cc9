import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { LadingError } from '../../../src/errors/lading-error.js';
import { loadMigrations, runMigrations } from '../../../src/store/migrate.js';
import { postgresMigrationsDir } from '../../../src/store/postgres/store.js';
import { openSqliteStore, sqliteMigrationDriver, sqliteMigrationsDir } from '../../../src/store/sqlite/store.js';

describe('migration runner', () => {
  let dir: string;
  let migrations: string;
  let db: Database.Database;
  const clock = () => new Date('2024-03-01T09:00:00.000Z');
  const options = { description: 'test.db', now: clock };
  const ledger = () => db.prepare('SELECT version, name, applied_at FROM lading_migrations ORDER BY version').all();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lading-migrate-'));
    migrations = join(dir, 'migrations');
    await mkdir(migrations);
    db = new Database(join(dir, 'test.db'));
    db.pragma('journal_mode = WAL');
  });
  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('applies pending files in version order and records each in the ledger', async () => {
    // Written out of order on purpose: 0002 needs the table 0001 creates; 0010 sorts after 0002.
    await writeFile(join(migrations, '0010_add_index.sql'), 'CREATE INDEX things_by_label ON things (label);');
    await writeFile(join(migrations, '0002_add_label.sql'), 'ALTER TABLE things ADD COLUMN label TEXT;');
    await writeFile(join(migrations, '0001_init.sql'), 'CREATE TABLE things (id INTEGER PRIMARY KEY);\nCREATE TABLE other (x TEXT);');
    await writeFile(join(migrations, 'README.md'), 'not a migration');

    const loaded = await loadMigrations(migrations);
    assert.deepEqual(loaded.map((m) => [m.version, m.name]), [[1, '0001_init'], [2, '0002_add_label'], [10, '0010_add_index']]);

    const result = await runMigrations(sqliteMigrationDriver(db), loaded, options);
    assert.deepEqual(result.applied.map((m) => m.version), [1, 2, 10]);
    assert.deepEqual(ledger(), [
      { version: 1, name: '0001_init', applied_at: '2024-03-01T09:00:00.000Z' },
      { version: 2, name: '0002_add_label', applied_at: '2024-03-01T09:00:00.000Z' },
      { version: 10, name: '0010_add_index', applied_at: '2024-03-01T09:00:00.000Z' },
    ]);
    db.prepare('INSERT INTO things (label) VALUES (?)').run('x');
  });

  test('SQLite 0013 keeps an inbox\'s records, ids and id counter while taking keyless records out of the key\'s unique index', async () => {
    const all = await loadMigrations(sqliteMigrationsDir());
    await runMigrations(sqliteMigrationDriver(db), all.filter((m) => m.version < 13), options);
    const insert = db.prepare('INSERT INTO inbox_records (pipeline, data, bytes, idempotency_key, received_at, priority) VALUES (?, ?, ?, ?, ?, ?)');
    insert.run('p', '{"n":1}', 7, 'k1', '2024-03-01T09:00:00.000Z', 3);
    insert.run('p', '{"n":2}', 7, null, '2024-03-01T09:00:01.000Z', null);
    insert.run('p', '{"n":3}', 7, null, '2024-03-01T09:00:02.000Z', null);
    db.prepare('DELETE FROM inbox_records WHERE id = 3').run();
    const before = db.prepare('SELECT * FROM inbox_records ORDER BY id').all();

    assert.deepEqual((await runMigrations(sqliteMigrationDriver(db), all.filter((m) => m.version <= 13), options)).applied.map((m) => m.version), [13]);
    assert.deepEqual(db.prepare('SELECT * FROM inbox_records ORDER BY id').all(), before);
    // The deleted record's id is not handed out again.
    assert.equal(insert.run('p', '{"n":4}', 7, null, '2024-03-01T09:00:03.000Z', null).lastInsertRowid, 4);
    assert.throws(() => insert.run('p', '{"n":5}', 7, 'k1', '2024-03-01T09:00:04.000Z', null), /UNIQUE constraint failed/);
    insert.run('q', '{"n":5}', 7, 'k1', '2024-03-01T09:00:04.000Z', null);
    const indexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox_records' ORDER BY name").all() as { name: string; sql: string | null }[];
    assert.deepEqual(indexes.map((i) => i.name), ['inbox_by_batch', 'inbox_by_key', 'inbox_by_pipeline_key', 'inbox_by_received']);
    assert.match(indexes.find((i) => i.name === 'inbox_by_pipeline_key')!.sql!, /WHERE idempotency_key IS NOT NULL/);
    assert.deepEqual(db.prepare('PRAGMA foreign_key_check').all(), []);
  });

  test('SQLite 0014: batches cut before keep their records; the records still pending go to the next cut, which is a range of ids', async () => {
    const all = await loadMigrations(sqliteMigrationsDir());
    await runMigrations(sqliteMigrationDriver(db), all.filter((m) => m.version < 14), options);
    const insert = db.prepare('INSERT INTO inbox_records (pipeline, data, bytes, received_at, batch_id) VALUES (?, ?, 7, ?, ?)');
    db.prepare("INSERT INTO batches (id, pipeline, records, bytes, cut_at, reason, status) VALUES ('old', 'p', 2, 14, '2024-03-01T09:00:09.000Z', 'manual', 'open')").run();
    // Records 1 and 4 were received after the old batch's `until` and stayed pending around it; 5 came later.
    [[1, null], [2, 'old'], [3, 'old'], [4, null], [5, null]].forEach(([n, batch]) => insert.run('p', `{"n":${n}}`, `2024-03-01T09:00:0${n}.000Z`, batch));
    insert.run('q', '{"n":6}', '2024-03-01T09:00:06.000Z', null);

    const store = await openSqliteStore(join(dir, 'test.db'));
    try {
      const read = async (batch: string) => (await store.readBatch(batch, 0, 10)).map((r) => r.data.n);
      assert.equal((await store.inboxStats('p')).pending, 3);
      assert.deepEqual(await read('old'), [2, 3]);
      const next = await store.cutBatch('p', { id: 'new', at: new Date('2024-03-01T10:00:00Z'), reason: 'manual', maxRecords: 2 });
      assert.deepEqual([next?.records, next?.bytes], [2, 14]);
      assert.deepEqual(await read('new'), [1, 4], 'the pending records around the old batch, not its own');
      assert.deepEqual(await read('old'), [2, 3]);
      const day = { from: new Date('2024-03-01T00:00:00Z'), to: new Date('2024-03-02T00:00:00Z'), pipeline: 'p' };
      assert.deepEqual((await store.reconcile(day))[0]?.openBatches.map((b) => [b.batchId, b.records]), [['old', 2], ['new', 2]], 'open batches of both kinds are reconciled');
      assert.deepEqual(await store.inboxStats('p'), { pending: 1, bytes: 7, oldest: new Date('2024-03-01T09:00:05.000Z'), priorities: [] });
      assert.equal((await store.inboxStats('q')).pending, 1, 'another pipeline\'s records are not cut');
      const batchOf = async (n: number) => (await store.findInboxRecords(`inbox:${n}`)).map((r) => r.batchId);
      assert.deepEqual([await batchOf(1), await batchOf(2), await batchOf(4), await batchOf(5)], [['new'], ['old'], ['new'], [null]]);
      assert.deepEqual(await read((await store.cutBatch('p', { id: 'last', at: new Date('2024-03-01T10:01:00Z'), reason: 'manual' }))!.id), [5]);
      assert.equal(await store.cutBatch('p', { id: 'none', at: new Date('2024-03-01T10:02:00Z'), reason: 'manual' }), null);
    } finally {
      await store.close();
    }
  });

  test('SQLite 0016: a window\'s records, stored before or after, are found through the commit log; purge drops the commits of purged records', async () => {
    const all = await loadMigrations(sqliteMigrationsDir());
    await runMigrations(sqliteMigrationDriver(db), all.filter((m) => m.version < 16), options);
    const insert = db.prepare('INSERT INTO inbox_records (pipeline, data, bytes, received_at) VALUES (?, ?, 7, ?)');
    // Two commits at one instant, one per pipeline, interleaved by id with p's.
    for (const [pipeline, n, at] of [['p', 1, '09:00:01'], ['p', 2, '09:00:01'], ['q', 3, '09:00:01'], ['p', 4, '09:00:02'], ['p', 5, '09:30:00']] as const) {
      insert.run(pipeline, `{"n":${n}}`, `2024-03-01T${at}.000Z`);
    }
    const store = await openSqliteStore(join(dir, 'test.db'));
    try {
      const window = (from: string, to: string, pipeline?: string) => ({ from: new Date(`2024-03-01T${from}Z`), to: new Date(`2024-03-01T${to}Z`), ...(pipeline === undefined ? {} : { pipeline }) });
      const accepted = async (w: ReturnType<typeof window>) => (await store.reconcile(w)).map((r) => [r.pipeline, r.accepted]);
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00')), [['p', 3], ['q', 1]]);
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00', 'q')), [['q', 1]]);
      assert.deepEqual(await accepted(window('09:00:02', '10:00:00')), [['p', 2]]);
      assert.deepEqual(await accepted(window('10:00:00', '11:00:00')), []);
      assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'inbox_by_received'").pluck().get(), 0);

      await store.cutBatch('p', { id: 'b1', at: new Date('2024-03-01T10:00:00Z'), reason: 'manual' });
      db.prepare("UPDATE batches SET status = 'delivered', delivered_at = '2024-03-01T10:01:00.000Z' WHERE id = 'b1'").run();
      await store.ingest('p', [{ data: { n: 6 } }], new Date('2024-03-01T09:05:00Z'));
      assert.equal((await store.purge({ pipeline: 'p', records: new Date('2024-03-02T00:00:00Z') })).records, 4);
      assert.deepEqual(db.prepare('SELECT pipeline, first_id, last_id FROM inbox_commits ORDER BY received_at, pipeline').raw().all(),
        [['q', 3, 3], ['p', 6, 6]], "p's purged commits are gone; q's and the new one stay");
      assert.deepEqual(await accepted(window('09:00:00', '09:10:00')), [['p', 1], ['q', 1]]);
    } finally {
      await store.close();
    }
  });

  test('SQLite 0016: a window whose commits outlived their purged records reports nothing for the pipeline', async () => {
    const all = await loadMigrations(sqliteMigrationsDir());
    await runMigrations(sqliteMigrationDriver(db), all.filter((m) => m.version < 16), options);
    // An older record in a batch cut before ranges, still open, keeps the commits after it (purge drops those below the lowest record left).
    db.prepare("INSERT INTO batches (id, pipeline, records, bytes, cut_at, reason, status) VALUES ('old', 'p', 1, 7, '2024-03-01T08:30:00.000Z', 'manual', 'open')").run();
    db.prepare("INSERT INTO inbox_records (pipeline, data, bytes, received_at, batch_id) VALUES ('p', '{\"n\":1}', 7, '2024-03-01T08:00:00.000Z', 'old')").run();
    db.prepare("INSERT INTO inbox_records (pipeline, data, bytes, received_at) VALUES ('p', '{\"n\":2}', 7, '2024-03-01T09:30:00.000Z')").run();
    const store = await openSqliteStore(join(dir, 'test.db'));
    try {
      await store.cutBatch('p', { id: 'b1', at: new Date('2024-03-01T10:00:00Z'), reason: 'manual' });
      db.prepare("UPDATE batches SET status = 'delivered', delivered_at = '2024-03-01T10:01:00.000Z' WHERE id = 'b1'").run();
      assert.equal((await store.purge({ pipeline: 'p', records: new Date('2024-03-02T00:00:00Z') })).records, 1);
      assert.equal(db.prepare('SELECT count(*) FROM inbox_commits').pluck().get(), 2, 'both commits stay');
      assert.deepEqual(await store.reconcile({ from: new Date('2024-03-01T09:00:00Z'), to: new Date('2024-03-01T10:00:00Z') }), []);
      assert.deepEqual((await store.reconcile({ from: new Date('2024-03-01T08:00:00Z'), to: new Date('2024-03-01T09:00:00Z') })).map((r) => [r.pipeline, r.accepted, r.batched]), [['p', 1, 1]]);
      // Delivered at last, the batch cut before ranges goes too: its record, the pipeline's lowest, lies within the purge's bounds.
      db.prepare("UPDATE batches SET status = 'delivered', delivered_at = '2024-03-01T10:02:00.000Z' WHERE id = 'old'").run();
      assert.equal((await store.purge({ pipeline: 'p', records: new Date('2024-03-02T00:00:00Z') })).records, 1);
    } finally {
      await store.close();
    }
  });

  test('is idempotent: a rerun applies nothing; a new file is applied alone', async () => {
    await writeFile(join(migrations, '0001_init.sql'), 'CREATE TABLE things (id INTEGER PRIMARY KEY);');
    await runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options);
    const again = await runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options);
    assert.deepEqual(again.applied, []);
    assert.equal(ledger().length, 1);

    await writeFile(join(migrations, '0002_more.sql'), 'CREATE TABLE more (id INTEGER PRIMARY KEY);');
    const next = await runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options);
    assert.deepEqual(next.applied.map((m) => m.name), ['0002_more']);
  });

  test('refuses a database whose ledger is ahead of the known files, and applies nothing', async () => {
    await writeFile(join(migrations, '0001_init.sql'), 'CREATE TABLE things (id INTEGER PRIMARY KEY);');
    await runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options);
    db.prepare('INSERT INTO lading_migrations (version, name, applied_at) VALUES (3, ?, ?)').run('0003_future', clock().toISOString());
    await writeFile(join(migrations, '0002_more.sql'), 'CREATE TABLE more (id INTEGER PRIMARY KEY);');

    await assert.rejects(runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options), (error: unknown) => {
      assert.ok(error instanceof LadingError);
      assert.equal(error.code, 'STORE_SCHEMA_NEWER');
      assert.equal(error.category, 'permanent');
      assert.match(error.message, /^test\.db: .*version 3.* up to 2/);
      return true;
    });
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'more'").pluck().get(), 0);
  });

  test('a failing migration rolls back with its ledger row; earlier ones stay applied', async () => {
    await writeFile(join(migrations, '0001_init.sql'), 'CREATE TABLE things (id INTEGER PRIMARY KEY);');
    await writeFile(join(migrations, '0002_broken.sql'), 'CREATE TABLE half (id INTEGER);\nTHIS IS NOT SQL;');
    await assert.rejects(runMigrations(sqliteMigrationDriver(db), await loadMigrations(migrations), options), /syntax error/);
    assert.deepEqual(ledger().map((row) => (row as { version: number }).version), [1]);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half'").pluck().get(), 0);
  });

  test('rejects misnamed and duplicate-version files', async () => {
    await writeFile(join(migrations, '1_init.sql'), 'SELECT 1;');
    await assert.rejects(loadMigrations(migrations), (error: unknown) => error instanceof LadingError && error.code === 'STORE_FAILED' && /1_init\.sql/.test(error.message));
    await rm(join(migrations, '1_init.sql'));
    await writeFile(join(migrations, '0001_a.sql'), 'SELECT 1;');
    await writeFile(join(migrations, '0001_b.sql'), 'SELECT 1;');
    await assert.rejects(loadMigrations(migrations), /share version 1/);
  });

  test('the SQLite store\'s own migrations load from the folder next to the module', async () => {
    const own = await loadMigrations(sqliteMigrationsDir());
    assert.equal(own[0]?.name, '0001_init');
    const versions = own.map((m) => m.version);
    assert.deepEqual(versions, versions.map((_, i) => i + 1), 'numbered 0001, 0002, … without gaps');
    const result = await runMigrations(sqliteMigrationDriver(db), own, options);
    assert.equal(result.applied.length, own.length);
  });

  test('the PostgreSQL store\'s own migrations load from the folder next to the module, numbered on their own without gaps', async () => {
    // PostgreSQL numbers its files apart from SQLite (its 0001 folds SQLite's 0001–0003); released files are never folded again.
    const own = await loadMigrations(postgresMigrationsDir());
    assert.deepEqual(own.slice(0, 5).map((m) => m.name), ['0001_init', '0002_delivery_states', '0003_api_keys', '0004_triggers', '0005_notifications']);
    // 0006 belongs to a branch merged separately (0007_dashboard was numbered after it): drop it here once it lands.
    const versions = [...new Set([...own.map((m) => m.version), 6])].sort((a, b) => a - b);
    assert.deepEqual(versions, versions.map((_, i) => i + 1), 'numbered 0001, 0002, … without gaps');
    for (const m of own) assert.doesNotMatch(m.sql, /^\s*(BEGIN|COMMIT)\b/im, `${m.name}: the runner wraps each file in its own transaction`);
  });
});
