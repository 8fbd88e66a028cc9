import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { defineSink, type BuildContext } from '../core/component.js';
import { itemRef, type Chunk, type Item } from '../core/item.js';
import { classify, sqlErrorKind } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import {
  databaseConfig, parseDatabaseUrl, parseTableName, quoteIdent, quoteTable, sqlIdentifier, sqlTableName,
  type SqlDatabase, type SqlSession, type TableInfo, type TableName,
} from '../sql/connection.js';
import { openDatabase, type OpenDatabase } from '../sql/open.js';
import type { ChunkContext, RecordSink, RunContext, SinkSummary } from './types.js';

export const sqlSinkConfig = z.object({
  type: z.literal('sql'),
  database: databaseConfig.describe('The database written to: PostgreSQL or a SQLite file.'),
  table: sqlTableName().describe('Table the rows go to, optionally schema-qualified (`crm.contacts`). Names are quoted, so they match exactly (case-sensitive in PostgreSQL).'),
  mode: z.enum(['insert', 'upsert', 'update']).default('insert')
    .describe('insert: new rows. upsert: insert, or update the row with the same key (INSERT … ON CONFLICT (key) DO UPDATE; needs a primary key or unique index on exactly the key columns). update: change existing rows found by key.'),
  key: z.array(sqlIdentifier()).min(1).optional()
    .describe('upsert, update: the columns that identify a row, e.g. [email].'),
  columns: z.array(sqlIdentifier()).min(1).optional()
    .describe('Columns written, in order, from the record fields of the same name; other fields are ignored. Default: the pipeline\'s map fields, else the fields of the first record written — a later record with another field then fails with SINK_SQL_DATA. A field missing from a record is written as NULL (not the column default).'),
  on_conflict: z.enum(['error', 'ignore']).default('error')
    .describe('insert: a row that collides with an existing unique key fails with SINK_SQL_CONSTRAINT (error), or is skipped and counted as delivered (ignore: ON CONFLICT DO NOTHING, safe to re-run).'),
  on_missing: z.enum(['error', 'ignore']).default('error')
    .describe('update: an item whose key matches no row fails with SINK_SQL_NO_ROW (error), or counts as delivered (ignore).'),
  init_statement: z.string().min(1).optional()
    .describe('SQL run when the run opens the output, before the table is checked, e.g. `CREATE TABLE IF NOT EXISTS …`. It runs on every run, so it must be idempotent. With an init, a missing SQLite file is created.'),
  init_files: z.array(z.string().min(1)).optional()
    .describe('SQL script files run in order after init_statement (same rules); relative paths resolve against the pipeline file\'s folder.'),
}).strict().superRefine((output, ctx) => {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (output.mode !== 'insert' && output.key === undefined) issue('key', `mode ${output.mode} needs key: the columns that identify a row, e.g. key: [id]`);
  if (output.mode === 'insert' && output.key !== undefined) issue('key', 'key applies to mode upsert and update; insert writes new rows');
  if (output.mode !== 'insert' && output.on_conflict === 'ignore') issue('on_conflict', 'on_conflict applies to mode insert');
  if (output.mode !== 'update' && output.on_missing === 'ignore') issue('on_missing', 'on_missing applies to mode update');
  for (const [name, list] of [['key', output.key], ['columns', output.columns]] as const) {
    const dup = list?.find((c, i) => list.indexOf(c) !== i);
    if (dup !== undefined) issue(name, `"${dup}" is listed twice`);
  }
  if (output.columns !== undefined && output.key !== undefined) {
    const missing = output.key.filter((k) => !output.columns!.includes(k));
    if (missing.length > 0) issue('key', `key columns must be among output.columns; add ${missing.map((c) => `"${c}"`).join(', ')}`);
    if (output.mode === 'update' && output.columns.every((c) => output.key!.includes(c))) issue('columns', 'mode update needs at least one column besides the key to set');
  }
}).meta({ id: 'sink.sql' });

export type SqlSinkConfig = z.output<typeof sqlSinkConfig>;

