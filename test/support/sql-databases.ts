import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Row } from '../../src/core/item.js';
import type { SqlSession } from '../../src/sql/connection.js';
import { openDatabase, type OpenDatabase } from '../../src/sql/open.js';

/**
 * The databases the sql sink and source tests run against: a real SQLite file in a temp folder,
 * and PostgreSQL from LADING_TEST_POSTGRES_URL (scripts/ensure-postgres.sh prints one) in a
 * fresh schema per test file, dropped at the end (pg-boss style). Both speak the same small API
 * so one test body covers both.
 */
export interface TestDatabase {
  readonly name: 'sqlite' | 'postgres';
  /** For `database.url`. */
  readonly url: string;
  /** The pipeline folder relative SQLite paths resolve against. */
  readonly baseDir: string;
  /** A table name for configs and SQL: `t`, or `lading_test_ab12cd34.t` on PostgreSQL. */
  table(name: string): string;
  /** Runs statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** The n-th placeholder: `?` or `$n`. */
  param(n: number): string;
  /** Inserts rows (all with the same keys) in a few multi-row statements. */
  insert(table: string, rows: readonly Row[]): Promise<void>;
  close(): Promise<void>;
}

export const postgresUrl = process.env.LADING_TEST_POSTGRES_URL;
export const postgresSkip = postgresUrl ? false : 'LADING_TEST_POSTGRES_URL is not set (export LADING_TEST_POSTGRES_URL="$(scripts/ensure-postgres.sh)")';

/** The databases a test file runs against; PostgreSQL is listed even when skipped, so the skip shows. */
export const databases = [
  { name: 'sqlite' as const, skip: false as const },
  { name: 'postgres' as const, skip: postgresSkip },
];

export async function openTestDatabase(name: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  return name === 'sqlite' ? sqliteTestDatabase() : postgresTestDatabase(postgresUrl!);
}

async function insertRows(db: Pick<TestDatabase, 'query' | 'param'>, table: string, rows: readonly Row[], maxParams: number): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  const per = Math.max(1, Math.floor(maxParams / columns.length));
  for (let at = 0; at < rows.length; at += per) {
    const slice = rows.slice(at, at + per);
    let n = 0;
    const tuples = slice.map(() => `(${columns.map(() => db.param(++n)).join(', ')})`).join(', ');
    await db.query(`INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${tuples}`, slice.flatMap((r) => columns.map((c) => r[c] ?? null)));
  }
}

// Not tempDir(): these are opened in before() hooks and removed by close().
const scratch = (): string => mkdtempSync(join(tmpdir(), 'lading-sql-'));

function sqliteTestDatabase(): TestDatabase {
  const dir = scratch();
  const file = 'test.db';
  const db = new Database(join(dir, file));
  db.pragma('busy_timeout = 5000');
  const self: TestDatabase = {
    name: 'sqlite',
    url: `sqlite:${file}`,
    baseDir: dir,
    table: (name) => name,
    exec: async (sql) => {
      db.exec(sql);
    },
    query: async (sql, params = []) => {
      const stmt = db.prepare(sql);
      if (stmt.reader) return stmt.all(...params) as Row[];
      stmt.run(...params);
      return [];
    },
    param: () => '?',
    insert: (table, rows) => insertRows(self, table, rows, 30_000),
    close: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

async function postgresTestDatabase(url: string): Promise<TestDatabase> {
  const schema = `lading_test_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  const dir = scratch();
  const self: TestDatabase = {
    name: 'postgres',
    url,
    baseDir: dir,
    table: (name) => `${schema}.${name}`,
    exec: async (sql) => {
      await client.query(sql);
    },
    query: async (sql, params = []) => (await client.query<Row>(sql, params as unknown[])).rows,
    param: (n) => `$${n}`,
    insert: (table, rows) => insertRows(self, table, rows, 60_000),
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/** openDatabase, recording the text of every statement the component sends (one round trip each). */
export function countingOpen(): { readonly open: OpenDatabase; readonly statements: string[] } {
  const statements: string[] = [];
  const open: OpenDatabase = (config, baseDir, options) => {
    const db = openDatabase(config, baseDir, options);
    const counted = (session: SqlSession): SqlSession => ({
      ...session,
      query: (sql, params) => {
        statements.push(sql);
        return session.query(sql, params);
      },
    });
    return {
      dialect: db.dialect,
      description: db.description,
      session: (fn) => db.session((session) => fn(counted(session))),
      describeTable: (session, table) => db.describeTable(session, table),
      close: () => db.close(),
    };
  };
  return { open, statements };
}
