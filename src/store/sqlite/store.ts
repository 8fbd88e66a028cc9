import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { FileArtifact, RunReport } from '../../core/report.js';
import { classify } from '../../errors/classify.js';
import { ladingError } from '../../errors/lading-error.js';
import { leaseLost } from '../lease-lost.js';
import { ledgerDdl, loadMigrations, runMigrations, type Migration, type MigrationDriver, type MigrationResult } from '../migrate.js';
import type {
  ActiveLeases, Alert, ApiKeyRecord, AuditEntry, AuditFilter, Batch, ChunkCommit, ChunkLease, ChunkRecord, CutOptions, DeadLetter, DeadLetterCount, DeadLetterFilter, DeliveredFile, DeliveryFilter, DeliveryRecord, DeliveryState, DeliveryStep, DeliveryStepRecord, DeliveryUpdate, InboxInput, InboxJsonPage, InboxReconciliation, InboxRecord, InboxRecordRef, InboxStats, IngestOutcome, IngestRequest, ItemErrorQuery, ItemErrorRecord, KnownHost, NotificationRecord, NotifyKey, PurgeArchive, PurgePlan, PurgeResult, QueuedJobSpec, ReportWindow, RuleState, RunControl, RunFilter, RunRecord, RunSpec, StepOptions, Store, ThroughputBucket, ThroughputQuery,
} from '../types.js';
import { archivedRow, inboxRef, purgePageSize } from '../reports.js';
import * as rows from '../rows.js';
import { openConnection, statementCache, WalSync, type ConnectionOptions } from './connection.js';
import { InboxWrites } from './inbox-writes.js';
import { batchOfRecord, cutPosition, purgeableErrors, purgeableRecords } from '../batch-ranges.js';
import { Arrivals } from '../inbox-totals.js';
import { IngestThread } from './ingest-thread.js';
import { ReadThread } from './read-thread.js';
import { reconcileOn } from './reconcile.js';

// This driver's rows (times as string, JSON as string); their mapping is shared with the other store in rows.ts.
type Rows = rows.DriverRows<string, string>;
const { toRun, toBatch, toItemError, toLease, toDeliveryState, toDelivery, toApiKey } = rows.mappers(rows.sqliteDecode);
const { deliveryColumns } = rows;

/**
 * The embedded default store: one SQLite file (better-sqlite3, WAL). Every write is one
 * BEGIN IMMEDIATE transaction, so concurrent processes on the same file queue on the write lock
 * (busy_timeout) instead of failing with a stale snapshot. Methods are async to match the
 * PostgreSQL store; the calls inside are synchronous.
 */

export interface SqliteStoreOptions extends ConnectionOptions {
  /**
   * Commit ingestRequests groups (the API's group commits) on a thread of its own with its own
   * connection, so the event loop goes on serving while their records are inserted and fsynced.
   * Ignored for an in-memory database, which no thread can share.
   */
  readonly ingestThread?: boolean;
  /**
   * Run the reconciliation (reports, SLAs) on a thread of its own with its own connection, so a
   * long-running process goes on serving while a large window is read (ReadThread). Ignored for
   * an in-memory database.
   */
  readonly readThread?: boolean;
  /** Ledger timestamps of migrations; defaults to the system clock. */
  readonly now?: () => Date;
  /** false: open without migrating, so the caller can call migrate() and see what it applied. Default true. */
  readonly migrate?: boolean;
}

/** Where the SQLite migrations live: next to this module (the build copies the .sql files). */
export const sqliteMigrationsDir = (): URL => new URL('./migrations/', import.meta.url);

/** Opens (creating the file and its folder when missing) and migrates a SQLite store. */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  let db: Database.Database;
  try {
    db = openConnection(path, options);
  } catch (error) {
    throw classify(error, { ioCode: 'STORE_FAILED', doing: `sqlite: open ${path}` });
  }
  const store = new SqliteStore(db, path, options.now);
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      db.close();
      throw error;
    }
  }
  // After migrating: the threads' connections find the tables in place.
  const shared = path !== ':memory:' && !path.startsWith('file:');
  if (options.ingestThread === true && shared) {
    store.commitIngestOn(new IngestThread({ path, options: { synchronous: options.synchronous, busyTimeoutMs: options.busyTimeoutMs } }));
  }
  if (options.readThread === true && shared) store.readOn(new ReadThread({ path, busyTimeoutMs: options.busyTimeoutMs }));
  return store;
}

