import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Item } from '../../../src/core/item.js';
import { SqlSource, sqlSource, sqlSourceConfig, type PositionedItem } from '../../../src/sources/sql.js';
import type { Cursor } from '../../../src/sources/types.js';
import { countingOpen, databases, openTestDatabase, type TestDatabase } from '../../support/sql-databases.js';
import { rejects } from '../../support/errors.js';

const signal = () => new AbortController().signal;

async function collect(items: AsyncIterable<Item>, limit = Infinity): Promise<Item[]> {
  const all: Item[] = [];
  for await (const item of items) {
    all.push(item);
    if (all.length >= limit) break;
  }
  return all;
}

for (const backend of databases) {
  describe(`sql source on ${backend.name}`, { skip: backend.skip }, () => {
    let db: TestDatabase;
    let people: string;
    const total = 10_000;
    before(async () => {
      db = await openTestDatabase(backend.name);
      people = db.table('people');
      await db.exec(`CREATE TABLE ${people} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER)`);
      // Inserted out of key order: the source must order by key, not by insertion.
      const rows = Array.from({ length: total }, (_, i) => {
        const id = ((i * 7919) % total) + 1;
        return { id, name: `person ${id}`, score: id % 97 };
      });
      await db.insert(people, rows);
    });
    after(async () => {
      await db?.close();
    });

    function source(options: Record<string, unknown>) {
      const counter = countingOpen();
      const config = sqlSourceConfig.parse({ type: 'sql', database: { url: db.url }, key: 'id', ...options });
      return { source: new SqlSource(config, { baseDir: db.baseDir }, counter.open), statements: counter.statements };
    }

    const table = async () => (await db.query(`SELECT id, name, score FROM ${people} ORDER BY id`)).map((r) => ({ id: Number(r.id), name: r.name, score: Number(r.score) }));

    test('streams 10,000 rows with page_size 333 in key order, equal to the table, one page per query', async () => {
      const { source: src, statements } = source({ query: `SELECT id, name, score FROM ${people}`, page_size: 333 });
      assert.deepEqual(await src.open(signal()), { total });
      statements.length = 0;
      const items = await collect(src.read(null, signal()));
      assert.deepEqual(items.map((i) => i.data), await table());
      assert.deepEqual(items.slice(0, 2).map((i) => [i.id, i.seq]), [['sql:1', 1], ['sql:2', 2]]);
      assert.equal(items.at(-1)!.seq, total);
      const pages = statements.filter((q) => q.includes(' LIMIT '));
      assert.equal(pages.length, Math.ceil(total / 333), 'each query reads one page: the result is never held whole');
      assert.equal(pages.filter((q) => q.includes(' > ')).length, pages.length - 1, 'pages after the first start after the last key (keyset, no OFFSET)');
      assert.deepEqual(src.progress(), { done: total, total, unit: 'items' });
      await src.close();
    });

    test('resumes from a cursor position: the rows after the last key read, numbered on', async () => {
      const first = source({ query: `SELECT * FROM ${people}`, page_size: 333 }).source;
      await first.open(signal());
      const head = await collect(first.read(null, signal()), 4000) as PositionedItem[];
      await first.close();
      const last = head.at(-1)!;
      assert.equal(last.position, '4000');
      const cursor: Cursor = { seq: last.seq, position: last.position };
      // Rows added behind the cursor after the checkpoint are not read again; rows ahead are.
      await db.insert(people, [{ id: -5, name: 'behind', score: 0 }, { id: total + 1, name: 'ahead', score: 0 }]);
      try {
        const { source: resumed, statements } = source({ query: `SELECT * FROM ${people}`, page_size: 333 });
        await resumed.open(signal());
        statements.length = 0;
        const rest = await collect(resumed.read(cursor, signal()));
        assert.deepEqual(rest.map((i) => i.id), Array.from({ length: total - 4000 + 1 }, (_, i) => `sql:${4001 + i}`));
        assert.equal(rest[0]!.seq, 4001);
        assert.ok(statements.every((q) => !q.includes('OFFSET')), 'a position seeks by key');
        await resumed.close();
      } finally {
        await db.query(`DELETE FROM ${people} WHERE id IN (-5, ${total + 1})`);
      }
    });

    test('a cursor with a seq only finds the key of that item and continues after it', async () => {
      const { source: src } = source({ query: `SELECT id, name FROM ${people} WHERE score = 3`, page_size: 10 });
      const all = await collect(src.read(null, signal()));
      const rest = await collect(src.read({ seq: 25 }, signal()));
      assert.deepEqual(rest, all.slice(25));
      assert.deepEqual(await collect(src.read({ seq: all.length }, signal())), []);
      await src.close();
    });

    test('text keys keep their type through the position (no number/text mix-up on resume)', async () => {
      const words = db.table('words');
      await db.exec(`CREATE TABLE ${words} (code TEXT PRIMARY KEY, n INTEGER)`);
      await db.insert(words, ['10', '9', 'a', 'B', '100'].map((code, n) => ({ code, n })));
      const { source: src } = source({ query: `SELECT code, n FROM ${words}`, key: 'code', page_size: 2 });
      const all = await collect(src.read(null, signal())) as PositionedItem[];
      assert.equal(all.length, 5);
      const rest = await collect(src.read({ seq: 2, position: all[1]!.position }, signal()));
      assert.deepEqual(rest.map((i) => i.id), all.slice(2).map((i) => i.id));
      await src.close();
    });

    test('a query that does not return source.key fails with SOURCE_SQL_QUERY naming source.key', async () => {
      const { source: src } = source({ query: `SELECT name, score FROM ${people}` });
      const e = await rejects(src.open(signal()), 'SOURCE_SQL_QUERY');
      assert.match(e.message, /source\.key: the query returns no column "id" \(it returns: name, score\)/);
      assert.equal(e.category, 'permanent');
      await rejects(src.healthcheck(AbortSignal.timeout(10_000)), 'SOURCE_SQL_QUERY');
      await rejects(collect(source({ query: `SELECT name FROM ${people}` }).source.read(null, signal())), 'SOURCE_SQL_QUERY');
      await src.close();
    });

    test('a query the database rejects is SOURCE_SQL_QUERY with the database\'s message', async () => {
      const { source: src } = source({ query: `SELECT id FROM ${db.table('no_such_table')}` });
      const e = await rejects(src.open(signal()), 'SOURCE_SQL_QUERY');
      assert.match(e.message, /no_such_table/);
      await src.close();
    });

    test('a key that is not unique is reported instead of silently skipping rows', async () => {
      const { source: src } = source({ query: `SELECT score AS id, name FROM ${people}`, count: false });
      await src.open(signal());
      const e = await rejects(collect(src.read(null, signal())), 'SOURCE_SQL_QUERY');
      assert.match(e.message, /source\.key "id" is not unique/);
      await src.close();
    });

    test('count: false skips the count; progress is then unknown', async () => {
      const { source: src, statements } = source({ query: `SELECT * FROM ${people} WHERE id <= 5`, count: false });
      assert.deepEqual(await src.open(signal()), {});
      assert.ok(statements.every((q) => !q.includes('count(*)')));
      assert.equal((await collect(src.read(null, signal()))).length, 5);
      assert.equal(src.progress(), undefined);
      await src.close();
    });

    test('a trailing semicolon in the query is accepted', async () => {
      const { source: src } = source({ query: `SELECT * FROM ${people} WHERE id <= 3;  ` });
      assert.deepEqual(await src.open(signal()), { total: 3 });
      await src.close();
    });
  });
}

