import type pg from 'pg';
import type { Row } from '../core/item.js';
import { lazy } from '../core/lazy.js';
import { plainValue, quoteTable, type OpenOptions, type SqlDatabase, type SqlDialect, type SqlSession, type TableInfo, type TableName } from './connection.js';

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  maxParameters: 65_535,
  param: (n) => `$${n}`,
  castsParameters: true,
  beginWrite: 'BEGIN',
  statementTimeout: (ms) => `SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(ms))}`,
  bindValue(value) {
    if (value === undefined || value === null) return null;
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Date || Buffer.isBuffer(value)) return value;
    if (value instanceof Uint8Array) return Buffer.from(value);
    // Arrays too: written as JSON text (for json/jsonb columns), not as PostgreSQL array literals.
    if (typeof value === 'object') return JSON.stringify(value);
    return value;
  },
  readValue: plainValue,
};

// Dates and times stay the database's text: a timestamp without time zone must not be shifted
// into the worker's local zone on the way through. bigint and numeric already come as text.
const asText = (text: string): string => text;
const textTypes = new Set([1082, 1083, 1114, 1184, 1266]); // date, time, timestamp, timestamptz, timetz
const typesOf = (lib: typeof pg) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    textTypes.has(oid) ? asText : lib.types.getTypeParser(oid, format as 'text')) as typeof lib.types.getTypeParser,
});

/**
 * node-postgres costs ~55 ms and 15 MB to import: loaded when PostgreSQL is first connected (a
 * database's first session, the PostgreSQL store's open), so SQLite-only processes never pay it.
 */
export const loadPg = lazy(() => import('pg').then((mod) => mod.default));

export interface PostgresOptions extends OpenOptions {
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
}

/** A PostgreSQL pool through node-postgres: each session is one pooled client, so chunks run in parallel. */
export function openPostgres(url: string, description: string, options: PostgresOptions): SqlDatabase {
  return new PostgresDatabase(async () => {
    const lib = await loadPg();
    const pool = new lib.Pool({
      connectionString: url,
      max: options.maxConnections,
      connectionTimeoutMillis: options.connectTimeoutMs,
      application_name: 'lading',
      types: typesOf(lib),
      // Idle connections never keep the process alive after a run.
      allowExitOnIdle: true,
    });
    // An idle client whose server went away: the pool drops it and the next session reconnects.
    pool.on('error', () => {});
    return pool;
  }, description);
}

class PostgresDatabase implements SqlDatabase {
  readonly dialect = postgresDialect;
  private pool: Promise<pg.Pool> | undefined;

  constructor(private readonly createPool: () => Promise<pg.Pool>, readonly description: string) {}

  /** The pool, created with the first session (or by close(), so a closed database refuses sessions as node-postgres does). */
  private poolOf(): Promise<pg.Pool> {
    return (this.pool ??= this.createPool());
  }

  async session<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await (await this.poolOf()).connect();
    let failed = false;
    // A connection that breaks while checked out reports here as well as to the running query.
    const onError = () => { failed = true; };
    client.on('error', onError);
    try {
      return await fn({
        query: async (sql, params = []) => {
          const result = await client.query<Row>(sql, params as unknown[]);
          return { rows: result.rows, rowCount: result.rowCount ?? 0 };
        },
        exec: async (sql) => {
          await client.query(sql);
        },
        columnsOf: async (sql) => {
          const result = await client.query(`SELECT * FROM (${sql}) AS lading_probe LIMIT 0`);
          return result.fields.map((f) => f.name);
        },
      });
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      client.off('error', onError);
      // A client that saw an error is discarded rather than reused in an unknown state.
      client.release(failed);
    }
  }

  async describeTable(session: SqlSession, table: TableName): Promise<TableInfo | undefined> {
    const found = (await session.query('SELECT to_regclass($1)::oid AS oid', [quoteTable(table)])).rows[0];
    if (found?.oid === null || found?.oid === undefined) return undefined;
    const attributes = (await session.query(
      `SELECT a.attnum AS num, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, [found.oid],
    )).rows;
    const byNum = new Map(attributes.map((a) => [Number(a.num), String(a.name)]));
    const indexes = (await session.query(
      'SELECT i.indkey::int2[] AS cols FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL ORDER BY i.indisprimary DESC',
      [found.oid],
    )).rows;
    return {
      columns: attributes.map((a) => ({ name: String(a.name), type: String(a.type), notNull: a.not_null === true })),
      uniqueKeys: indexes.map((i) => (i.cols as number[]).map((n) => byNum.get(n) ?? '')).filter((cols) => !cols.includes('')),
    };
  }

  async close(): Promise<void> {
    await (await this.poolOf()).end();
  }
}