/** The migration runner's SQLite driver: BEGIN IMMEDIATE serializes concurrent migrators. */
export function sqliteMigrationDriver(db: Database.Database): MigrationDriver {
  return {
    async ensureLedger() {
      db.exec(ledgerDdl);
    },
    async appliedVersions() {
      return db.prepare('SELECT version FROM lading_migrations').pluck().all() as number[];
    },
    async apply(migration: Migration, appliedAt: Date) {
      return db.transaction(() => {
        const present = db.prepare('SELECT 1 FROM lading_migrations WHERE version = ?').pluck().get(migration.version);
        if (present !== undefined) return false;
        db.prepare('INSERT INTO lading_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(migration.version, migration.name, appliedAt.toISOString());
        db.exec(migration.sql);
        return true;
      }).immediate();
    },
  };
}

interface ChunkTimelineRow {
  chunk_index: number; last_seq: number; processed: number; succeeded: number; failed: number; warnings: number; committed_at: string; duration_ms: number | null;
}
type DeadLetterRow = Rows['itemError'] & { run_id: string; pipeline: string; status: string };
interface ChunkRow { processed: number; succeeded: number; failed: number; warnings: number }

const iso = (date: Date): string => date.toISOString();

/**
 * `SELECT id, data, received_at` read as arrays (better-sqlite3's raw mode): an object per row
 * cost a million-record batch 0.3–0.5 s more to read (1.3–1.5 s against 0.9–1.2 s on machine G).
 */
type InboxRow = readonly [id: number, data: string, receivedAt: string];

/**
 * Inbox rows as records. The records of one ingest commit share their received_at text, which is
 * parsed once for all of them: a Date made from the text cost 0.36–0.44 s per million records on
 * machine F, one made from its number 0.06–0.11 s. Each record still gets a Date of its own.
 */
function toInboxRecords(rows: readonly InboxRow[]): InboxRecord[] {
  let text: string | undefined;
  let ms = 0;
  return rows.map(([id, data, receivedAt]) => {
    if (receivedAt !== text) ms = Date.parse((text = receivedAt));
    return { id, data: JSON.parse(data) as Record<string, unknown>, receivedAt: new Date(ms) };
  });
}

/** A parameter bound twice: SQLite's `? IS NULL OR col = ?` takes it once per placeholder. */
const twice = <T>(value: T): [T, T] => [value, value];

export class SqliteStore implements Store {
  readonly description: string;
  readonly dialect = 'sqlite';
  readonly #db: Database.Database;
  readonly #now: (() => Date) | undefined;
  readonly #stmt: (sql: string) => Database.Statement;
  /** commitChunk's transaction, made once: better-sqlite3 builds a wrapper for every db.transaction() (with db.pragma(), which prepares its statement each call: ~2% of a 1M no-op run). */
  readonly #commitTransaction: Database.Transaction<(runId: string, commits: readonly ChunkCommit[]) => void>;
  readonly #inbox: InboxWrites;
  #synchronous: number | undefined;
  #ingestThread: IngestThread | undefined;
  #readThread: ReadThread | undefined;
  /** The store file's write-ahead log, which durable checkpoint commits fdatasync themselves; undefined in memory. */
  readonly #wal: WalSync | undefined;

  /** Wraps an open connection; prefer openSqliteStore, which sets the pragmas and migrates. */
  constructor(db: Database.Database, path: string, now?: () => Date) {
    this.#db = db;
    this.description = path;
    this.#wal = WalSync.for(path);
    this.#now = now;
    this.#stmt = statementCache(db);
    this.#inbox = new InboxWrites(db);
    this.#commitTransaction = db.transaction((runId: string, commits: readonly ChunkCommit[]) => {
      for (const commit of commits) this.#commitChunk(runId, commit);
    });
  }

  /** From now on reconcile reads on `thread` (SqliteStoreOptions.readThread); close() ends it. */
  readOn(thread: ReadThread): void {
    this.#readThread = thread;
  }

  /** From now on ingestRequests commits on `thread` (SqliteStoreOptions.ingestThread); close() ends it. */
  commitIngestOn(thread: IngestThread): void {
    this.#ingestThread = thread;
  }

  async migrate(): Promise<MigrationResult> {
    try {
      const migrations = await loadMigrations(sqliteMigrationsDir());
      return await runMigrations(sqliteMigrationDriver(this.#db), migrations, {
        description: this.description,
        ...(this.#now === undefined ? {} : { now: this.#now }),
      });
    } catch (error) {
      throw classify(error, { ioCode: 'STORE_FAILED', doing: 'sqlite: migrate' });
    }
  }

  async close(): Promise<void> {
    await this.#ingestThread?.close();
    this.#ingestThread = undefined;
    await this.#readThread?.close();
    this.#readThread = undefined;
    await this.#wal?.close();
    await this.#call('close', () => {
      if (this.#db.open) this.#db.close();
    });
  }

  // ── inbox ──────────────────────────────────────────────────────────────────────────────────

  async ingest(pipeline: string, records: readonly InboxInput[], at: Date): Promise<{ readonly accepted: number; readonly duplicates: number }> {
    return this.#call('ingest', () => {
      if (records.length === 0) return { accepted: 0, duplicates: 0 };
      return this.#db.transaction(() => {
        const arrivals = new Arrivals();
        const counts = this.#inbox.insert(pipeline, records, iso(at), arrivals);
        this.#inbox.tally(arrivals, iso(at));
        return counts;
      }).immediate();
    });
  }

  async cutBatch(pipeline: string, opts: CutOptions): Promise<Batch | null> {
    if (opts.maxRecords !== undefined && !(Number.isInteger(opts.maxRecords) && opts.maxRecords > 0)) {
      throw new RangeError(`cutBatch maxRecords must be a positive integer, got ${opts.maxRecords}`);
    }
    return this.#call('cutBatch', () => {
      const limit = opts.maxRecords ?? -1; // SQLite: negative LIMIT = no limit
      const position = this.#stmt(`SELECT ${cutPosition('?')}`).pluck();
      // A batch is a range of ids (store/batch-ranges.ts), so a cut with `until` stops before the first
      // pending record received after it (ids follow the order of ingest commits, and so almost
      // always their time). One writer at a time and AUTOINCREMENT ids: nothing can be committed
      // below the range once it is cut.
      const late = this.#stmt('SELECT min(id) FROM inbox_records WHERE pipeline = ? AND batch_id IS NULL AND id > ? AND received_at > ?').pluck();
      const pending = this.#stmt(
        `SELECT count(*) AS records, coalesce(sum(bytes), 0) AS bytes, count(priority) AS prioritized, min(id) AS first, max(id) AS last,
           min(received_at) AS since, max(received_at) AS until FROM (
           SELECT id, bytes, priority, received_at FROM inbox_records WHERE pipeline = ? AND batch_id IS NULL AND id > ? AND id < ? ORDER BY id LIMIT ?)`,
      );
      const insertBatch = this.#stmt(
        `INSERT INTO batches (id, pipeline, records, bytes, cut_at, reason, status, first_id, last_id) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
      );
      const untally = this.#stmt('UPDATE inbox_totals SET records = records - ?, bytes = bytes - ?, prioritized = prioritized - ? WHERE pipeline = ?');
      const departed = this.#stmt('DELETE FROM inbox_arrivals WHERE pipeline = ? AND received_at BETWEEN ? AND ? AND last_id <= ?');
      return this.#db.transaction((): Batch | null => {
        if (opts.fire) this.#recordFire(pipeline, opts.fire.trigger, opts.fire.at);
        const after = position.get(pipeline) as number;
        const stop = (opts.until === undefined ? null : late.get(pipeline, after, iso(opts.until)) as number | null) ?? Number.MAX_SAFE_INTEGER;
        const head = pending.get(pipeline, after, stop, limit) as { records: number; bytes: number; prioritized: number; first: number | null; last: number | null; since: string; until: string };
        if (head.records === 0 || head.first === null || head.last === null) return null;
        const cutAt = iso(opts.at);
        insertBatch.run(opts.id, pipeline, head.records, head.bytes, cutAt, opts.reason, head.first, head.last);
        untally.run(head.records, head.bytes, head.prioritized, pipeline);
        departed.run(pipeline, head.since, head.until, head.last);
        return { id: opts.id, pipeline, records: head.records, bytes: head.bytes, cutAt: new Date(cutAt), reason: opts.reason, status: 'open' };
      }).immediate();
    });
  }

  async openBatch(pipeline: string): Promise<Batch | null> {
    return this.#call('openBatch', () => {
      const row = this.#stmt(
        `SELECT * FROM batches WHERE pipeline = ? AND status = 'open' ORDER BY cut_at, rowid LIMIT 1`,
      ).get(pipeline) as Rows['batch'] | undefined;
      return row === undefined ? null : toBatch(row);
    });
  }

  async getBatch(batchId: string): Promise<Batch | null> {
    return this.#call('getBatch', () => {
      const row = this.#stmt('SELECT * FROM batches WHERE id = ?').get(batchId) as Rows['batch'] | undefined;
      return row === undefined ? null : toBatch(row);
    });
  }

  async readPending(pipeline: string, afterId: number, limit: number): Promise<InboxRecord[]> {
    return this.#call('readPending', () => {
      const rows = this.#stmt(
        `SELECT id, data, received_at FROM inbox_records WHERE pipeline = ? AND batch_id IS NULL AND id > max(?, ${cutPosition('?')}) ORDER BY id LIMIT ?`,
      ).raw(true).all(pipeline, afterId, pipeline, limit) as InboxRow[];
      return toInboxRecords(rows);
    });
  }

  async readBatch(batchId: string, afterId: number, limit: number): Promise<InboxRecord[]> {
    return this.#call('readBatch', () => toInboxRecords(this.#batchRows('data, received_at', batchId, afterId, limit) as InboxRow[]));
  }

  async readBatchJson(batchId: string, afterId: number, limit: number): Promise<InboxJsonPage> {
    return this.#call('readBatchJson', () => {
      const rows = this.#batchRows('data', batchId, afterId, limit) as [number, string][];
      return { ids: rows.map((row) => row[0]), json: rows.map((row) => row[1]) };
    });
  }

  #batchRows(columns: string, batchId: string, afterId: number, limit: number): unknown[] {
    const batch = this.#stmt('SELECT pipeline, first_id, last_id FROM batches WHERE id = ?').get(batchId) as
      { pipeline: string; first_id: number | null; last_id: number | null } | undefined;
    if (batch === undefined) return [];
    // Both read the (pipeline, batch_id, id) index as a keyset.
    if (batch.first_id === null || batch.last_id === null) {
      return this.#stmt(`SELECT id, ${columns} FROM inbox_records WHERE pipeline = ? AND batch_id = ? AND id > ? ORDER BY id LIMIT ?`)
        .raw(true).all(batch.pipeline, batchId, afterId, limit);
    }
    return this.#stmt(`SELECT id, ${columns} FROM inbox_records WHERE pipeline = ? AND batch_id IS NULL AND id > ? AND id <= ? ORDER BY id LIMIT ?`)
      .raw(true).all(batch.pipeline, Math.max(afterId, batch.first_id - 1), batch.last_id, limit);
  }

  async completeBatch(batchId: string, runId: string, at: Date): Promise<void> {
    await this.#call('completeBatch', () => {
      const done = this.#stmt(
        `UPDATE batches SET status = 'delivered', delivered_at = ?, run_id = ? WHERE id = ? AND status = 'open'`,
      ).run(iso(at), runId, batchId).changes;
      // Completing a delivered batch again is a no-op (the first delivery's run is kept).
      if (done === 0 && this.#stmt('SELECT 1 FROM batches WHERE id = ?').pluck().get(batchId) === undefined) {
        throw ladingError('STORE_FAILED', `sqlite: completeBatch: no batch ${batchId}`);
      }
    });
  }

  async inboxStats(pipeline: string): Promise<InboxStats> {
    // Kept totals and one seek (store/inbox-totals.ts), not a read of every pending record.
    return this.#call('inboxStats', () => {
      const totals = this.#stmt('SELECT records, bytes, prioritized FROM inbox_totals WHERE pipeline = ?').get(pipeline) as { records: number; bytes: number; prioritized: number } | undefined;
      const oldest = this.#stmt('SELECT min(received_at) FROM inbox_arrivals WHERE pipeline = ?').pluck().get(pipeline) as string | null;
      const priorities = totals === undefined || totals.prioritized === 0 ? [] : this.#stmt(
        `SELECT priority, count(*) AS count FROM inbox_records INDEXED BY inbox_by_priority
         WHERE pipeline = ? AND priority IS NOT NULL AND id > ${cutPosition('?')} AND batch_id IS NULL GROUP BY priority ORDER BY priority DESC`,
      ).all(pipeline, pipeline) as { priority: number; count: number }[];
      return { pending: totals?.records ?? 0, bytes: totals?.bytes ?? 0, oldest: oldest === null ? null : new Date(oldest), priorities };
    });
  }

  // ── schedule triggers ──────────────────────────────────────────────────────────────────────

  async lastFire(pipeline: string, trigger: string): Promise<Date | null> {
    return this.#call('lastFire', () => {
      const at = this.#stmt('SELECT last_fire FROM schedule_fires WHERE pipeline = ? AND trigger = ?').pluck().get(pipeline, trigger) as string | undefined;
      return at === undefined ? null : new Date(at);
    });
  }

  async recordFire(pipeline: string, trigger: string, at: Date): Promise<void> {
    await this.#call('recordFire', () => this.#recordFire(pipeline, trigger, at));
  }

  #recordFire(pipeline: string, trigger: string, at: Date): void {
    this.#stmt(
      `INSERT INTO schedule_fires (pipeline, trigger, last_fire) VALUES (?, ?, ?)
       ON CONFLICT (pipeline, trigger) DO UPDATE SET last_fire = max(last_fire, excluded.last_fire)`,
    ).run(pipeline, trigger, iso(at));
  }

  // ── runs ───────────────────────────────────────────────────────────────────────────────────

  async createRun(spec: RunSpec & { readonly id: string; readonly createdAt: Date; readonly batchId: string | null }): Promise<RunRecord> {
    return this.#call('createRun', () => {
      const parent = spec.parentRunId === undefined ? undefined : this.#runRow(spec.parentRunId);
      if (spec.parentRunId !== undefined && parent === undefined) throw ladingError('STORE_RUN_NOT_FOUND', `sqlite: createRun: no parent run ${spec.parentRunId}`);
      this.#stmt(
        `INSERT INTO runs (id, pipeline, mode, status, batch_id, source, created_at, config, parent_run_id, lineage, owner, heartbeat_at, base_dir, submitted_by)
         VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        spec.id, spec.pipeline, spec.mode, spec.batchId, spec.source, iso(spec.createdAt), JSON.stringify(spec.config ?? null),
        spec.parentRunId ?? null, parent ? parent.lineage ?? parent.id : spec.id, spec.owner ?? null, iso(spec.createdAt),
        spec.baseDir ?? null, spec.submittedBy ?? null,
      );
      return toRun(this.#runRow(spec.id) as Rows['run']);
    });
  }

  async commitChunk(runId: string, commit: ChunkCommit): Promise<void> {
    await this.#commitChunks('commitChunk', runId, [commit]);
  }

  async commitChunks(runId: string, commits: readonly ChunkCommit[]): Promise<void> {
    await this.#commitChunks('commitChunks', runId, commits);
  }

  /** Both commits, a failure named after the one called. */
  async #commitChunks(operation: string, runId: string, commits: readonly ChunkCommit[]): Promise<void> {
    if (commits.length === 0) return;
    const write = () => this.#commitTransaction.immediate(runId, commits);
    const durable = commits.some((commit) => commit.durable !== false);
    // A durable commit at FULL on a file is written at NORMAL and its fsync done on libuv's pool
    // (WalSync), so the event loop reads and parses the executor's next chunk meanwhile (it was
    // 10% of a no-op handler's run; docs/benchmarks.md). The caller still hears only once the
    // commit is on disk.
    const wal = await this.#call(operation, () => {
      const level = this.#level();
      const syncing = !durable || level < 2 ? undefined : this.#wal;
      if (!durable || syncing !== undefined) this.#relaxed(write, level);
      else write();
      return syncing;
    });
    if (wal === undefined) return;
    try {
      await wal.sync();
    } catch (error) {
      throw classify(error, { ioCode: 'STORE_FAILED', doing: `sqlite: ${operation}: fdatasync ${wal.path}` });
    }
  }

  /** The connection's synchronous level: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA; set when it was opened, and only #relaxed changes it (and back). */
  #level(): number {
    this.#synchronous ??= this.#stmt('PRAGMA synchronous').pluck().get() as number;
    return this.#synchronous;
  }

  /**
   * Runs a write at synchronous=NORMAL (WAL: no fsync until a checkpoint or the next FULL
   * commit, which carries this one with it), then restores the connection's level. Safe between
   * the two pragmas: the calls are synchronous, so no other write of this connection interleaves.
   */
  #relaxed<T>(write: () => T, level = this.#level()): T {
    if (level <= 1) return write();
    this.#stmt('PRAGMA synchronous = NORMAL').run();
    try {
      return write();
    } finally {
      this.#stmt(`PRAGMA synchronous = ${level}`).run();
    }
  }

  /** commitChunk's writes, inside the caller's transaction (a fenced commit checks its lease first). */
  #commitChunk(runId: string, commit: ChunkCommit): void {
    const previous = this.#stmt(
      'SELECT processed, succeeded, failed, warnings FROM run_chunks WHERE run_id = ? AND chunk_index = ?',
    );
    const addCounters = this.#stmt(
      `UPDATE runs SET
         processed = processed + @processed, succeeded = succeeded + @succeeded,
         failed = failed + @failed, warnings = warnings + @warnings,
         last_chunk_index   = CASE WHEN last_seq IS NULL OR @lastSeq >= last_seq THEN @index ELSE last_chunk_index END,
         last_processed     = CASE WHEN last_seq IS NULL OR @lastSeq >= last_seq THEN processed + @processed ELSE last_processed END,
         last_checkpoint_at = CASE WHEN last_seq IS NULL OR @lastSeq >= last_seq THEN @at ELSE last_checkpoint_at END,
         last_position      = CASE WHEN last_seq IS NULL OR @lastSeq >= last_seq THEN @lastPosition ELSE last_position END,
         last_seq           = CASE WHEN last_seq IS NULL OR @lastSeq >= last_seq THEN @lastSeq ELSE last_seq END
       WHERE id = @runId`,
    );
    const upsertChunk = this.#stmt(
      `INSERT INTO run_chunks (run_id, chunk_index, last_seq, processed, succeeded, failed, warnings, committed_at, duration_ms)
       VALUES (@runId, @index, @lastSeq, @processed, @succeeded, @failed, @warnings, @at, @durationMs)
       ON CONFLICT (run_id, chunk_index) DO UPDATE SET
         last_seq = excluded.last_seq, processed = excluded.processed, succeeded = excluded.succeeded,
         failed = excluded.failed, warnings = excluded.warnings, committed_at = excluded.committed_at,
         duration_ms = excluded.duration_ms`,
    );
    const dropErrors = this.#stmt('DELETE FROM item_errors WHERE run_id = ? AND commit_chunk = ?');
    const insertError = this.#stmt(
      `INSERT INTO item_errors (run_id, commit_chunk, item_id, seq, chunk_index, code, error_type, category, severity, field, location, message, attempts, payload, history, status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const at = iso(commit.at);
    // A re-commit of the same chunk replaces it: counters move by the difference, errors are replaced.
    const old = previous.get(runId, commit.index) as ChunkRow | undefined;
    const changed = addCounters.run({
      runId, index: commit.index, lastSeq: commit.lastSeq, lastPosition: commit.lastPosition ?? null, at,
      processed: commit.processed - (old?.processed ?? 0),
      succeeded: commit.succeeded - (old?.succeeded ?? 0),
      failed: commit.failed - (old?.failed ?? 0),
      warnings: commit.warnings - (old?.warnings ?? 0),
    }).changes;
    if (changed === 0) throw ladingError('STORE_RUN_NOT_FOUND', `sqlite: commitChunk: no run ${runId}`);
    upsertChunk.run({
      runId, index: commit.index, lastSeq: commit.lastSeq, at, durationMs: commit.durationMs ?? null,
      processed: commit.processed, succeeded: commit.succeeded, failed: commit.failed, warnings: commit.warnings,
    });
    if (old !== undefined) dropErrors.run(runId, commit.index);
    for (const e of commit.errors) {
      insertError.run(
        runId, commit.index, e.itemId, e.seq, e.chunkIndex, e.code, e.errorType, e.category, e.severity,
        e.field, e.location, e.message, e.attempts,
        e.payload === undefined ? null : JSON.stringify(e.payload), e.history === undefined ? null : JSON.stringify(e.history),
        e.severity === 'block' && e.detail !== true ? 'dead' : null,
      );
    }
  }

  async finishRun(runId: string, report: RunReport): Promise<void> {
    await this.#call('finishRun', () => this.#finishRun(runId, report));
  }

  #finishRun(runId: string, report: RunReport): void {
    const changed = this.#stmt('UPDATE runs SET status = ?, completed_at = ?, report = ? WHERE id = ?')
      .run(report.status, report.completed_at === null ? null : iso(new Date(report.completed_at)), JSON.stringify(report), runId).changes;
    if (changed === 0) throw ladingError('STORE_RUN_NOT_FOUND', `sqlite: finishRun: no run ${runId}`);
  }

  async getRun(id: string): Promise<RunRecord | null> {
    return this.#call('getRun', () => {
      const row = this.#runRow(id);
      return row === undefined ? null : toRun(row);
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.#call('listRuns', () => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.pipeline !== undefined) {
        where.push('pipeline = ?');
        params.push(filter.pipeline);
      }
      if (filter.submittedBy !== undefined) {
        where.push('submitted_by = ?');
        params.push(filter.submittedBy);
      }
      for (const [clause, value] of [['batch_id = ?', filter.batchId], ['created_at >= ?', filter.since && iso(filter.since)], ['created_at < ?', filter.before && iso(filter.before)]] as const) {
        if (value === undefined) continue;
        where.push(clause);
        params.push(value);
      }
      const rows = this.#stmt(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...params, filter.limit ?? 20);
      return (rows as Rows['run'][]).map(toRun);
    });
  }

  async listItemErrors(runId: string, opts: ItemErrorQuery = {}): Promise<ItemErrorRecord[]> {
    return this.#call('listItemErrors', () => {
      const columns = 'item_id, seq, chunk_index, code, error_type, category, severity, field, location, message, attempts, status';
      const where = ['run_id = ?'];
      const params: unknown[] = [runId];
      if (opts.severity !== undefined) {
        where.push('severity = ?');
        params.push(opts.severity);
      }
      if (opts.primary) where.push("NOT (severity = 'block' AND status IS NULL)");
      // Errors without a seq (run-level) sort last, as PostgreSQL's ASC order does.
      const rows = this.#stmt(`SELECT ${columns} FROM item_errors WHERE ${where.join(' AND ')} ORDER BY seq IS NULL, seq, id LIMIT ? OFFSET ?`)
        .all(...params, opts.limit ?? -1, opts.offset ?? 0);
      return (rows as Rows['itemError'][]).map(toItemError);
    });
  }

  async errorCategories(runId: string): Promise<{ readonly failed: Record<string, number>; readonly warnings: Record<string, number> }> {
    return this.#call('errorCategories', () => {
      const rows = this.#stmt(
        // Items, not rows: an item failing two rules counts once, under its first failure's type.
        `SELECT severity, error_type, count(*) AS n FROM item_errors
         WHERE run_id = ? AND (severity = 'warn' OR status IS NOT NULL) GROUP BY severity, error_type ORDER BY error_type`,
      ).all(runId) as { severity: string; error_type: string; n: number }[];
      const failed: Record<string, number> = {};
      const warnings: Record<string, number> = {};
      for (const row of rows) (row.severity === 'warn' ? warnings : failed)[row.error_type] = row.n;
      return { failed, warnings };
    });
  }

  async heartbeat(runId: string, owner: string, at: Date): Promise<{ readonly control: RunControl | null }> {
    return this.#call('heartbeat', () => {
      const row = this.#stmt("UPDATE runs SET heartbeat_at = ?, owner = ? WHERE id = ? AND status = 'running' RETURNING control")
        .get(iso(at), owner, runId) as { control: string | null } | undefined;
      return { control: row?.control === 'pause' || row?.control === 'cancel' ? row.control : null };
    });
  }

  async setControl(runId: string, control: RunControl | null): Promise<boolean> {
    return this.#call('setControl', () =>
      this.#stmt("UPDATE runs SET control = ? WHERE id = ? AND status = 'running'").run(control, runId).changes > 0);
  }

  async reopenRun(runId: string, owner: string, at: Date): Promise<RunRecord> {
    return this.#call('reopenRun', () => {
      const changed = this.#stmt(
        "UPDATE runs SET status = 'running', completed_at = NULL, report = NULL, control = NULL, owner = ?, heartbeat_at = ? WHERE id = ?",
      ).run(owner, iso(at), runId).changes;
      if (changed === 0) throw ladingError('STORE_RUN_NOT_FOUND', `sqlite: reopenRun: no run ${runId}`);
      return toRun(this.#runRow(runId) as Rows['run']);
    });
  }

  async listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.#call('listDeadLetters', () => {
      const { where, params } = deadLetterWhere(filter);
      const rows = this.#db.prepare(
        `SELECT e.*, r.pipeline FROM item_errors e JOIN runs r ON r.id = e.run_id WHERE ${where}
         ORDER BY e.run_id, e.seq IS NULL, e.seq, e.id LIMIT ? OFFSET ?`,
      ).all(...params, filter.limit ?? -1, filter.offset ?? 0) as DeadLetterRow[];
      return rows.map((row) => ({
        ...toItemError(row), runId: row.run_id, pipeline: row.pipeline,
        status: row.status === 'retried' || row.status === 'skipped' ? row.status : 'dead',
      }));
    });
  }

  async markDeadLetters(filter: DeadLetterFilter, status: 'retried' | 'skipped'): Promise<number> {
    return this.#call('markDeadLetters', () => {
      const { where, params } = deadLetterWhere({ ...filter, status: 'dead' });
      return this.#db.prepare(
        `UPDATE item_errors SET status = ? WHERE id IN (SELECT e.id FROM item_errors e JOIN runs r ON r.id = e.run_id WHERE ${where})`,
      ).run(status, ...params).changes;
    });
  }

  async knownHost(host: string): Promise<KnownHost | null> {
    return this.#call('knownHost', () => {
      const row = this.#stmt('SELECT host, key_type, fingerprint, first_seen FROM known_hosts WHERE host = ?').get(host) as
        { host: string; key_type: string; fingerprint: string; first_seen: string } | undefined;
      return row ? { host: row.host, keyType: row.key_type, fingerprint: row.fingerprint, firstSeen: new Date(row.first_seen) } : null;
    });
  }

  async rememberHost(entry: KnownHost): Promise<KnownHost> {
    await this.#call('rememberHost', () => {
      this.#stmt('INSERT INTO known_hosts (host, key_type, fingerprint, first_seen) VALUES (?, ?, ?, ?) ON CONFLICT (host) DO NOTHING')
        .run(entry.host, entry.keyType, entry.fingerprint, iso(entry.firstSeen));
    });
    return (await this.knownHost(entry.host))!;
  }

  // ── work distribution ──────────────────────────────────────────────────────────────────────

  async enqueueJob(spec: QueuedJobSpec): Promise<RunRecord> {
    return this.#call('enqueueJob', () => this.#db.transaction(() => {
      this.#stmt(
        `INSERT INTO runs (id, pipeline, mode, status, batch_id, source, created_at, config, lineage, base_dir, submitted_by)
         VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        spec.id, spec.pipeline, spec.mode, spec.batchId, spec.source, iso(spec.createdAt), JSON.stringify(spec.config ?? null),
        spec.id, spec.baseDir ?? null, spec.submittedBy ?? null,
      );
      const chunks = spec.kind === 'chunks' ? spec.chunks : [null];
      const total = spec.kind === 'chunks' ? spec.chunks.reduce((sum, c) => sum + c.length, 0) : null;
      this.#stmt('INSERT INTO jobs (run_id, priority, kind, total, submitted_at) VALUES (?, ?, ?, ?, ?)')
        .run(spec.id, spec.priority, spec.kind, total, iso(spec.createdAt));
      const insert = this.#stmt('INSERT INTO job_chunks (run_id, chunk_index, items) VALUES (?, ?, ?)');
      chunks.forEach((items, index) => insert.run(spec.id, index, items === null ? null : JSON.stringify(items)));
      return toRun(this.#runRow(spec.id) as Rows['run']);
    }).immediate());
  }

  async claimChunk(workerId: string, leaseMs: number, now: Date): Promise<ChunkLease | null> {
    return this.#call('claimChunk', () => {
      const claimable = this.#stmt(
        `SELECT c.run_id, c.chunk_index, c.lease_worker FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
         WHERE r.status IN ('queued', 'running') AND (c.state = 'pending' OR (c.state = 'leased' AND c.lease_expires_at < ?))
         ORDER BY j.priority DESC, j.submitted_at, j.run_id, c.chunk_index LIMIT 1`,
      );
      // An idle poll only reads: taking the write lock to find nothing would wait behind every
      // ingest commit (another connection's, or the ingest thread's) and stall the event loop.
      if (claimable.get(iso(now)) === undefined) return null;
      return this.#db.transaction((): ChunkLease | null => {
        const next = claimable.get(iso(now)) as { run_id: string; chunk_index: number; lease_worker: string | null } | undefined;
        if (next === undefined) return null;
        const expires = new Date(now.getTime() + leaseMs);
        const row = this.#stmt(
          `UPDATE job_chunks SET state = 'leased', lease_worker = ?, lease_token = ?, lease_expires_at = ?, attempts = attempts + 1
           WHERE run_id = ? AND chunk_index = ?
           RETURNING run_id, chunk_index, items, lease_token, lease_worker, lease_expires_at, attempts,
                     (SELECT total FROM jobs WHERE run_id = job_chunks.run_id) AS total, ? AS taken_over_from`,
        ).get(workerId, randomUUID(), iso(expires), next.run_id, next.chunk_index, next.lease_worker) as Rows['lease'];
        this.#stmt("UPDATE runs SET status = 'running', heartbeat_at = ? WHERE id = ? AND status = 'queued'").run(iso(now), next.run_id);
        return toLease(row);
      }).immediate();
    });
  }

  async extendLease(token: string, leaseMs: number, now: Date): Promise<{ readonly control: RunControl | null }> {
    return this.#call('extendLease', () => this.#db.transaction(() => {
      const runId = this.#stmt("UPDATE job_chunks SET lease_expires_at = ? WHERE lease_token = ? AND state = 'leased' RETURNING run_id")
        .pluck().get(iso(new Date(now.getTime() + leaseMs)), token) as string | undefined;
      if (runId === undefined) throw leaseLost('sqlite: extendLease', token);
      const control = this.#stmt('UPDATE runs SET heartbeat_at = ? WHERE id = ? RETURNING control').pluck().get(iso(now), runId) as string | null;
      return { control: control === 'pause' || control === 'cancel' ? control : null } as const;
    }).immediate());
  }

  async commitLeasedChunk(token: string, commit: ChunkCommit): Promise<{ readonly last: boolean }> {
    return this.#call('commitLeasedChunk', () => this.#db.transaction(() => {
      const held = this.#heldLease(token, 'commitLeasedChunk');
      this.#commitChunk(held.run_id, commit);
      if (held.kind === 'whole') return { last: false };
      const open = this.#stmt("SELECT count(*) FROM job_chunks WHERE run_id = ? AND chunk_index <> ? AND state <> 'done'").pluck()
        .get(held.run_id, held.chunk_index) as number;
      if (open === 0) return { last: true };
      this.#stmt("UPDATE job_chunks SET state = 'done' WHERE run_id = ? AND chunk_index = ?").run(held.run_id, held.chunk_index);
      return { last: false };
    }).immediate());
  }

  async finishLeasedJob(token: string, report: RunReport): Promise<void> {
    await this.#call('finishLeasedJob', () => this.#db.transaction(() => {
      const held = this.#heldLease(token, 'finishLeasedJob');
      this.#stmt("UPDATE job_chunks SET state = 'done' WHERE run_id = ?").run(held.run_id);
      this.#finishRun(held.run_id, report);
    }).immediate());
  }

  async releaseChunk(token: string): Promise<void> {
    await this.#call('releaseChunk', () => {
      this.#stmt("UPDATE job_chunks SET state = 'pending', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL WHERE lease_token = ? AND state = 'leased'")
        .run(token);
    });
  }

  async cancelQueuedJob(runId: string, report: RunReport): Promise<boolean> {
    return this.#call('cancelQueuedJob', () => this.#db.transaction(() => {
      const changed = this.#stmt("UPDATE runs SET status = 'cancelled', completed_at = ?, report = ?, control = 'cancel' WHERE id = ? AND status = 'queued'")
        .run(report.completed_at, JSON.stringify(report), runId).changes;
      if (changed > 0) this.#stmt('DELETE FROM job_chunks WHERE run_id = ?').run(runId);
      return changed > 0;
    }).immediate());
  }

  /** The chunk `token` holds; finishing also accepts the holder of a chunk already committed (a job stopped early) while its run goes on. */
  #heldLease(token: string, operation: 'commitLeasedChunk' | 'finishLeasedJob'): { run_id: string; chunk_index: number; kind: string } {
    const held = this.#stmt(
      `SELECT c.run_id, c.chunk_index, j.kind FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
       WHERE c.lease_token = ? AND (c.state = 'leased' OR (? AND c.state = 'done' AND r.status IN ('queued', 'running')))`,
    ).get(token, operation === 'finishLeasedJob' ? 1 : 0) as { run_id: string; chunk_index: number; kind: string } | undefined;
    if (held === undefined) throw leaseLost(`sqlite: ${operation}`, token);
    return held;
  }

  async acquireLease(name: string, holder: string, leaseMs: number, now: Date, takeFrom?: string): Promise<string | null> {
    return this.#call('acquireLease', () => {
      const token = randomUUID();
      const taken = this.#stmt(
        `INSERT INTO leases (name, holder, token, expires_at) VALUES (@name, @holder, @token, @expires)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
         WHERE leases.expires_at < @now OR leases.holder = @holder OR leases.holder = @takeFrom
         RETURNING token`,
      ).pluck().get({ name, holder, token, expires: iso(new Date(now.getTime() + leaseMs)), now: iso(now), takeFrom: takeFrom ?? null }) as string | undefined;
      return taken ?? null;
    });
  }

  async renewLease(name: string, token: string, leaseMs: number, now: Date): Promise<boolean> {
    return this.#call('renewLease', () =>
      this.#stmt('UPDATE leases SET expires_at = ? WHERE name = ? AND token = ?').run(iso(new Date(now.getTime() + leaseMs)), name, token).changes > 0);
  }

  async releaseLease(name: string, token: string): Promise<void> {
    await this.#call('releaseLease', () => {
      this.#stmt('DELETE FROM leases WHERE name = ? AND token = ?').run(name, token);
    });
  }

  async leaseHolder(name: string): Promise<{ readonly holder: string; readonly expiresAt: Date } | null> {
    return this.#call('leaseHolder', () => {
      const row = this.#stmt('SELECT holder, expires_at FROM leases WHERE name = ?').get(name) as { holder: string; expires_at: string } | undefined;
      return row === undefined ? null : { holder: row.holder, expiresAt: new Date(row.expires_at) };
    });
  }

  async activeLeases(now: Date): Promise<ActiveLeases[]> {
    return this.#call('activeLeases', () => this.#stmt(
      `SELECT r.pipeline, j.kind, count(*) AS count FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
       WHERE c.state = 'leased' AND c.lease_expires_at >= ? GROUP BY r.pipeline, j.kind ORDER BY r.pipeline, j.kind`,
    ).all(iso(now)) as ActiveLeases[]);
  }

  // ── deliveries ─────────────────────────────────────────────────────────────────────────────

  async recordFile(runId: string, file: FileArtifact & { readonly destination: string; readonly deliveredAt: Date }): Promise<void> {
    await this.#call('recordFile', () => {
      this.#stmt(
        `INSERT INTO files (run_id, name, part, uri, bytes, records, sha256, destination, delivered_at, attempts, duration_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, name) DO UPDATE SET
           part = excluded.part, uri = excluded.uri, bytes = excluded.bytes, records = excluded.records,
           sha256 = excluded.sha256, destination = excluded.destination, delivered_at = excluded.delivered_at,
           attempts = excluded.attempts, duration_ms = excluded.duration_ms`,
      ).run(runId, file.name, file.part, file.uri, file.bytes, file.records, file.sha256, file.destination, iso(file.deliveredAt), file.attempts ?? 1, file.duration_ms ?? null);
    });
  }

  async listFiles(runId: string): Promise<FileArtifact[]> {
    return this.#call('listFiles', () =>
      this.#stmt('SELECT name, bytes, records, sha256, uri, part FROM files WHERE run_id = ? ORDER BY part, name').all(runId) as FileArtifact[]);
  }

  async deliveryState(pipeline: string): Promise<DeliveryState> {
    return this.#call('deliveryState', () => {
      const row = this.#stmt('SELECT * FROM delivery_state WHERE pipeline = ?').get(pipeline) as Rows['deliveryState'] | undefined;
      return toDeliveryState(pipeline, row);
    });
  }

  async suspendDeliveries(pipeline: string, why: { readonly code: string; readonly reason: string; readonly at: Date }): Promise<void> {
    await this.#call('suspendDeliveries', () => {
      this.#stmt(
        `INSERT INTO delivery_state (pipeline, suspended_at, code, reason) VALUES (?, ?, ?, ?)
         ON CONFLICT (pipeline) DO UPDATE SET suspended_at = excluded.suspended_at, code = excluded.code, reason = excluded.reason
         WHERE delivery_state.suspended_at IS NULL`,
      ).run(pipeline, iso(why.at), why.code, why.reason);
    });
  }

  async resumeDeliveries(pipeline: string): Promise<boolean> {
    return this.#call('resumeDeliveries', () =>
      this.#stmt('UPDATE delivery_state SET suspended_at = NULL, code = NULL, reason = NULL WHERE pipeline = ? AND suspended_at IS NOT NULL').run(pipeline).changes > 0);
  }

  async recordAlert(alert: Alert): Promise<void> {
    await this.#call('recordAlert', () => {
      this.#stmt('INSERT INTO alerts (pipeline, run_id, kind, code, message, at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(alert.pipeline, alert.runId, alert.kind, alert.code, alert.message, iso(alert.at));
    });
  }

  async listAlerts(filter: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<Alert[]> {
    return this.#call('listAlerts', () => {
      const rows = (filter.pipeline === undefined
        ? this.#stmt('SELECT * FROM alerts ORDER BY id DESC LIMIT ?').all(filter.limit ?? 100)
        : this.#stmt('SELECT * FROM alerts WHERE pipeline = ? ORDER BY id DESC LIMIT ?').all(filter.pipeline, filter.limit ?? 100)) as
        { pipeline: string; run_id: string | null; kind: Alert['kind']; code: string | null; message: string; at: string }[];
      return rows.map((r) => ({ pipeline: r.pipeline, runId: r.run_id, kind: r.kind, code: r.code, message: r.message, at: new Date(r.at) }));
    });
  }

  async openDelivery(spec: { readonly id: string; readonly pipeline: string; readonly batchId: string; readonly part: string; readonly destination: string; readonly runId: string; readonly name: string; readonly at: Date }): Promise<DeliveryRecord> {
    return this.#call('openDelivery', () => this.#db.transaction(() => {
      const at = iso(spec.at);
      const created = this.#stmt(
        `INSERT INTO deliveries (id, pipeline, batch_id, part, destination, run_id, name, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'sealed', ?, ?) ON CONFLICT (pipeline, batch_id, part, destination) DO NOTHING`,
      ).run(spec.id, spec.pipeline, spec.batchId, spec.part, spec.destination, spec.runId, spec.name, at, at).changes;
      if (created > 0) this.#stmt('INSERT INTO delivery_steps (delivery_id, state, at) VALUES (?, ?, ?)').run(spec.id, 'sealed', at);
      return toDelivery(this.#stmt('SELECT * FROM deliveries WHERE pipeline = ? AND batch_id = ? AND part = ? AND destination = ?')
        .get(spec.pipeline, spec.batchId, spec.part, spec.destination) as Rows['delivery']);
    }).immediate());
  }

  async advanceDelivery(id: string, state: DeliveryStep, at: Date, update: DeliveryUpdate = {}, step: StepOptions = {}): Promise<boolean> {
    return this.#call('advanceDelivery', () => this.#db.transaction(() => {
      const columns = Object.entries(update).filter(([, value]) => value !== undefined).map(([key, value]) => [deliveryColumns[key as keyof DeliveryUpdate], value] as const);
      const { expect } = step;
      const guard = expect === undefined ? [] : [['state = ?', expect.state], ...(expect.code === undefined ? [] : [['code IS ?', expect.code]])] as const;
      const changed = this.#db.prepare(`UPDATE deliveries SET state = ?, updated_at = ?${columns.map(([column]) => `, ${column} = ?`).join('')} WHERE id = ?${guard.map(([test]) => ` AND ${test}`).join('')}`)
        .run(state, iso(at), ...columns.map(([, value]) => value), id, ...guard.map(([, value]) => value)).changes;
      if (changed > 0) this.#stmt('INSERT INTO delivery_steps (delivery_id, state, at, detail) VALUES (?, ?, ?, ?)').run(id, state, iso(at), step.detail ?? null);
      return changed > 0;
    }).immediate());
  }

  async putStaged(key: string, file: { readonly bytes: Uint8Array; readonly sha256: string; readonly at: Date }): Promise<void> {
    await this.#call('putStaged', () => {
      this.#stmt('INSERT INTO staged_files (key, bytes, sha256, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, sha256 = excluded.sha256, created_at = excluded.created_at')
        .run(key, Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength), file.sha256, iso(file.at));
    });
  }

  async getStaged(key: string): Promise<{ readonly bytes: Uint8Array; readonly sha256: string } | null> {
    return this.#call('getStaged', () => (this.#stmt('SELECT bytes, sha256 FROM staged_files WHERE key = ?').get(key) as { bytes: Buffer; sha256: string } | undefined) ?? null);
  }

  async removeStaged(key: string): Promise<void> {
    await this.#call('removeStaged', () => {
      this.#stmt('DELETE FROM staged_files WHERE key = ?').run(key);
    });
  }

  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    return this.#call('getDelivery', () => {
      const row = this.#stmt('SELECT * FROM deliveries WHERE id = ?').get(id) as Rows['delivery'] | undefined;
      return row ? toDelivery(row) : null;
    });
  }

  async deliverySteps(id: string): Promise<DeliveryStepRecord[]> {
    return this.#call('deliverySteps', () => (this.#stmt('SELECT state, at, detail FROM delivery_steps WHERE delivery_id = ? ORDER BY id').all(id) as { state: DeliveryStep; at: string; detail: string | null }[])
      .map((r) => ({ state: r.state, at: new Date(r.at), detail: r.detail })));
  }

  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    return this.#call('listDeliveries', () => {
      const where: string[] = [];
      const args: unknown[] = [];
      for (const [column, value] of [['pipeline', filter.pipeline], ['run_id', filter.runId], ['batch_id', filter.batchId]] as const) {
        if (value !== undefined) {
          where.push(`${column} = ?`);
          args.push(value);
        }
      }
      if (filter.states) {
        where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
        args.push(...filter.states);
      }
      const rows = this.#db.prepare(`SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...args, filter.limit ?? 100) as Rows['delivery'][];
      return rows.map(toDelivery);
    });
  }

  async recordDeliveryOutcome(pipeline: string, outcome: { readonly ok: boolean; readonly threshold: number; readonly at: Date }): Promise<DeliveryState> {
    return this.#call('recordDeliveryOutcome', () => {
      const row = (outcome.ok
        ? this.#stmt(
          `INSERT INTO delivery_state (pipeline) VALUES (?)
           ON CONFLICT (pipeline) DO UPDATE SET failures = 0, breaker_opened_at = NULL RETURNING *`,
        ).get(pipeline)
        : this.#stmt(
          `INSERT INTO delivery_state (pipeline, failures, breaker_opened_at) VALUES (?, 1, CASE WHEN ? <= 1 THEN ? END)
           ON CONFLICT (pipeline) DO UPDATE SET failures = failures + 1,
             breaker_opened_at = CASE WHEN failures + 1 >= ? THEN ? ELSE breaker_opened_at END RETURNING *`,
        ).get(pipeline, outcome.threshold, iso(outcome.at), outcome.threshold, iso(outcome.at))) as Rows['deliveryState'];
      return toDeliveryState(pipeline, row);
    });
  }

  // ── notify ─────────────────────────────────────────────────────────────────────────────────

  async breachRule(pipeline: string, rule: string, at: Date): Promise<RuleState> {
    return this.#call('breachRule', () => {
      const row = this.#stmt(
        `INSERT INTO notify_rules (pipeline, rule, breached_at, consecutive) VALUES (?, ?, ?, 1)
         ON CONFLICT (pipeline, rule) DO UPDATE SET
           breached_at = coalesce(notify_rules.breached_at, excluded.breached_at), consecutive = notify_rules.consecutive + 1
         RETURNING breached_at, consecutive`,
      ).get(pipeline, rule, iso(at)) as { breached_at: string; consecutive: number };
      return { pipeline, rule, breachedAt: new Date(row.breached_at), consecutive: row.consecutive };
    });
  }

  async clearRule(pipeline: string, rule: string): Promise<RuleState | null> {
    return this.#call('clearRule', () => this.#db.transaction((): RuleState | null => {
      const row = this.#stmt('SELECT breached_at, consecutive FROM notify_rules WHERE pipeline = ? AND rule = ? AND breached_at IS NOT NULL')
        .get(pipeline, rule) as { breached_at: string; consecutive: number } | undefined;
      if (row === undefined) return null;
      this.#stmt('UPDATE notify_rules SET breached_at = NULL, consecutive = 0 WHERE pipeline = ? AND rule = ?').run(pipeline, rule);
      return { pipeline, rule, breachedAt: new Date(row.breached_at), consecutive: row.consecutive };
    }).immediate());
  }

  async claimAlert(key: NotifyKey, at: Date, minIntervalMs: number): Promise<boolean> {
    return this.#call('claimAlert', () => this.#stmt(
      `INSERT INTO notify_channels (pipeline, rule, channel, last_sent_at, open) VALUES (?, ?, ?, ?, 1)
       ON CONFLICT (pipeline, rule, channel) DO UPDATE SET last_sent_at = excluded.last_sent_at, open = 1
       WHERE notify_channels.last_sent_at IS NULL OR notify_channels.last_sent_at <= ?`,
    ).run(key.pipeline, key.rule, key.channel, iso(at), iso(new Date(at.getTime() - minIntervalMs))).changes > 0);
  }

  async claimRecovery(key: NotifyKey): Promise<boolean> {
    return this.#call('claimRecovery', () =>
      this.#stmt('UPDATE notify_channels SET open = 0 WHERE pipeline = ? AND rule = ? AND channel = ? AND open = 1')
        .run(key.pipeline, key.rule, key.channel).changes > 0);
  }

  async recordNotification(n: NotificationRecord): Promise<void> {
    await this.#call('recordNotification', () => {
      this.#stmt('INSERT INTO notifications (pipeline, run_id, event, rule, channel, target, status, code, message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(n.pipeline, n.runId, n.event, n.rule, n.channel, n.target, n.status, n.code, n.message, iso(n.at));
    });
  }

  async listNotifications(filter: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<NotificationRecord[]> {
    return this.#call('listNotifications', () => {
      const rows = (filter.pipeline === undefined
        ? this.#stmt('SELECT * FROM notifications ORDER BY id DESC LIMIT ?').all(filter.limit ?? 100)
        : this.#stmt('SELECT * FROM notifications WHERE pipeline = ? ORDER BY id DESC LIMIT ?').all(filter.pipeline, filter.limit ?? 100)) as
        { pipeline: string; run_id: string | null; event: NotificationRecord['event']; rule: string | null; channel: string; target: string; status: NotificationRecord['status']; code: string | null; message: string; at: string }[];
      return rows.map((r) => ({
        pipeline: r.pipeline, runId: r.run_id, event: r.event, rule: r.rule, channel: r.channel, target: r.target, status: r.status, code: r.code, message: r.message, at: new Date(r.at),
      }));
    });
  }

  // ── API: group-committed ingest requests, keys ───────────────────────────────────────────────

  /**
   * With the ingest thread, up to four groups may go to it while it is still committing: the event
   * loop hands over each turn's group instead of waiting, and the thread commits all that waits
   * for it in one transaction (ingest-worker.ts).
   */
  get ingestDepth(): number {
    return this.#ingestThread === undefined ? 1 : 4;
  }

  async ingestRequests(requests: readonly IngestRequest[], at: Date): Promise<IngestOutcome[]> {
    const thread = this.#ingestThread;
    if (thread === undefined) return this.#call('ingestRequests', () => this.#inbox.requests(requests, iso(at)));
    try {
      return await thread.requests(requests, iso(at));
    } catch (error) {
      throw classify(error, { ioCode: 'STORE_FAILED', doing: 'sqlite: ingestRequests' });
    }
  }

  async createApiKey(key: ApiKeyRecord & { readonly hash: string }): Promise<void> {
    await this.#call('createApiKey', () => {
      this.#stmt('INSERT INTO api_keys (id, owner, scopes, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(key.id, key.owner, JSON.stringify(key.scopes), key.hash, iso(key.createdAt), key.revokedAt === null ? null : iso(key.revokedAt));
    });
  }

  async getApiKey(id: string): Promise<(ApiKeyRecord & { readonly hash: string }) | null> {
    return this.#call('getApiKey', () => {
      const row = this.#stmt('SELECT * FROM api_keys WHERE id = ?').get(id) as Rows['apiKey'] | undefined;
      return row === undefined ? null : { ...toApiKey(row), hash: row.hash };
    });
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#call('listApiKeys', () => (this.#stmt('SELECT * FROM api_keys ORDER BY created_at, id').all() as Rows['apiKey'][]).map(toApiKey));
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    return this.#call('revokeApiKey', () =>
      this.#stmt('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(iso(at), id).changes > 0);
  }

  // ── reports, lineage, retention ────────────────────────────────────────────────────────────

  async findInboxRecords(ref: string): Promise<InboxRecordRef[]> {
    return this.#call('findInboxRecords', () => {
      const id = inboxRef(ref);
      const rows = this.#stmt(
        `SELECT id, pipeline, idempotency_key, received_at, ${batchOfRecord('r')} AS batch_id FROM inbox_records r WHERE id = ?
         UNION SELECT id, pipeline, idempotency_key, received_at, ${batchOfRecord('r')} AS batch_id FROM inbox_records r WHERE idempotency_key = ? ORDER BY 1`,
      ).all(id ?? -1, ref) as { id: number; pipeline: string; idempotency_key: string | null; received_at: string; batch_id: string | null }[];
      return rows.map((r) => ({ id: r.id, pipeline: r.pipeline, key: r.idempotency_key, receivedAt: new Date(r.received_at), batchId: r.batch_id }));
    });
  }

  async reconcile(window: ReportWindow): Promise<InboxReconciliation[]> {
    const reader = this.#readThread;
    if (reader === undefined) return this.#call('reconcile', () => reconcileOn(this.#stmt, window));
    try {
      return await reader.reconcile(window);
    } catch (error) {
      throw classify(error, { ioCode: 'STORE_FAILED', doing: 'sqlite: reconcile' });
    }
  }

  async listDeliveredFiles(window: ReportWindow): Promise<DeliveredFile[]> {
    return this.#call('listDeliveredFiles', () => {
      const rows = this.#stmt(
        `SELECT f.*, r.pipeline, r.batch_id FROM files f JOIN runs r ON r.id = f.run_id
         WHERE f.delivered_at >= ? AND f.delivered_at < ? AND (? IS NULL OR r.pipeline = ?) ORDER BY f.delivered_at, f.run_id, f.part, f.name`,
      ).all(iso(window.from), iso(window.to), window.pipeline ?? null, window.pipeline ?? null) as
        { run_id: string; pipeline: string; batch_id: string | null; name: string; part: number; uri: string; bytes: number; records: number; sha256: string; destination: string; delivered_at: string; attempts: number; duration_ms: number | null }[];
      return rows.map((r) => ({
        runId: r.run_id, pipeline: r.pipeline, batchId: r.batch_id, name: r.name, part: r.part, uri: r.uri, bytes: r.bytes, records: r.records,
        sha256: r.sha256, destination: r.destination, deliveredAt: new Date(r.delivered_at), attempts: r.attempts, ...(r.duration_ms === null ? {} : { duration_ms: r.duration_ms }),
      }));
    });
  }

  async deadLetterCounts(window: ReportWindow): Promise<DeadLetterCount[]> {
    return this.#call('deadLetterCounts', () => this.#stmt(
      `SELECT r.pipeline, e.run_id AS runId, e.status, count(*) AS count FROM item_errors e JOIN runs r ON r.id = e.run_id
       WHERE e.severity = 'block' AND e.status IS NOT NULL AND r.created_at >= ? AND r.created_at < ? AND (? IS NULL OR r.pipeline = ?)
       GROUP BY r.pipeline, e.run_id, e.status ORDER BY r.pipeline, e.run_id, e.status`,
    ).all(iso(window.from), iso(window.to), window.pipeline ?? null, window.pipeline ?? null) as DeadLetterCount[]);
  }

  async purge(plan: PurgePlan, archive?: PurgeArchive): Promise<PurgeResult> {
    const { pipeline } = plan;
    const dry = plan.dryRun === true;
    const keep = dry ? undefined : archive;
    return this.#call('purge', async () => {
      let records = 0;
      let deadLetters = 0;
      let runs = 0;
      let files: { deliveryId: string; path: string }[] = [];
      if (plan.records) {
        const cutoff = iso(plan.records);
        records = await this.#purgePages<PurgedRecord>(
          'inbox_records NOT INDEXED', this.#stmt(purgeableRecords('?', '?')).get(pipeline, pipeline, pipeline, cutoff, pipeline, cutoff) as Span,
          `pipeline = ? AND ${batchOfRecord('inbox_records')} IN (SELECT id FROM batches WHERE pipeline = ? AND status = 'delivered' AND delivered_at < ?)
           AND NOT EXISTS (SELECT 1 FROM item_errors e WHERE e.item_id = 'inbox:' || inbox_records.id AND e.status = 'dead')`,
          [pipeline, pipeline, cutoff], dry,
          keep ? `pipeline, data, idempotency_key, received_at, ${batchOfRecord('inbox_records')} AS batch_id` : undefined,
          keep && ((page) => keep(page.map((r) => archivedRow.record({ ...r, data: JSON.parse(r.data) as unknown })))),
        );
        // The commits whose records are all gone: below the pipeline's lowest record left (a seek, and a walk over records batched before 0014 only).
        if (!dry) {
          this.#stmt(
            `DELETE FROM inbox_commits WHERE pipeline = ? AND last_id < min(
               coalesce((SELECT min(id) FROM inbox_records WHERE pipeline = ? AND batch_id IS NULL), ${Number.MAX_SAFE_INTEGER}),
               coalesce((SELECT min(id) FROM inbox_records WHERE pipeline = ? AND batch_id IS NOT NULL), ${Number.MAX_SAFE_INTEGER}))`,
          ).run(pipeline, pipeline, pipeline);
        }
      }
      if (plan.files) {
        const settled = `pipeline = ? AND state IN ('verified', 'acknowledged', 'skipped') AND staged_path IS NOT NULL AND updated_at < ?`;
        files = this.#db.transaction(() => {
          const found = (this.#db.prepare(`SELECT id, staged_path FROM deliveries WHERE ${settled} ORDER BY id`).all(pipeline, iso(plan.files!)) as { id: string; staged_path: string }[])
            .map((f) => ({ deliveryId: f.id, path: f.staged_path }));
          if (!dry) this.#db.prepare(`UPDATE deliveries SET staged_path = NULL WHERE ${settled}`).run(pipeline, iso(plan.files!));
          return found;
        }).immediate();
      }
      if (plan.deadLetters) {
        // Warnings, resolved dead letters and the detail rows of resolved items; an open dead letter stays with its details.
        await this.#purgePages<PurgedError>(
          'item_errors NOT INDEXED', this.#stmt(purgeableErrors('?', '?')).get(pipeline, iso(plan.deadLetters)) as Span,
          `run_id IN (SELECT id FROM runs WHERE pipeline = ? AND created_at < ?)
           AND (severity = 'warn' OR NOT EXISTS (SELECT 1 FROM item_errors o WHERE o.run_id = item_errors.run_id AND o.item_id IS item_errors.item_id AND o.status = 'dead'))`,
          [pipeline, iso(plan.deadLetters)], dry,
          keep ? 'status, run_id, item_id, code, error_type, message, attempts, payload' : 'status',
          (page) => {
            const letters = page.filter((e) => e.status !== null);
            deadLetters += letters.length;
            if (keep && letters.length > 0) keep(letters.map((e) => archivedRow.deadLetter(pipeline, { ...e, status: e.status!, payload: e.payload === null ? null : JSON.parse(e.payload) as unknown })));
          },
        );
      }
      if (plan.runs) {
        runs = await this.#purgePages<PurgedRun>(
          'runs', undefined,
          `pipeline = ? AND status <> 'running' AND coalesce(completed_at, created_at) < ?
           AND NOT EXISTS (SELECT 1 FROM item_errors e WHERE e.run_id = runs.id AND e.status = 'dead')
           AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = runs.batch_id AND b.status <> 'delivered')
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.state NOT IN ('verified', 'acknowledged', 'skipped'))`,
          [pipeline, iso(plan.runs)], dry,
          keep ? 'pipeline, status, batch_id, created_at, completed_at, report' : undefined,
          keep && ((page) => keep(page.map((r) => archivedRow.run({ ...r, report: r.report === null ? null : JSON.parse(r.report) as unknown })))),
        );
      }
      return { records, deadLetters, runs, files };
    });
  }

  /**
   * Removes the rows of `table` that `where` selects, purgePage at a time in id order: each page
   * is read (its id, plus `columns`) and given to `onPage`, then its rows that `where` still
   * selects are deleted by id in a transaction of their own, so a row the archive did not take is
   * never removed. A purge in one transaction held the write lock, and the event loop of
   * `lading serve`, for its whole length (1M records: ~5 s; other processes' writes waited, and
   * failed past busy_timeout). After each delete the lock stays free for as long as the delete
   * held it: SQLite's lock is not fair, and with only a turn of the loop between pages another
   * connection's busy handler, waking at its own times, found it taken until the purge ended. A
   * dry run reads the same pages and removes nothing. Integer ids are read within `span` only
   * (purgeableRecords); text ids (runs, a few a day) from the first. Returns how many rows go. A
   * rowid table is named NOT INDEXED: each page then starts where the last ended, in the rowid
   * order, where through another index every page walked from the pipeline's first record again
   * (1M records: 76 s instead of 8 s; docs/benchmarks.md, machine M).
   */
  async #purgePages<Row extends { id: number | string }>(
    table: string, span: Span | undefined, where: string, params: readonly unknown[], dry: boolean, columns: string | undefined, onPage: ((page: Row[]) => void) | undefined,
  ): Promise<number> {
    if (span !== undefined && (span.lo === null || span.hi === null)) return 0;
    const read = this.#stmt(`SELECT id${columns === undefined ? '' : `, ${columns}`} FROM ${table} WHERE ${where} AND id > ?${span === undefined ? '' : ' AND id <= ?'} ORDER BY id LIMIT ${purgePage}`);
    const remove = this.#stmt(`DELETE FROM ${table} WHERE ${where} AND id IN (SELECT value FROM json_each(?))`);
    const removePage = this.#db.transaction((page: Row[]) => remove.run(...params, JSON.stringify(page.map((r) => r.id))).changes);
    let removed = 0;
    for (let after: number | string = span === undefined ? '' : span.lo! - 1; ;) {
      const page = read.all(...params, after, ...(span === undefined ? [] : [span.hi])) as Row[];
      if (page.length === 0) return removed;
      onPage?.(page);
      after = page.at(-1)!.id;
      if (dry) {
        removed += page.length;
        await nextTurn();
      } else {
        const started = performance.now();
        removed += removePage.immediate(page);
        await sleep(performance.now() - started);
      }
    }
  }

  // ── dashboard ──────────────────────────────────────────────────────────────────────────────

  async listChunks(runId: string): Promise<ChunkRecord[]> {
    return this.#call('listChunks', () => {
      const rows = this.#stmt(
        'SELECT chunk_index, last_seq, processed, succeeded, failed, warnings, committed_at, duration_ms FROM run_chunks WHERE run_id = ? ORDER BY chunk_index',
      ).all(runId) as ChunkTimelineRow[];
      return rows.map((row) => ({
        index: row.chunk_index, lastSeq: row.last_seq, processed: row.processed, succeeded: row.succeeded, failed: row.failed,
        warnings: row.warnings, committedAt: new Date(row.committed_at), durationMs: row.duration_ms,
      }));
    });
  }

  async throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    return this.#call('throughput', () => {
      // committed_at is ISO-8601 UTC text: its first 13 characters name the hour, and text order is time order.
      const rows = this.#stmt(
        `SELECT r.pipeline, substr(c.committed_at, 1, 13) AS hour, sum(c.processed) AS processed, sum(c.succeeded) AS succeeded, sum(c.failed) AS failed
         FROM run_chunks c JOIN runs r ON r.id = c.run_id
         WHERE c.committed_at >= ? AND c.committed_at < ? AND (? IS NULL OR r.submitted_by = ?)
         GROUP BY r.pipeline, hour ORDER BY r.pipeline, hour`,
      ).all(iso(query.since), iso(query.until), query.submittedBy ?? null, query.submittedBy ?? null) as
        { pipeline: string; hour: string; processed: number; succeeded: number; failed: number }[];
      return rows.map((row) => ({ pipeline: row.pipeline, hour: new Date(`${row.hour}:00:00.000Z`), processed: row.processed, succeeded: row.succeeded, failed: row.failed }));
    });
  }

  // ── audit log ──────────────────────────────────────────────────────────────────────────────

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.#call('recordAudit', () => {
      this.#stmt('INSERT INTO audit_log (at, actor, key_id, action, target, pipeline, details) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(iso(entry.at), entry.actor, entry.keyId, entry.action, entry.target, entry.pipeline, entry.details === null ? null : JSON.stringify(entry.details));
    });
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.#call('listAudit', () => {
      const rows = this.#stmt(`SELECT at, actor, key_id, action, target, pipeline, details FROM audit_log
        WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR actor = ? OR key_id = ?) AND (? IS NULL OR action = ?)
        ORDER BY at DESC, id DESC LIMIT ?`).all(
        ...twice(filter.since === undefined ? null : iso(filter.since)), filter.actor ?? null, ...twice(filter.actor ?? null), ...twice(filter.action ?? null), filter.limit ?? 100,
      ) as { at: string; actor: string; key_id: string | null; action: AuditEntry['action']; target: string; pipeline: string | null; details: string | null }[];
      return rows.map((r) => ({
        at: new Date(r.at), actor: r.actor, keyId: r.key_id, action: r.action, target: r.target, pipeline: r.pipeline,
        details: r.details === null ? null : JSON.parse(r.details) as Record<string, unknown>,
      }));
    });
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────

  #runRow(id: string): Rows['run'] | undefined {
    return this.#stmt('SELECT * FROM runs WHERE id = ?').get(id) as Rows['run'] | undefined;
  }

  /** Runs a synchronous body; foreign errors become LadingErrors (SQLITE_BUSY → STORE_BUSY). */
  async #call<T>(operation: string, body: () => T | Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw classify(error, { ioCode: 'STORE_FAILED', doing: `sqlite: ${operation}` });
    }
  }
}

/** Dead letters are the failures (severity block) of runs; the filter narrows them. */
function deadLetterWhere(filter: DeadLetterFilter): { where: string; params: unknown[] } {
  const clauses = ["e.severity = 'block'", 'e.status IS NOT NULL'];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    clauses.push(clause);
    params.push(value);
  };
  if (filter.runId !== undefined) add('e.run_id = ?', filter.runId);
  if (filter.pipeline !== undefined) add('r.pipeline = ?', filter.pipeline);
  if (filter.errorType !== undefined) {
    add('(e.error_type = ? OR e.code = ?)', filter.errorType);
    params.push(filter.errorType);
  }
  if (filter.itemId !== undefined) add('e.item_id = ?', filter.itemId);
  if (filter.itemIds !== undefined) {
    clauses.push(filter.itemIds.length === 0 ? '0' : `e.item_id IN (${filter.itemIds.map(() => '?').join(', ')})`);
    params.push(...filter.itemIds);
  }
  if (filter.status !== undefined) add('e.status = ?', filter.status);
  return { where: clauses.join(' AND '), params };
}

/**
 * Rows one transaction of a purge removes: a page holds the write lock and the event loop while it
 * goes, 25-40 ms for purgePageSize (5,000) records on 2 vCPUs, 5-10 ms for 1,000, at the same total.
 */
const purgePage = Math.min(purgePageSize, 1_000);

/** The ids a purge may remove (batch-ranges.ts); null when there is nothing. */
type Span = { lo: number | null; hi: number | null };
/** The raw rows a purge reads before it removes them (sqlite's TEXT JSON, not yet parsed). */
type PurgedRecord = { id: number; pipeline: string; data: string; idempotency_key: string | null; received_at: string; batch_id: string };
type PurgedError = { id: number; status: string | null; run_id: string; item_id: string | null; code: string; error_type: string; message: string; attempts: number; payload: string | null };
type PurgedRun = { id: string; pipeline: string; status: string; batch_id: string | null; created_at: string; completed_at: string | null; report: string | null };