describe('sql source without a database', () => {
  test('a missing SQLite file is SOURCE_NOT_FOUND', async () => {
    const src = sqlSource.create(sqlSourceConfig.parse({ type: 'sql', database: { url: 'sqlite:nowhere/none.db' }, query: 'SELECT 1 AS id', key: 'id' }), { baseDir: '/tmp' } as never);
    const e = await rejects(src.healthcheck!(AbortSignal.timeout(5000)), 'SOURCE_NOT_FOUND');
    assert.match(e.message, /sqlite:nowhere\/none\.db/);
  });

  test('an unreachable PostgreSQL is SOURCE_SQL_UNAVAILABLE (transient); messages show host and database only', async () => {
    const src = sqlSource.create(sqlSourceConfig.parse({ type: 'sql', database: { url: 'postgres://bob:hunter2@127.0.0.1:1/crm', connect_timeout: '2s' }, query: 'SELECT 1 AS id', key: 'id' }), { baseDir: '.' } as never);
    assert.equal(src.description, 'postgres://127.0.0.1:1/crm');
    const e = await rejects(src.open(signal()), 'SOURCE_SQL_UNAVAILABLE');
    assert.equal(e.category, 'transient');
    assert.doesNotMatch(e.message, /hunter2|bob/);
    await src.close('aborted');
  });
});
