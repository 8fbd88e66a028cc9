import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Item, Row } from '../../../src/core/item.js';
import { classify, sqlErrorKind } from '../../../src/errors/classify.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { SqlSink, sqlSink, sqlSinkConfig } from '../../../src/sinks/sql.js';
import type { RunContext } from '../../../src/sinks/types.js';
import { chunkContext } from '../../support/chunk-context.js';
import { countingOpen, databases, openTestDatabase, type TestDatabase } from '../../support/sql-databases.js';
import { rejects } from '../../support/errors.js';

const runCtx = (columns?: readonly string[]): RunContext => ({
  runId: 'run_0001', pipeline: 'p', batchId: 'run_0001', createdAt: new Date('2026-01-02T03:04:05Z'), mode: 'full',
  signal: new AbortController().signal, emit: () => {}, ...(columns ? { columns } : {}),
});

const items = (rows: readonly Row[], from = 1): Item[] => rows.map((data, i) => ({ id: `r:${from + i}`, seq: from + i, data }));

const contacts = (count: number, from = 1, tag = 'v1'): Row[] =>
  Array.from({ length: count }, (_, i) => ({ id: from + i, email: `user${from + i}@example.com`, note: `${tag}-${from + i}` }));

for (const backend of databases) {
  describe(`sql sink on ${backend.name}`, { skip: backend.skip }, () => {
    let db: TestDatabase;
    let tables = 0;
    before(async () => {
      db = await openTestDatabase(backend.name);
    });
    after(async () => {
      await db?.close();
    });

    /** A fresh contacts table: id primary key, unique email, a note. */
    async function table(extra = ''): Promise<string> {
      const name = db.table(`contacts_${++tables}`);
      await db.exec(`CREATE TABLE ${name} (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, note TEXT${extra})`);
      return name;
    }

    function sink(output: Record<string, unknown>) {
      const counter = countingOpen();
      const config = sqlSinkConfig.parse({ type: 'sql', database: { url: db.url, busy_timeout: '5s' }, ...output });
      return { sink: new SqlSink(config, { baseDir: db.baseDir }, counter.open), statements: counter.statements };
    }

    async function writeAll(s: SqlSink, all: readonly Item[], chunkSize: number) {
      const failures = new Map<string, LadingError>();
      for (let at = 0, index = 0; at < all.length; at += chunkSize, index++) {
        const r = await s.write({ runId: 'run_0001', index, items: all.slice(at, at + chunkSize) }, chunkContext({ chunkIndex: index }));
        for (const [id, e] of r.failures) failures.set(id, e);
      }
      return failures;
    }

    const rowsOf = async (name: string): Promise<Row[]> =>
      (await db.query(`SELECT id, email, note FROM ${name} ORDER BY id`)).map((r) => ({ ...r, id: Number(r.id) }));

    test('insert: 5,000 rows in chunks of 1,000 land as written, in one multi-row INSERT per chunk', async () => {
      const name = await table();
      const { sink: s, statements } = sink({ table: name });
      await s.open(runCtx());
      statements.length = 0;
      const rows = contacts(5000);
      const failures = await writeAll(s, items(rows), 1000);
      await s.close(runCtx(), 'completed');
      assert.equal(failures.size, 0);
      assert.deepEqual(await rowsOf(name), rows);
      assert.equal(statements.filter((q) => q.startsWith('INSERT')).length, 5, 'one INSERT per chunk');
      assert.ok(statements.length <= 5 * 5, `${statements.length} statements for 5,000 rows: BEGIN, SAVEPOINT, INSERT, RELEASE, COMMIT per chunk`);
    });

    test('a chunk larger than the parameter limit is sliced into several statements, all in one transaction', async () => {
      const name = await table();
      const { sink: s, statements } = sink({ table: name });
      await s.open(runCtx());
      statements.length = 0;
      const rows = contacts(25_000);
      const failures = await writeAll(s, items(rows), 25_000);
      assert.equal(failures.size, 0);
      assert.equal((await rowsOf(name)).length, 25_000);
      const inserts = statements.filter((q) => q.startsWith('INSERT')).length;
      assert.equal(inserts, backend.name === 'sqlite' ? 3 : 2, '3 columns per row: 10,922 rows per SQLite statement, 21,845 per PostgreSQL one');
      assert.equal(statements.filter((q) => q.startsWith('BEGIN')).length, 1);
      await s.close(runCtx(), 'completed');
    });

    test('upsert: 5,000 rows, half of them already present, leave every row at its new values', async () => {
      const name = await table();
      await db.insert(name, contacts(2500, 1, 'old'));
      const { sink: s, statements } = sink({ table: name, mode: 'upsert', key: ['id'] });
      await s.open(runCtx());
      statements.length = 0;
      const rows = contacts(5000, 1, 'new');
      const failures = await writeAll(s, items(rows), 1000);
      await s.close(runCtx(), 'completed');
      assert.equal(failures.size, 0);
      assert.deepEqual(await rowsOf(name), rows);
      assert.equal(statements.filter((q) => q.startsWith('INSERT')).length, 5);
      assert.ok(statements.every((q) => !q.startsWith('INSERT') || q.includes('ON CONFLICT ("id") DO UPDATE SET "email" = excluded."email", "note" = excluded."note"')));
    });

    test('upsert: the same key twice in a chunk is written in order (the last one wins), without failures', async () => {
      const name = await table();
      const { sink: s } = sink({ table: name, mode: 'upsert', key: ['id'] });
      await s.open(runCtx());
      const failures = await writeAll(s, items([
        { id: 1, email: 'a@x.io', note: 'first' }, { id: 2, email: 'b@x.io', note: 'b' }, { id: 1, email: 'a@x.io', note: 'second' },
      ]), 10);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()], []);
      assert.deepEqual(await rowsOf(name), [{ id: 1, email: 'a@x.io', note: 'second' }, { id: 2, email: 'b@x.io', note: 'b' }]);
    });

    test('update: 5,000 rows change in place with one UPDATE … FROM (VALUES …) per chunk; an unknown key fails alone as SINK_SQL_NO_ROW', async () => {
      const name = await table();
      await db.insert(name, contacts(5000, 1, 'old'));
      const { sink: s, statements } = sink({ table: name, mode: 'update', key: ['id'], columns: ['id', 'note'] });
      await s.open(runCtx());
      statements.length = 0;
      const updates = contacts(5000, 1, 'new').map(({ id, note }) => ({ id, note }));
      updates[1234] = { id: 99_999, note: 'nobody' };
      const failures = await writeAll(s, items(updates), 1000);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()], ['r:1235']);
      assert.equal(failures.get('r:1235')!.code, 'SINK_SQL_NO_ROW');
      assert.match(failures.get('r:1235')!.message, /id = 99999/);
      const expected = contacts(5000, 1, 'new');
      expected[1234] = contacts(1, 1235, 'old')[0]!;
      assert.deepEqual(await rowsOf(name), expected);
      assert.equal(statements.filter((q) => q.includes(' UPDATE ')).length, 5);
      assert.ok(statements.length <= 5 * 6, `${statements.length} statements`);
    });

    test('update with on_missing: ignore counts a key without a row as delivered', async () => {
      const name = await table();
      await db.insert(name, contacts(2));
      const { sink: s } = sink({ table: name, mode: 'update', key: ['id'], columns: ['id', 'note'], on_missing: 'ignore' });
      await s.open(runCtx());
      const failures = await writeAll(s, items([{ id: 2, note: 'changed' }, { id: 3, note: 'ghost' }]), 10);
      await s.close(runCtx(), 'completed');
      assert.equal(failures.size, 0);
      assert.deepEqual((await rowsOf(name)).map((r) => r.note), ['v1-1', 'changed']);
    });

    test('a unique violation mid-chunk fails only the offending rows; the rest of the chunk is committed', async () => {
      const name = await table();
      await db.insert(name, [{ id: 100_000, email: 'user137@example.com', note: 'taken' }, { id: 100_001, email: 'user842@example.com', note: 'taken' }]);
      const { sink: s, statements } = sink({ table: name });
      await s.open(runCtx());
      statements.length = 0;
      const rows = contacts(1000);
      const failures = await writeAll(s, items(rows), 1000);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()].sort(), ['r:137', 'r:842']);
      for (const e of failures.values()) {
        assert.equal(e.code, 'SINK_SQL_CONSTRAINT');
        assert.equal(e.category, 'permanent');
        assert.match(e.message, /unique/i);
        assert.match(e.message, /email/);
      }
      const written = await rowsOf(name);
      assert.equal(written.length, 998 + 2);
      assert.deepEqual(written.filter((r) => Number(r.id) < 100_000), rows.filter((r) => r.id !== 137 && r.id !== 842));
      // Bisection: about 7·log2(1000) statements per bad row, not one (or three) per row.
      assert.ok(statements.length < 200, `${statements.length} statements to isolate 2 bad rows among 1,000`);
    });

    test('insert with on_conflict: ignore skips rows whose key exists and counts them delivered', async () => {
      const name = await table();
      await db.insert(name, [{ id: 2, email: 'user2@example.com', note: 'kept' }]);
      const { sink: s } = sink({ table: name, on_conflict: 'ignore' });
      await s.open(runCtx());
      const failures = await writeAll(s, items(contacts(3)), 10);
      await s.close(runCtx(), 'completed');
      assert.equal(failures.size, 0);
      assert.deepEqual((await rowsOf(name)).map((r) => r.note), ['v1-1', 'kept', 'v1-3']);
    });

    test('a NULL in a NOT NULL column fails that item with SINK_SQL_CONSTRAINT naming the column', async () => {
      const name = await table();
      const { sink: s } = sink({ table: name });
      await s.open(runCtx());
      const rows = contacts(5);
      rows[2] = { id: 3, email: null, note: 'no email' };
      const failures = await writeAll(s, items(rows), 10);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()], ['r:3']);
      const e = failures.get('r:3')!;
      assert.equal(e.code, 'SINK_SQL_CONSTRAINT');
      assert.equal(e.itemId, 'r:3');
      assert.match(e.message, /not[- ]null/i);
      assert.match(e.message, /email/);
      assert.equal((await rowsOf(name)).length, 4);
    });

    test('a value the column cannot hold fails that item with SINK_SQL_DATA', async () => {
      const name = db.table(`typed_${++tables}`);
      // STRICT makes SQLite check types as PostgreSQL does.
      await db.exec(`CREATE TABLE ${name} (id INTEGER PRIMARY KEY, age INTEGER)${db.name === 'sqlite' ? ' STRICT' : ''}`);
      const { sink: s } = sink({ table: name });
      await s.open(runCtx());
      const failures = await writeAll(s, items([{ id: 1, age: 30 }, { id: 2, age: 'forty' }, { id: 3, age: 50 }]), 10);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()], ['r:2']);
      assert.equal(failures.get('r:2')!.code, 'SINK_SQL_DATA');
      assert.deepEqual((await db.query(`SELECT id FROM ${name} ORDER BY id`)).map((r) => Number(r.id)), [1, 3]);
    });

    test('columns default to the first record\'s fields; a later record with another field fails alone', async () => {
      const name = await table();
      const { sink: s } = sink({ table: name });
      await s.open(runCtx());
      const failures = await writeAll(s, items([{ id: 1, email: 'a@x.io' }, { id: 2, email: 'b@x.io', note: 'extra' }, { id: 3, email: 'c@x.io' }]), 10);
      await s.close(runCtx(), 'completed');
      assert.deepEqual([...failures.keys()], ['r:2']);
      assert.equal(failures.get('r:2')!.code, 'SINK_SQL_DATA');
      assert.match(failures.get('r:2')!.message, /"note" is not among the columns written/);
      assert.deepEqual((await rowsOf(name)).map((r) => [r.id, r.note]), [[1, null], [3, null]]);
    });

    test('explicit columns write those fields only; the map\'s fields are used when the pipeline has a map', async () => {
      const name = await table();
      const { sink: s } = sink({ table: name, columns: ['id', 'email'] });
      await s.open(runCtx());
      assert.equal((await writeAll(s, items([{ id: 1, email: 'a@x.io', note: 'ignored', other: 1 }]), 10)).size, 0);
      await s.close(runCtx(), 'completed');
      const mapped = sink({ table: name }).sink;
      await mapped.open(runCtx(['id', 'email', 'note']));
      assert.equal((await writeAll(mapped, items([{ id: 2, email: 'b@x.io', note: 'n' }]), 10)).size, 0);
      await mapped.close(runCtx(), 'completed');
      assert.deepEqual(await rowsOf(name), [{ id: 1, email: 'a@x.io', note: null }, { id: 2, email: 'b@x.io', note: 'n' }]);
    });

    test('a record field that is not a column of the table stops the chunk with SINK_SQL_REFUSED naming it', async () => {
      const name = await table();
      const { sink: s } = sink({ table: name });
      await s.open(runCtx());
      const e = await rejects(s.write({ runId: 'run_0001', index: 0, items: items([{ id: 1, email: 'a@x.io', mail: 'x' }]) }, chunkContext()), 'SINK_SQL_REFUSED');
      assert.match(e.message, /no column "mail"/);
      assert.equal(e.category, 'permanent');
      await s.close(runCtx(), 'aborted');
    });

    test('healthcheck: a missing table, a missing column, or upsert without a unique key on the key columns', async () => {
      const name = await table();
      const missing = await rejects(sink({ table: db.table('nope') }).sink.healthcheck(AbortSignal.timeout(10_000)), 'SINK_SQL_REFUSED');
      assert.match(missing.message, /table ".*nope" does not exist/);
      const column = await rejects(sink({ table: name, columns: ['id', 'phone'] }).sink.healthcheck(AbortSignal.timeout(10_000)), 'SINK_SQL_REFUSED');
      assert.match(column.message, /no column "phone"/);
      const upsert = await rejects(sink({ table: name, mode: 'upsert', key: ['note'] }).sink.healthcheck(AbortSignal.timeout(10_000)), 'SINK_SQL_REFUSED');
      assert.match(upsert.message, /unique index on exactly \(note\)/);
      await sink({ table: name, mode: 'upsert', key: ['email'] }).sink.healthcheck(AbortSignal.timeout(10_000));
      // open makes the same checks before the first chunk.
      await rejects(sink({ table: db.table('nope') }).sink.open(runCtx()), 'SINK_SQL_REFUSED');
    });

    test('init_statement creates the table when the run opens, and runs again harmlessly', async () => {
      const name = db.table(`created_${++tables}`);
      const init = `CREATE TABLE IF NOT EXISTS ${name} (id INTEGER PRIMARY KEY, email TEXT NOT NULL, note TEXT)`;
      await sink({ table: name, init_statement: init }).sink.healthcheck(AbortSignal.timeout(10_000));
      for (const round of [1, 2]) {
        const { sink: s } = sink({ table: name, mode: 'upsert', key: ['id'], init_statement: init });
        await s.open(runCtx());
        assert.equal((await writeAll(s, items(contacts(3, 1, `r${round}`)), 10)).size, 0);
        await s.close(runCtx(), 'completed');
      }
      assert.deepEqual((await rowsOf(name)).map((r) => r.note), ['r2-1', 'r2-2', 'r2-3']);
    });

    test('an empty chunk sends nothing', async () => {
      const name = await table();
      const { sink: s, statements } = sink({ table: name });
      await s.open(runCtx());
      statements.length = 0;
      assert.equal((await s.write({ runId: 'run_0001', index: 0, items: [] }, chunkContext())).failures.size, 0);
      assert.deepEqual(statements, []);
      await s.close(runCtx(), 'completed');
    });

    if (backend.name === 'sqlite') {
      test('SQLite busy: a write lock held by another connection fails the chunk as SINK_SQL_TRANSIENT; the retry succeeds', async () => {
        const name = await table();
        const { sink: s } = sink({ table: name, database: { url: db.url, busy_timeout: 50 } });
        await s.open(runCtx());
        const other = new Database(`${db.baseDir}/test.db`);
        other.exec('BEGIN IMMEDIATE');
        const e = await rejects(s.write({ runId: 'run_0001', index: 0, items: items(contacts(3)) }, chunkContext()), 'SINK_SQL_TRANSIENT');
        assert.equal(e.category, 'transient');
        assert.match(e.message, /SQLITE_BUSY/);
        other.exec('ROLLBACK');
        other.close();
        assert.equal((await writeAll(s, items(contacts(3)), 10)).size, 0);
        assert.equal((await rowsOf(name)).length, 3);
        await s.close(runCtx(), 'completed');
      });

      test('a missing SQLite file is reported clearly when there is no init to create it', async () => {
        const e = await rejects(sqlSink.create(sqlSinkConfig.parse({ type: 'sql', database: { url: 'sqlite:missing/none.db' }, table: 't' }), { baseDir: db.baseDir } as never)
          .healthcheck!(AbortSignal.timeout(10_000)), 'SINK_SQL_REFUSED');
        assert.match(e.message, /SQLite file does not exist/);
      });
    }

    if (backend.name === 'postgres') {
      test('PostgreSQL: a chunk blocked past execution.timeout by another transaction\'s lock fails as SINK_SQL_TRANSIENT', async () => {
        const name = await table();
        const { sink: s } = sink({ table: name });
        await s.open(runCtx());
        const other = new pg.Client({ connectionString: db.url });
        await other.connect();
        try {
          await other.query('BEGIN');
          await other.query(`LOCK TABLE ${name} IN ACCESS EXCLUSIVE MODE`);
          const e = await rejects(s.write({ runId: 'run_0001', index: 0, items: items(contacts(3)) }, chunkContext({ timeoutMs: 200 })), 'SINK_SQL_TRANSIENT');
          assert.match(e.message, /57014/);
          await other.query('ROLLBACK');
        } finally {
          await other.end();
        }
        assert.equal((await writeAll(s, items(contacts(3)), 10)).size, 0);
        await s.close(runCtx(), 'completed');
      });

      test('PostgreSQL: a deadlock with another transaction fails the chunk as SINK_SQL_TRANSIENT (40P01), not as a bad row', async () => {
        const name = await table();
        await db.insert(name, contacts(2, 1, 'old'));
        const { sink: s } = sink({ table: name, mode: 'upsert', key: ['id'] });
        await s.open(runCtx());
        const other = new pg.Client({ connectionString: db.url });
        await other.connect();
        try {
          await other.query('BEGIN');
          await other.query(`UPDATE ${name} SET note = 'other' WHERE id = 1`);
          // The sink locks row 2, then waits for row 1…
          const writing = s.write({ runId: 'run_0001', index: 0, items: items([{ id: 2, email: 'user2@example.com', note: 'sink' }, { id: 1, email: 'user1@example.com', note: 'sink' }]) }, chunkContext())
            .then(() => assert.fail('expected a deadlock'), (error: unknown) => error);
          await waitForLockWait(other);
          // …and the other transaction now waits for row 2: the sink, waiting longest, is the victim.
          const blocked = other.query(`UPDATE ${name} SET note = 'other' WHERE id = 2`);
          const e = await writing;
          assert.ok(e instanceof LadingError);
          assert.equal(e.code, 'SINK_SQL_TRANSIENT', e.message);
          assert.match(e.message, /40P01/);
          await blocked;
          await other.query('COMMIT');
        } finally {
          await other.end();
        }
        await s.close(runCtx(), 'aborted');
      });
    }
  });
}

