import { existsSync } from 'node:fs';
import { z } from 'zod';
import { defineSource, type BuildContext } from '../core/component.js';
import type { Item, Row } from '../core/item.js';
import { classify } from '../errors/classify.js';
import { ladingError, LadingError } from '../errors/lading-error.js';
import { databaseConfig, parseDatabaseUrl, quoteIdent, sqlIdentifier, type SqlDatabase, type SqlSession } from '../sql/connection.js';
import { openDatabase, type OpenDatabase } from '../sql/open.js';
import type { Cursor, Source, SourceInfo, SourceProgress } from './types.js';

export const sqlSourceConfig = z.object({
  type: z.literal('sql'),
  database: databaseConfig.describe('The database read from: PostgreSQL or a SQLite file.'),
  query: z.string().trim().min(1).transform((q) => q.replace(/[\s;]+$/, ''))
    .describe('A SELECT whose rows become the items, e.g. `SELECT id, email FROM contacts WHERE active`. It is read as a subquery, page by page in source.key order, so ORDER BY and LIMIT inside it have no effect.'),
  key: sqlIdentifier()
    .describe('A column the query returns that is unique, not null and orderable (a primary key): rows are read in its order with keyset pagination (`WHERE key > last ORDER BY key LIMIT page_size`), item ids are `sql:<key>`, and a resumed run continues after the last key read.'),
  page_size: z.number().int().min(1).max(100_000).default(1000)
    .describe('Rows per query: at most this many rows are held in memory.'),
  count: z.boolean().default(true)
    .describe('Count the rows (`SELECT count(*)` over the query) when the run opens, for progress and ETA; set false when counting is too slow.'),
}).strict().meta({ id: 'source.sql' });

export type SqlSourceConfig = z.output<typeof sqlSourceConfig>;

export const sqlSource = defineSource({
  type: 'sql',
  summary: 'Rows of a SELECT on PostgreSQL or SQLite, streamed page by page in key order (keyset pagination) and resumable after the last key read.',
  schema: sqlSourceConfig,
  create: (config, ctx) => new SqlSource(config, ctx),
});

/** An item of the sql source: `position` is its key as JSON, the cursor position to resume after it. */
export interface PositionedItem extends Item {
  readonly position: string;
}

/**
 * The `sql` source. Each page is its own short query (no transaction held open while the run
 * works), so rows inserted behind the cursor during a run are read when their key sorts after it.
 */
export class SqlSource implements Source {
  readonly type = 'sql';
  readonly description: string;
  readonly #query: string;
  readonly #key: string;
  #db: SqlDatabase | undefined;
  #checked = false;
  #total: number | undefined;
  #done = 0;

  constructor(private readonly config: SqlSourceConfig, private readonly build: Pick<BuildContext, 'baseDir'>, private readonly open_: OpenDatabase = openDatabase) {
    this.description = parseDatabaseUrl(config.database.url, build.baseDir).description;
    this.#query = `(${config.query}) AS lading_q`;
    this.#key = `lading_q.${quoteIdent(config.key)}`;
  }

