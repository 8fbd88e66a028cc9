import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { duration, secret, urlWithPassword } from '../config/units.js';
import type { Row } from '../core/item.js';

/**
 * The database seam shared by the `sql` sink and the `sql` source (pg-boss style): a tiny adapter
 * per dialect (sqlite.ts, postgres.ts) plus the differences declared as data in SqlDialect. The
 * sink and the source build their SQL from those flags and never branch on the dialect's name.
 */

export const databaseConfig = z.object({
  url: secret(urlWithPassword).min(1, 'database.url cannot be empty')
    .describe('`postgres://user:password@host:5432/db` (or `postgresql://`), `sqlite:path/to.db`, or a plain path to a SQLite file. Relative paths resolve against the pipeline file\'s folder. It may hold a password: write `${env:NAME}`; messages name only the host and database.'),
  max_connections: z.number().int().min(1).max(100).default(4)
    .describe('PostgreSQL: connections in the pool, i.e. chunks written at once at most.'),
  connect_timeout: duration().default(10_000)
    .describe('PostgreSQL: how long to wait for a connection before failing (transient). Default 10s.'),
  busy_timeout: duration().default(5000)
    .describe('SQLite: how long a statement waits for another connection\'s lock before failing (transient). Default 5s.'),
}).strict().superRefine((db, ctx) => {
  const problem = urlProblem(db.url);
  // The message never repeats the URL: it may hold a password.
  if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: problem });
}).meta({ id: 'sql.database' });

export type DatabaseConfig = z.output<typeof databaseConfig>;

/** Where a database URL points; `description` is safe to print (no user, no password). */
export type DatabaseTarget =
  | { readonly dialect: 'postgres'; readonly url: string; readonly description: string }
  | { readonly dialect: 'sqlite'; readonly path: string; readonly description: string };

const postgresScheme = /^postgres(?:ql)?:\/\//i;
const otherScheme = /^[a-z][a-z0-9+.-]*:\/\//i;

function urlProblem(url: string): string | undefined {
  if (postgresScheme.test(url)) {
    try {
      const parsed = new URL(url);
      if (parsed.hostname === '' && !parsed.searchParams.has('host')) return 'a postgres:// URL needs a host: postgres://user:password@host:5432/db';
    } catch {
      return 'not a valid postgres:// URL (special characters in the password must be percent-encoded)';
    }
    return undefined;
  }
  if (/^sqlite:/i.test(url)) return sqlitePath(url) === '' ? 'sqlite: needs a file path, e.g. sqlite:data/app.db' : undefined;
  if (otherScheme.test(url)) return `unsupported database URL scheme "${url.slice(0, url.indexOf(':'))}"; expected postgres://, sqlite: or a SQLite file path`;
  return undefined;
}

const sqlitePath = (url: string): string => url.replace(/^sqlite:(\/\/)?/i, '');

/** Reads a validated `database.url`; relative SQLite paths resolve against `baseDir`. */
export function parseDatabaseUrl(url: string, baseDir: string): DatabaseTarget {
  if (postgresScheme.test(url)) {
    const parsed = new URL(url);
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    const db = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
    return { dialect: 'postgres', url, description: `postgres://${host}${parsed.port ? `:${parsed.port}` : ''}/${db}` };
  }
  const raw = /^sqlite:/i.test(url) ? sqlitePath(url) : url;
  if (raw === ':memory:') return { dialect: 'sqlite', path: raw, description: 'sqlite::memory:' };
  return { dialect: 'sqlite', path: isAbsolute(raw) ? raw : resolve(baseDir, raw), description: `sqlite:${raw}` };
}

// ── identifiers ──────────────────────────────────────────────────────────────────────────────

const identifierPattern = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const qualifiedPattern = /^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$/;

/** A column name: letters, digits, `_` and `$`, not starting with a digit. Quoted in SQL, so it matches exactly. */
export const sqlIdentifier = () => z.string().regex(identifierPattern, 'expected a column name: letters, digits, "_" and "$", not starting with a digit (at most 63 characters)');

/** A table name, optionally schema-qualified (`analytics.contacts`; for SQLite, an attached database). */
export const sqlTableName = () => z.string().regex(qualifiedPattern, 'expected a table name such as contacts or analytics.contacts: letters, digits, "_" and "$", not starting with a digit');

export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
}

export const parseTableName = (text: string): TableName => {
  const dot = text.indexOf('.');
  return dot < 0 ? { schema: undefined, name: text } : { schema: text.slice(0, dot), name: text.slice(dot + 1) };
};

/** Identifiers are validated by the schema; quoting makes them exact (case-sensitive in PostgreSQL). */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const quoteTable = (table: TableName): string =>
  table.schema === undefined ? quoteIdent(table.name) : `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;

// ── the adapter ──────────────────────────────────────────────────────────────────────────────

/** The differences between databases, as data. */
export interface SqlDialect {
  readonly name: 'postgres' | 'sqlite';
  /** Bind parameters one statement may carry (PostgreSQL 65,535; SQLite 32,766). */
  readonly maxParameters: number;
  /** The placeholder of the n-th parameter (1-based): `$3` or `?`. */
  param(n: number): string;
  /**
   * Whether parameters in a `VALUES` list joined to a table need explicit casts to the column
   * types (PostgreSQL infers them only where a value goes straight into a column).
   */
  readonly castsParameters: boolean;
  /** Starts the write transaction of one chunk (SQLite takes the write lock up front). */
  readonly beginWrite: string;
  /** Limits each statement of the current transaction (execution.timeout); absent where unsupported. */
  readonly statementTimeout?: (ms: number) => string;
  /** Makes a record value bindable: booleans, dates, objects and arrays per the driver's rules. */
  bindValue(value: unknown): unknown;
  /** Makes a read value plain data for items (no driver-specific objects). */
  readValue(value: unknown): unknown;
}

export interface SqlResult {
  readonly rows: readonly Row[];
  /** Rows changed by INSERT/UPDATE/DELETE. */
  readonly rowCount: number;
}

/** One connection, held for the duration of a session. */
export interface SqlSession {
  query(sql: string, params?: readonly unknown[]): Promise<SqlResult>;
  /** Runs a script of several statements without parameters (init files). */
  exec(sql: string): Promise<void>;
  /** The column names a query returns, without reading its rows; undefined when it returns no rows (not a SELECT). */
  columnsOf(sql: string): Promise<readonly string[] | undefined>;
}

export interface ColumnInfo {
  readonly name: string;
  /** The declared type as the database spells it (`integer`, `character varying(80)`, `TEXT`). */
  readonly type: string;
  readonly notNull: boolean;
}

export interface TableInfo {
  readonly columns: readonly ColumnInfo[];
  /** Column sets of the primary key and of every full (non-partial) unique index. */
  readonly uniqueKeys: readonly (readonly string[])[];
}

export interface SqlDatabase {
  readonly dialect: SqlDialect;
  /** Safe to print: `postgres://db.example:5432/crm`, `sqlite:data/app.db`. */
  readonly description: string;
  /**
   * Runs `fn` on one connection: a pooled client for PostgreSQL (so chunks run in parallel),
   * the single connection for SQLite (sessions queue: one writer at a time anyway).
   * Errors escape unclassified; callers classify them with their stage.
   */
  session<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /** The table's columns and unique keys; undefined when there is no such table. */
  describeTable(session: SqlSession, table: TableName): Promise<TableInfo | undefined>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** SQLite: create the file (and its folder) when missing; otherwise a missing file is an error. */
  readonly create: boolean;
  readonly readonly?: boolean;
}

/** A plain-data version of values both dialects share. */
export function plainValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}