export const sqlSink = defineSink({
  type: 'sql',
  summary: 'Writes records as rows of a PostgreSQL or SQLite table (insert, upsert or update): one transaction per chunk, multi-row statements, rows the database refuses fail alone.',
  schema: sqlSinkConfig,
  create: (config, ctx) => new SqlSink(config, ctx),
});

/** One record made ready to bind: its values in column order. */
interface PreparedRow {
  readonly item: Item;
  readonly values: readonly unknown[];
}

const rowSavepoint = 'lading_rows';

/**
 * The `sql` sink. Each chunk is one transaction of multi-row statements, sliced under the
 * dialect's parameter limit. A statement the database refuses because of a row (a constraint or
 * a value: SQLSTATE 23xxx/22xxx, SQLITE_CONSTRAINT_*) is rolled back to its savepoint and split
 * in halves until the offending rows stand alone: they fail as items, every other row is written
 * in the same transaction. Anything else (locks, connection, missing table) fails the chunk.
 */
export class SqlSink implements RecordSink {
  readonly type = 'sql';
  readonly ordering = 'parallel';
  readonly #table: TableName;
  readonly #description: string;
  #db: SqlDatabase | undefined;
  #info: TableInfo | undefined;
  #runColumns: readonly string[] | undefined;
  #columns: readonly string[] | undefined;

  constructor(private readonly config: SqlSinkConfig, private readonly build: Pick<BuildContext, 'baseDir'>, private readonly open_: OpenDatabase = openDatabase) {
    this.#table = parseTableName(config.table);
    this.#description = `${parseDatabaseUrl(config.database.url, build.baseDir).description} table ${config.table}`;
  }