  async open(signal: AbortSignal): Promise<SourceInfo> {
    signal.throwIfAborted();
    const db = this.#database();
    try {
      await this.#run(db, 'opening', async (session) => {
        await this.#check(session);
        if (this.config.count) {
          const counted = await session.query(`SELECT count(*) AS n FROM ${this.#query}`);
          this.#total = Number(counted.rows[0]?.n ?? 0);
        }
      });
    } catch (error) {
      // The engine closes only a source that opened: release the connection here.
      await this.close();
      throw error;
    }
    return this.#total === undefined ? {} : { total: this.#total };
  }

  /** Connects and checks the query runs and returns source.key, reading no rows. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const db = this.#connect();
    try {
      await this.#run(db, 'checking', (session) => this.#check(session));
    } finally {
      await db.close();
    }
  }

  read(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item> {
    return this.#items(after, signal);
  }

  progress(): SourceProgress | undefined {
    return this.#total === undefined ? undefined : { done: this.#done, total: this.#total, unit: 'items' };
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    await db?.close();
  }

  async *#items(after: Cursor | null, signal: AbortSignal): AsyncGenerator<PositionedItem> {
    const db = this.#database();
    const { key, page_size: pageSize } = this.config;
    let seq = Math.max(0, after?.seq ?? 0);
    let last: { value: unknown } | undefined;
    if (after?.position !== undefined) {
      last = { value: this.#parsePosition(after.position) };
    } else if (seq > 0) {
      // Resuming by count only: the key of item `seq` is where the next page starts.
      const at = await this.#run(db, 'resuming', async (session) => {
        await this.#check(session);
        return session.query(`SELECT ${this.#key} AS k FROM ${this.#query} ORDER BY ${this.#key} LIMIT 1 OFFSET ${seq - 1}`);
      });
      if (at.rows.length === 0) return;
      last = { value: at.rows[0]!.k };
    }
    this.#done = seq;
    const p = db.dialect.param;
    for (;;) {
      signal.throwIfAborted();
      const page = await this.#run(db, 'reading', async (session) => {
        await this.#check(session);
        return last === undefined
          ? session.query(`SELECT * FROM ${this.#query} ORDER BY ${this.#key} LIMIT ${p(1)}`, [pageSize])
          : session.query(`SELECT * FROM ${this.#query} WHERE ${this.#key} > ${p(1)} ORDER BY ${this.#key} LIMIT ${p(2)}`, [last.value, pageSize]);
      });
      for (const row of page.rows) {
        const value = row[key];
        if (value === null || value === undefined) {
          throw ladingError('SOURCE_SQL_QUERY', `${this.description}: source.key "${key}" is NULL in a row the query returns (after item ${seq}); the key must be unique and not null`, { field: 'source.key' });
        }
        if (last !== undefined && sameKey(last.value, value)) {
          throw ladingError('SOURCE_SQL_QUERY', `${this.description}: source.key "${key}" is not unique: ${JSON.stringify(value)} appears twice; pick a unique column (a primary key)`, { field: 'source.key' });
        }
        last = { value };
        seq++;
        yield { id: `sql:${String(value)}`, seq, data: this.#plain(row), position: JSON.stringify(value) };
        this.#done = seq;
      }
      if (page.rows.length < pageSize) return;
    }
  }

  #plain(row: Row): Row {
    const read = this.#db!.dialect.readValue;
    const out: Row = {};
    for (const [name, value] of Object.entries(row)) out[name] = read(value);
    return out;
  }

  #parsePosition(position: string): unknown {
    try {
      return JSON.parse(position) as unknown;
    } catch (error) {
      throw ladingError('SOURCE_SQL_QUERY', `${this.description}: cannot resume: the checkpoint position is not a key written by the sql source`, { cause: error });
    }
  }

  /** The query returns rows and the key column; checked once per source (open, or the first read). */
  async #check(session: SqlSession): Promise<void> {
    if (this.#checked) return;
    const columns = await session.columnsOf(this.config.query);
    if (columns === undefined) throw ladingError('SOURCE_SQL_QUERY', `${this.description}: source.query returns no rows: it must be a SELECT`, { field: 'source.query' });
    if (!columns.includes(this.config.key)) {
      throw ladingError('SOURCE_SQL_QUERY', `${this.description}: source.key: the query returns no column "${this.config.key}" (it returns: ${columns.join(', ') || 'nothing'}); select the key column, or name it with AS`, { field: 'source.key' });
    }
    this.#checked = true;
  }

  async #run<T>(db: SqlDatabase, doing: string, fn: (session: SqlSession) => Promise<T>): Promise<T> {
    try {
      return await db.session(fn);
    } catch (error) {
      if (error instanceof LadingError) throw error;
      throw classify(error, { ioCode: 'SOURCE_SQL_UNAVAILABLE', doing: `${doing} ${this.description}`, sql: 'source' });
    }
  }

  #database(): SqlDatabase {
    this.#db ??= this.#connect();
    return this.#db;
  }

  #connect(): SqlDatabase {
    const target = parseDatabaseUrl(this.config.database.url, this.build.baseDir);
    if (target.dialect === 'sqlite' && target.path !== ':memory:' && !existsSync(target.path)) {
      throw ladingError('SOURCE_NOT_FOUND', `${this.description}: the SQLite file does not exist (source.database.url)`, { field: 'source.database.url' });
    }
    try {
      return this.open_(this.config.database, this.build.baseDir, { create: false });
    } catch (error) {
      throw classify(error, { ioCode: 'SOURCE_SQL_UNAVAILABLE', doing: `opening ${this.description}`, sql: 'source' });
    }
  }
}

/** Keys as the driver returns them: numbers, strings (bigint, numeric, uuid, timestamps as text). */
const sameKey = (a: unknown, b: unknown): boolean => typeof a === typeof b && String(a) === String(b);
