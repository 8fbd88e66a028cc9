import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Row } from '../core/item.js';
import {
  plainValue, type ColumnInfo, type OpenOptions, type SqlDatabase, type SqlDialect, type SqlSession, type TableInfo, type TableName,
} from './connection.js';

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  // SQLITE_MAX_VARIABLE_NUMBER's default since SQLite 3.32.
  maxParameters: 32_766,
  param: () => '?',
  castsParameters: false,
  beginWrite: 'BEGIN IMMEDIATE',
  bindValue(value) {
    if (value === undefined || value === null) return null;
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value instanceof Date) return value.toISOString();
    if (Buffer.isBuffer(value)) return value;
    if (value instanceof Uint8Array) return Buffer.from(value);
    if (typeof value === 'object') return JSON.stringify(value);
    return value;
  },
  readValue: plainValue,
};

export interface SqliteOptions extends OpenOptions {
  readonly busyTimeoutMs: number;
}

/**
 * A SQLite file through better-sqlite3. One connection: sessions queue behind each other, since
 * SQLite has one writer at a time. Foreign keys are enforced (`PRAGMA foreign_keys = ON`); the
 * journal mode is left as the file has it.
 */
export function openSqlite(path: string, description: string, options: SqliteOptions): SqlDatabase {
  if (options.create && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { fileMustExist: !options.create, readonly: options.readonly ?? false });
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`);
    db.pragma('foreign_keys = ON');
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteDatabase(db, description);
}

class SqliteDatabase implements SqlDatabase {
  readonly dialect = sqliteDialect;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #statements = new Map<string, Database.Statement>();
  readonly #session: SqlSession;

  constructor(private readonly db: Database.Database, readonly description: string) {
    this.#session = {
      query: async (sql, params = []) => {
        const stmt = this.#prepare(sql);
        if (stmt.reader) return { rows: stmt.all(...params) as Row[], rowCount: 0 };
        return { rows: [], rowCount: stmt.run(...params).changes };
      },
      exec: async (sql) => {
        this.db.exec(sql);
      },
      columnsOf: async (sql) => {
        const stmt = this.db.prepare(sql);
        return stmt.reader ? stmt.columns().map((c) => c.name) : undefined;
      },
    };
  }

  session<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => fn(this.#session));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async describeTable(session: SqlSession, table: TableName): Promise<TableInfo | undefined> {
    const schema = table.schema ?? 'main';
    const info = (await session.query('SELECT name, type, "notnull" AS not_null, pk FROM pragma_table_info(?, ?) ORDER BY cid', [table.name, schema])).rows;
    if (info.length === 0) return undefined;
    const columns: ColumnInfo[] = info.map((c) => ({ name: String(c.name), type: String(c.type), notNull: Number(c.not_null) === 1 }));
    const uniqueKeys: string[][] = [];
    const pk = info.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk)).map((c) => String(c.name));
    if (pk.length > 0) uniqueKeys.push(pk);
    const indexes = (await session.query('SELECT name FROM pragma_index_list(?, ?) WHERE "unique" = 1 AND partial = 0', [table.name, schema])).rows;
    for (const index of indexes) {
      const cols = (await session.query('SELECT name FROM pragma_index_info(?, ?) ORDER BY seqno', [String(index.name), schema])).rows;
      if (cols.every((c) => c.name !== null)) uniqueKeys.push(cols.map((c) => String(c.name)));
    }
    return { columns, uniqueKeys };
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#statements.clear();
    if (this.db.open) this.db.close();
  }

  #prepare(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      // Full slices of a chunk share their text; odd-sized tails come and go.
      if (this.#statements.size >= 64) this.#statements.clear();
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }
}