  /** Connects and checks the table and the configured columns and key, without writing. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const target = parseDatabaseUrl(this.config.database.url, this.build.baseDir);
    const init = this.#hasInit();
    if (init) await this.#initScripts(); // the files can be read
    if (init && target.dialect === 'sqlite' && target.path !== ':memory:' && !existsSync(target.path)) return; // the run creates it
    const db = this.#connect(false);
    try {
      await db.session(async (session) => {
        const info = await db.describeTable(session, this.#table);
        if (info === undefined && init) return; // the init creates it
        this.#checkTable(info);
      });
    } catch (error) {
      throw classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: `checking ${this.#description}`, sql: 'sink' });
    } finally {
      await db.close();
    }
  }

  async open(ctx: RunContext): Promise<void> {
    this.#runColumns = ctx.columns;
    const db = this.#connect(this.#hasInit());
    this.#db = db;
    try {
      const scripts = await this.#initScripts();
      await db.session(async (session) => {
        for (const script of scripts) await session.exec(script);
        this.#info = this.#checkTable(await db.describeTable(session, this.#table));
      });
    } catch (error) {
      // The engine closes only an output that opened: release the connection here.
      this.#db = undefined;
      await db.close().catch(() => {});
      throw classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: `opening ${this.#description}`, sql: 'sink' });
    }
  }

  async write(chunk: Chunk, ctx: ChunkContext): Promise<{ readonly failures: ReadonlyMap<string, LadingError> }> {
    const failures = new Map<string, LadingError>();
    if (chunk.items.length === 0) return { failures };
    const db = this.#db;
    if (db === undefined || this.#info === undefined) throw ladingError('SINK_SQL_REFUSED', `${this.#description}: write called before open`);
    // Settled before the first await: with parallel chunks, the first write call decides.
    const columns = this.#columns ??= this.#resolveColumns(chunk.items[0]!);
    const rows = this.#prepare(chunk.items, columns, failures);
    if (rows.length === 0) return { failures };
    try {
      await db.session((session) => this.#transaction(session, rows, columns, ctx, failures));
    } catch (error) {
      throw classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: `writing chunk ${chunk.index} to ${this.#description}`, sql: 'sink' });
    }
    return { failures };
  }

  async close(_ctx: RunContext, _outcome: 'completed' | 'aborted'): Promise<SinkSummary> {
    const db = this.#db;
    this.#db = undefined;
    await db?.close();
    return { files: [], destination: this.#description };
  }

  // ── checks ─────────────────────────────────────────────────────────────────────────────────

  #hasInit(): boolean {
    return this.config.init_statement !== undefined || (this.config.init_files?.length ?? 0) > 0;
  }

  async #initScripts(): Promise<string[]> {
    const scripts = this.config.init_statement === undefined ? [] : [this.config.init_statement];
    for (const file of this.config.init_files ?? []) {
      try {
        scripts.push(await readFile(resolve(this.build.baseDir, file), 'utf8'));
      } catch (error) {
        throw ladingError('SINK_SQL_REFUSED', `output.init_files: cannot read ${file} (${(error as { code?: string }).code ?? String(error)})`, { cause: error, field: 'output.init_files' });
      }
    }
    return scripts;
  }

  #connect(create: boolean): SqlDatabase {
    const target = parseDatabaseUrl(this.config.database.url, this.build.baseDir);
    if (!create && target.dialect === 'sqlite' && target.path !== ':memory:' && !existsSync(target.path)) {
      throw this.#refused('output.database.url', `the SQLite file does not exist; create it with table "${this.config.table}", or set output.init_files / init_statement to create it`);
    }
    try {
      return this.open_(this.config.database, this.build.baseDir, { create });
    } catch (error) {
      throw classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: `opening ${this.#description}`, sql: 'sink' });
    }
  }

  #refused(field: string, message: string): LadingError {
    return ladingError('SINK_SQL_REFUSED', `${this.#description}: ${message}`, { field });
  }

  /** The table exists and has the configured columns; upsert has a unique key on exactly `key`. */
  #checkTable(info: TableInfo | undefined): TableInfo {
    const { config } = this;
    if (info === undefined) {
      throw this.#refused('output.table', `table "${config.table}" does not exist (output.table); create it first, or let output.init_files / init_statement create it`);
    }
    this.#checkColumns(info, 'output.columns', config.columns ?? []);
    this.#checkColumns(info, 'output.key', config.key ?? []);
    if (config.mode === 'upsert') {
      const key = new Set(config.key);
      if (!info.uniqueKeys.some((cols) => cols.length === key.size && cols.every((c) => key.has(c)))) {
        const found = info.uniqueKeys.map((cols) => `(${cols.join(', ')})`).join(', ') || 'none';
        throw this.#refused('output.key', `mode upsert needs a primary key or unique index on exactly (${config.key!.join(', ')}) in table "${config.table}"; its unique keys: ${found}`);
      }
    }
    return info;
  }

  #checkColumns(info: TableInfo, field: string, wanted: readonly string[]): void {
    const names = new Set(info.columns.map((c) => c.name));
    const missing = wanted.filter((c) => !names.has(c));
    if (missing.length > 0) {
      throw this.#refused(field, `table "${this.config.table}" has no column ${missing.map((c) => `"${c}"`).join(', ')} (${field}); its columns: ${[...names].join(', ')}`);
    }
  }

  /** output.columns, else the map's fields, else the first record's fields; checked against the table. */
  #resolveColumns(first: Item): readonly string[] {
    const { config } = this;
    const from = config.columns !== undefined ? 'output.columns' : this.#runColumns !== undefined ? 'the map fields' : 'the first record\'s fields';
    const columns = config.columns ?? this.#runColumns ?? Object.keys(first.data);
    if (columns.length === 0) throw this.#refused('output.columns', `no columns to write: ${from} are empty; set output.columns`);
    const names = new Set(this.#info!.columns.map((c) => c.name));
    const unknown = columns.filter((c) => !names.has(c));
    if (unknown.length > 0) {
      throw this.#refused('output.columns', `table "${config.table}" has no column ${unknown.map((c) => `"${c}"`).join(', ')} (the columns written are ${from}); set output.columns, or rename the fields with map`);
    }
    const key = config.key ?? [];
    const absent = key.filter((k) => !columns.includes(k));
    if (absent.length > 0) throw this.#refused('output.key', `key column ${absent.map((c) => `"${c}"`).join(', ')} is not among the columns written (${from}: ${columns.join(', ')})`);
    if (config.mode === 'update' && columns.every((c) => key.includes(c))) {
      throw this.#refused('output.columns', `mode update has nothing to set: every column written (${columns.join(', ')}) is part of the key`);
    }
    return columns;
  }

  /** Values in column order; a record that cannot be bound fails alone, before any statement. */
  #prepare(items: readonly Item[], columns: readonly string[], failures: Map<string, LadingError>): PreparedRow[] {
    const dialect = this.#db!.dialect;
    const inferred = this.config.columns === undefined;
    const known = new Set(columns);
    const rows: PreparedRow[] = [];
    for (const item of items) {
      if (inferred) {
        const extra = Object.keys(item.data).filter((k) => !known.has(k));
        if (extra.length > 0) {
          failures.set(item.id, ladingError('SINK_SQL_DATA', `${itemRef(item).describe}: field ${extra.map((f) => `"${f}"`).join(', ')} is not among the columns written to ${this.config.table} (${columns.join(', ')}); set output.columns, or map the records to one shape`, { itemId: item.id, field: extra[0]! }));
          continue;
        }
      }
      const values: unknown[] = [];
      let failed = false;
      for (const column of columns) {
        try {
          values.push(dialect.bindValue(item.data[column]));
        } catch (error) {
          failures.set(item.id, ladingError('SINK_SQL_DATA', `${itemRef(item).describe}, field "${column}": cannot be written (${error instanceof Error ? error.message : String(error)})`, { itemId: item.id, field: column, cause: error }));
          failed = true;
          break;
        }
      }
      if (!failed) rows.push({ item, values });
    }
    return rows;
  }

  // ── writing ────────────────────────────────────────────────────────────────────────────────

  async #transaction(session: SqlSession, rows: readonly PreparedRow[], columns: readonly string[], ctx: ChunkContext, failures: Map<string, LadingError>): Promise<void> {
    const dialect = this.#db!.dialect;
    const perStatement = Math.max(1, Math.floor(dialect.maxParameters / columns.length));
    await session.query(dialect.beginWrite);
    try {
      if (ctx.timeoutMs !== undefined && dialect.statementTimeout) await session.query(dialect.statementTimeout(ctx.timeoutMs));
      for (let at = 0; at < rows.length; at += perStatement) {
        ctx.signal.throwIfAborted();
        await this.#place(session, rows.slice(at, at + perStatement), columns, failures);
      }
      await session.query('COMMIT');
    } catch (error) {
      await session.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /**
   * Writes `rows` under a savepoint. When the database refuses a row, the savepoint is rolled
   * back and each half is placed again, so k bad rows among n cost about k·log2(n) statements;
   * a single refused row becomes that item's failure. Rows keep their order, so of two rows with
   * the same unique key the first is written and the second fails.
   */
  async #place(session: SqlSession, rows: readonly PreparedRow[], columns: readonly string[], failures: Map<string, LadingError>): Promise<void> {
    await session.query(`SAVEPOINT ${rowSavepoint}`);
    try {
      const missing = await this.#apply(session, rows, columns);
      await session.query(`RELEASE SAVEPOINT ${rowSavepoint}`);
      for (const row of missing) {
        failures.set(row.item.id, ladingError('SINK_SQL_NO_ROW', `${itemRef(row.item).describe}: no row of ${this.config.table} has ${this.#keyText(row)}`, { itemId: row.item.id }));
      }
      return;
    } catch (error) {
      const kind = sqlErrorKind(error);
      if (kind !== 'constraint' && kind !== 'data') throw error;
      await session.query(`ROLLBACK TO SAVEPOINT ${rowSavepoint}`);
      await session.query(`RELEASE SAVEPOINT ${rowSavepoint}`);
      if (rows.length === 1) {
        const { item } = rows[0]!;
        failures.set(item.id, classify(error, { ioCode: 'SINK_SQL_CONNECT', doing: `${itemRef(item).describe} → ${this.config.table}`, itemId: item.id, sql: 'sink' }));
        return;
      }
    }
    const half = Math.ceil(rows.length / 2);
    await this.#place(session, rows.slice(0, half), columns, failures);
    await this.#place(session, rows.slice(half), columns, failures);
  }

  /** Runs the mode's statement for `rows`; returns the rows an update found no row for (when they count as failures). */
  async #apply(session: SqlSession, rows: readonly PreparedRow[], columns: readonly string[]): Promise<readonly PreparedRow[]> {
    const { config } = this;
    const params = rows.flatMap((r) => r.values);
    if (config.mode === 'update') {
      let missing: PreparedRow[] = [];
      if (config.on_missing === 'error') {
        const found = await session.query(this.#missingSql(rows.length, columns), params);
        missing = found.rows.map((r) => rows[Number(r.n)]!);
      }
      await session.query(this.#updateSql(rows.length, columns), params);
      return missing;
    }
    await session.query(this.#insertSql(rows.length, columns), params);
    return [];
  }

  #values(count: number, columns: readonly string[], opts: { cast: boolean; ordinal: boolean }): string {
    const dialect = this.#db!.dialect;
    const types = new Map(this.#info!.columns.map((c) => [c.name, c.type]));
    const tuples: string[] = [];
    let n = 0;
    for (let row = 0; row < count; row++) {
      const cells = columns.map((c) => {
        const p = dialect.param(++n);
        return opts.cast && dialect.castsParameters ? `${p}::${types.get(c)!}` : p;
      });
      tuples.push(`(${opts.ordinal ? `${row}, ` : ''}${cells.join(', ')})`);
    }
    return tuples.join(', ');
  }

  #insertSql(count: number, columns: readonly string[]): string {
    const { config } = this;
    const head = `INSERT INTO ${quoteTable(this.#table)} (${columns.map(quoteIdent).join(', ')}) VALUES ${this.#values(count, columns, { cast: false, ordinal: false })}`;
    if (config.mode === 'upsert') {
      const key = config.key!;
      const set = columns.filter((c) => !key.includes(c)).map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`);
      return `${head} ON CONFLICT (${key.map(quoteIdent).join(', ')}) DO ${set.length === 0 ? 'NOTHING' : `UPDATE SET ${set.join(', ')}`}`;
    }
    return config.on_conflict === 'ignore' ? `${head} ON CONFLICT DO NOTHING` : head;
  }

  /** `WITH v(n, cols…) AS (VALUES …)`: the rows as a relation, typed for PostgreSQL. */
  #withValues(count: number, columns: readonly string[]): string {
    return `WITH lading_v (lading_n, ${columns.map(quoteIdent).join(', ')}) AS (VALUES ${this.#values(count, columns, { cast: true, ordinal: true })})`;
  }

  #keyMatch(): string {
    return this.config.key!.map((k) => `lading_t.${quoteIdent(k)} = lading_v.${quoteIdent(k)}`).join(' AND ');
  }

  #updateSql(count: number, columns: readonly string[]): string {
    const key = this.config.key!;
    const set = columns.filter((c) => !key.includes(c)).map((c) => `${quoteIdent(c)} = lading_v.${quoteIdent(c)}`);
    return `${this.#withValues(count, columns)} UPDATE ${quoteTable(this.#table)} AS lading_t SET ${set.join(', ')} FROM lading_v WHERE ${this.#keyMatch()}`;
  }

  #missingSql(count: number, columns: readonly string[]): string {
    return `${this.#withValues(count, columns)} SELECT lading_v.lading_n AS n FROM lading_v WHERE NOT EXISTS (SELECT 1 FROM ${quoteTable(this.#table)} AS lading_t WHERE ${this.#keyMatch()}) ORDER BY 1`;
  }

  #keyText(row: PreparedRow): string {
    return this.config.key!.map((k) => `${k} = ${JSON.stringify(row.item.data[k]) ?? 'null'}`).join(', ');
  }
}