async function waitForLockWait(client: pg.Client): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'lading'`);
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the sink never waited for the lock');
}

describe('sql sink config', () => {
  const parse = (output: Record<string, unknown>) => sqlSinkConfig.safeParse({ type: 'sql', database: { url: 'sqlite:x.db' }, table: 't', ...output });
  const messages = (output: Record<string, unknown>) => {
    const r = parse(output);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('upsert and update need key; key and the on_* options belong to their modes', () => {
    assert.match(messages({ mode: 'upsert' }).join('\n'), /key: mode upsert needs key/);
    assert.match(messages({ mode: 'update', key: ['id'], columns: ['id'] }).join('\n'), /columns: mode update needs at least one column besides the key/);
    assert.match(messages({ key: ['id'] }).join('\n'), /key: key applies to mode upsert and update/);
    assert.match(messages({ mode: 'upsert', key: ['id'], on_conflict: 'ignore' }).join('\n'), /on_conflict applies to mode insert/);
    assert.match(messages({ mode: 'upsert', key: ['id'], columns: ['email'] }).join('\n'), /key columns must be among output.columns; add "id"/);
    assert.deepEqual(messages({ mode: 'upsert', key: ['id'] }), []);
  });

  test('table and column names are identifiers; a schema-qualified table is allowed', () => {
    assert.deepEqual(messages({ table: 'crm.contacts' }), []);
    assert.match(messages({ table: 'contacts; DROP TABLE x' }).join('\n'), /^table: expected a table name/);
    assert.match(messages({ columns: ['ok', 'bad name'] }).join('\n'), /columns\.1: expected a column name/);
  });

  test('the database URL is checked without ever being repeated in a message', () => {
    const bad = messages({ database: { url: 'mysql://root:hunter2@db/app' } }).join('\n');
    assert.match(bad, /unsupported database URL scheme "mysql"/);
    assert.doesNotMatch(bad, /hunter2/);
    assert.doesNotMatch(messages({ database: { url: 'postgres://u:hunter2@/db' } }).join('\n'), /hunter2/);
  });

  test('the description names host and database, never the credentials', () => {
    const s = sqlSink.create(sqlSinkConfig.parse({ type: 'sql', database: { url: 'postgres://bob:hunter2@db.example:5433/crm' }, table: 'contacts' }), { baseDir: '.' } as never);
    return s.close(runCtx(), 'completed').then((summary) => assert.equal(summary.destination, 'postgres://db.example:5433/crm table contacts'));
  });

  test('an unreachable server is SINK_SQL_CONNECT (transient), and the message holds no password', async () => {
    const s = sqlSink.create(sqlSinkConfig.parse({ type: 'sql', database: { url: 'postgres://bob:hunter2@127.0.0.1:1/crm', connect_timeout: '2s' }, table: 'contacts' }), { baseDir: '.' } as never);
    const e = await rejects(s.healthcheck!(AbortSignal.timeout(10_000)), 'SINK_SQL_CONNECT');
    assert.equal(e.category, 'transient');
    assert.doesNotMatch(e.message, /hunter2/);
    assert.match(e.message, /postgres:\/\/127\.0\.0\.1:1\/crm/);
  });
});

describe('SQL error classification', () => {
  const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code, severity: 'ERROR' });
  const cases: [unknown, string][] = [
    [pgError('23505'), 'SINK_SQL_CONSTRAINT'], [pgError('23502'), 'SINK_SQL_CONSTRAINT'], [pgError('23503'), 'SINK_SQL_CONSTRAINT'],
    [pgError('21000'), 'SINK_SQL_CONSTRAINT'], [pgError('22001'), 'SINK_SQL_DATA'], [pgError('22P02'), 'SINK_SQL_DATA'],
    [pgError('40001'), 'SINK_SQL_TRANSIENT'], [pgError('40P01'), 'SINK_SQL_TRANSIENT'], [pgError('55P03'), 'SINK_SQL_TRANSIENT'],
    [pgError('53300'), 'SINK_SQL_TRANSIENT'], [pgError('57P01'), 'SINK_SQL_CONNECT'], [pgError('08006'), 'SINK_SQL_CONNECT'],
    [pgError('42P01'), 'SINK_SQL_REFUSED'], [pgError('28P01'), 'SINK_SQL_REFUSED'], [pgError('3D000'), 'SINK_SQL_REFUSED'],
    [Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), 'SINK_SQL_CONSTRAINT'],
    [Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_DATATYPE' }), 'SINK_SQL_DATA'],
    [Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }), 'SINK_SQL_TRANSIENT'],
    [Object.assign(new Error('x'), { code: 'SQLITE_BUSY_SNAPSHOT' }), 'SINK_SQL_TRANSIENT'],
    [Object.assign(new Error('x'), { code: 'SQLITE_ERROR' }), 'SINK_SQL_REFUSED'],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'SINK_SQL_CONNECT'],
    [new Error('Connection terminated unexpectedly'), 'SINK_SQL_CONNECT'],
  ];
  for (const [error, code] of cases) {
    test(`${(error as { code?: string }).code ?? (error as Error).message} → ${code}`, () => {
      const e = classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: 'writing', sql: 'sink' });
      assert.equal(e.code, code);
    });
  }

  test('the same errors read by the source become SOURCE_SQL_QUERY (permanent) or SOURCE_SQL_UNAVAILABLE (transient)', () => {
    assert.equal(classify(pgError('42703'), { ioCode: 'SOURCE_SQL_UNAVAILABLE', doing: 'reading', sql: 'source' }).code, 'SOURCE_SQL_QUERY');
    assert.equal(classify(pgError('40001'), { ioCode: 'SOURCE_SQL_UNAVAILABLE', doing: 'reading', sql: 'source' }).code, 'SOURCE_SQL_UNAVAILABLE');
    assert.equal(sqlErrorKind(new TypeError('a bug')), undefined);
    assert.equal(classify(new TypeError('a bug'), { ioCode: 'SINK_SQL_CONNECT', doing: 'writing', sql: 'sink' }).code, 'UNCLASSIFIED');
  });
});
