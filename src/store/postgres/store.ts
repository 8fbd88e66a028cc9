import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { FileArtifact, RunReport } from '../../core/report.js';
import { classify } from '../../errors/classify.js';
import { ladingError } from '../../errors/lading-error.js';
import { parseDatabaseUrl } from '../../sql/connection.js';
import { loadPg } from '../../sql/postgres.js';
import { batchOfRecord, cutPosition, purgeableErrors, purgeableRecords } from '../batch-ranges.js';
import { Arrivals } from '../inbox-totals.js';
import { leaseLost } from '../lease-lost.js';
import { loadMigrations, runMigrations, type Migration, type MigrationDriver, type MigrationResult } from '../migrate.js';
import type {
  ActiveLeases, Alert, ApiKeyRecord, AuditEntry, AuditFilter, Batch, ChunkCommit, ChunkLease, ChunkRecord, CutOptions, DeadLetter, DeadLetterCount, DeadLetterFilter, DeliveredFile, DeliveryFilter, DeliveryRecord, DeliveryState, DeliveryStep, DeliveryStepRecord, DeliveryUpdate, InboxInput, InboxJsonPage, InboxReconciliation, InboxRecord, InboxRecordRef, InboxStats, IngestOutcome, IngestRequest, ItemErrorQuery, ItemErrorRecord, KnownHost, NotificationRecord, NotifyKey, PurgeArchive, PurgePlan, PurgeResult, QueuedJobSpec, ReportWindow, RuleState, RunControl, RunFilter, RunRecord, RunSpec, StepOptions, Store, ThroughputBucket, ThroughputQuery,
} from '../types.js';
import { inboxText } from '../types.js';
import { archivedRow, failedSampleSize, inboxRef, purgePageSize } from '../reports.js';
import * as rows from '../rows.js';

// This driver's rows (times as Date, JSON as unknown); their mapping is shared with the other store in rows.ts.
type Rows = rows.DriverRows<Date, unknown>;
const { toRun, toBatch, toItemError, toLease, toDeliveryState, toDelivery, toApiKey } = rows.mappers(rows.postgresDecode);
const { deliveryColumns } = rows;

/**
 * The shared store: one PostgreSQL database used by many processes (node-postgres pool). Each
 * write that touches several rows is one transaction; cutting a batch locks the records it takes
 * with FOR UPDATE SKIP LOCKED, so concurrent cutters never put one record into two batches.
 */

export interface PostgresStoreOptions {
  /** Connections in the pool. Default 10. */
  readonly maxConnections?: number;
  /** How long to wait for a connection before failing with STORE_UNAVAILABLE. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** Ledger timestamps of migrations; defaults to the system clock. */
  readonly now?: () => Date;
  /** false: open without migrating, so the caller can call migrate() and see what it applied. Default true. */
  readonly migrate?: boolean;
}

/** Where the PostgreSQL migrations live: next to this module (the build copies the .sql files). */
export const postgresMigrationsDir = (): URL => new URL('./migrations/', import.meta.url);


// int8 (ids, counters, count(*)) arrives as text by default; these stay far below 2^53.
const typesOf = (lib: typeof pg) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === lib.types.builtins.INT8 ? Number : lib.types.getTypeParser(oid, format as 'text')) as typeof lib.types.getTypeParser,
});

/** Opens a pool on `url` and migrates the database (the connection is tried then, not later). */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const lib = await loadPg();
  const pool = new lib.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: 'lading',
    types: typesOf(lib),
    // Idle connections never keep a CLI process alive.
    allowExitOnIdle: true,
  });
  // An idle client whose server went away: the pool drops it and the next query reconnects.
  pool.on('error', () => {});
  const store = new PostgresStore(pool, parseDatabaseUrl(url, process.cwd()).description, options.now);
  if (options.migrate === false) return store;
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** Any number outside int4: the key of the advisory lock migrators take ("lading" in ASCII). */
const migrationLock = 0x6c6164696e67;

/**
 * The migration runner's PostgreSQL driver. Each step is a transaction that first takes a
 * transaction-level advisory lock, so processes starting at once queue instead of racing on
 * CREATE TABLE; the ledger re-check after the lock skips what the first one applied.
 */
export function postgresMigrationDriver(pool: pg.Pool): MigrationDriver {
  const locked = async <T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> =>
    inTransaction(pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${migrationLock})`);
      return body(client);
    });
  return {
    async ensureLedger() {
      await locked((client) => client.query(
        'CREATE TABLE IF NOT EXISTS lading_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)',
      ));
    },
    async appliedVersions() {
      return (await pool.query<{ version: number }>('SELECT version FROM lading_migrations')).rows.map((r) => r.version);
    },
    async apply(migration: Migration, appliedAt: Date) {
      return locked(async (client) => {
        const present = await client.query('SELECT 1 FROM lading_migrations WHERE version = $1', [migration.version]);
        if (present.rowCount !== 0) return false;
        await client.query('INSERT INTO lading_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, appliedAt]);
        // No parameters: the simple protocol, which runs a script of several statements.
        await client.query(migration.sql);
        return true;
      });
    },
  };
}

/**
 * Runs `body` between BEGIN and COMMIT on one pooled client; rolls back when it throws. Errors
 * escape unclassified. A client that broke (its ROLLBACK failed) is discarded, not reused.
 */
async function inTransaction<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A connection that breaks while checked out reports here as well as to the running query.
  const onError = () => { broken = true; };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => { broken = true; });
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

interface ChunkTimelineRow {
  chunk_index: number; last_seq: number; processed: number; succeeded: number; failed: number; warnings: number; committed_at: Date; duration_ms: number | null;
}
type DeadLetterRow = Rows['itemError'] & { run_id: string; pipeline: string; status: string };
interface InboxRow { id: number; data: Record<string, unknown>; received_at: Date }

/**
 * A page of a batch's records after an id: those of its range (store/batch-ranges.ts), or those
 * naming it (a batch cut before ranges). Each branch is a keyset read of an index in id order
 * with its own LIMIT, the batch's values given as scalars: as a join, or limited only once, each
 * page sorted the rest of the batch (a 1M-record run took 205 s).
 */
const batchPage = (columns: string) => `(SELECT r.id, ${columns} FROM inbox_records r
    WHERE r.pipeline = (SELECT pipeline FROM batches WHERE id = $1) AND r.batch_id IS NULL
      AND r.id > greatest($2, (SELECT first_id - 1 FROM batches WHERE id = $1)) AND r.id <= (SELECT last_id FROM batches WHERE id = $1)
    ORDER BY r.id LIMIT $3)
  UNION ALL
  (SELECT r.id, ${columns} FROM inbox_records r WHERE r.pipeline = (SELECT pipeline FROM batches WHERE id = $1) AND r.batch_id = $1 AND r.id > $2
    ORDER BY r.id LIMIT $3)
  ORDER BY id LIMIT $3`;

const batchColumns = 'id, pipeline, records, bytes, cut_at, reason, status';
const itemErrorColumns = 'item_id, seq, chunk_index, code, error_type, category, severity, field, location, message, attempts, status';

/** Numbers placeholders as values are added: `where.push(\`run_id = ${p(runId)}\`)`. */
function parameters(): { readonly values: unknown[]; p(value: unknown): string } {
  const values: unknown[] = [];
  return { values, p: (value) => `$${values.push(value)}` };
}

export class PostgresStore implements Store {
  readonly description: string;
  readonly dialect = 'postgres';
  readonly #pool: pg.Pool;
  readonly #now: (() => Date) | undefined;
  #closed = false;

  /** Wraps a pool; prefer openPostgresStore, which migrates. `description` must hold no password. */
  constructor(pool: pg.Pool, description: string, now?: () => Date) {
    this.#pool = pool;
    this.description = description;
    this.#now = now;
  }

  async migrate(): Promise<MigrationResult> {
    try {
      return await runMigrations(postgresMigrationDriver(this.#pool), await loadMigrations(postgresMigrationsDir()), {
        description: this.description,
        ...(this.#now === undefined ? {} : { now: this.#now }),
      });
    } catch (error) {
      throw this.#fail('migrate', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#call('close', () => this.#pool.end());
  }

  // ── inbox ──────────────────────────────────────────────────────────────────────────────────

  async ingest(pipeline: string, records: readonly InboxInput[], at: Date): Promise<{ readonly accepted: number; readonly duplicates: number }> {
    if (records.length === 0) return { accepted: 0, duplicates: 0 };
    return this.#transaction('ingest', (client) => insertRecords(client, pipeline, records, at));
  }

  async cutBatch(pipeline: string, opts: CutOptions): Promise<Batch | null> {
    if (opts.maxRecords !== undefined && !(Number.isInteger(opts.maxRecords) && opts.maxRecords > 0)) {
      throw new RangeError(`cutBatch maxRecords must be a positive integer, got ${opts.maxRecords}`);
    }
    return this.#transaction('cutBatch', async (client) => {
      // A batch is a range of ids (store/batch-ranges.ts), and identity values are handed out when
      // a row is inserted, not when it commits: a record inserted before the cut and committed
      // after it could fall inside the range and never be read. So the cut waits for the inserts
      // in flight and holds new ones (and other cuts) until it commits; a cut is one aggregate
      // over the pending records' index, not a write to each of them.
      await client.query('LOCK TABLE inbox_records IN SHARE ROW EXCLUSIVE MODE');
      // The fire counts as acted on with the cut, or without one when nothing is pending.
      if (opts.fire) await recordFire(client, pipeline, opts.fire.trigger, opts.fire.at);
      // With `until`, the range stops before the first pending record received after it.
      const { rows } = await client.query<Rows['batch']>(
        `WITH position AS (
           SELECT ${cutPosition('$1')} AS after
         ), stop AS (
           SELECT min(id) AS id FROM inbox_records
           WHERE pipeline = $1 AND batch_id IS NULL AND id > (SELECT after FROM position) AND $6::timestamptz IS NOT NULL AND received_at > $6::timestamptz
         ), picked AS (
           SELECT id, bytes, priority, received_at FROM inbox_records
           WHERE pipeline = $1 AND batch_id IS NULL AND id > (SELECT after FROM position) AND id < coalesce((SELECT id FROM stop), ${Number.MAX_SAFE_INTEGER})
           ORDER BY id LIMIT $2
         ), cut AS (
           INSERT INTO batches (id, pipeline, records, bytes, cut_at, reason, first_id, last_id)
           SELECT $3, $1, count(*), coalesce(sum(bytes), 0), $4, $5, min(id), max(id) FROM picked HAVING count(*) > 0
           RETURNING ${batchColumns}, last_id
         ), untallied AS (
           UPDATE inbox_totals t SET records = t.records - cut.records, bytes = t.bytes - cut.bytes, prioritized = t.prioritized - (SELECT count(priority) FROM picked)
           FROM cut WHERE t.pipeline = $1
         ), departed AS (
           DELETE FROM inbox_arrivals a USING cut, (SELECT min(received_at) AS since, max(received_at) AS until FROM picked) r
           WHERE a.pipeline = $1 AND a.received_at BETWEEN r.since AND r.until AND a.last_id <= cut.last_id
         )
         SELECT ${batchColumns} FROM cut`,
        [pipeline, opts.maxRecords ?? null, opts.id, opts.at, opts.reason, opts.until ?? null],
      );
      return rows[0] === undefined ? null : toBatch(rows[0]);
    });
  }

  async openBatch(pipeline: string): Promise<Batch | null> {
    const { rows } = await this.#query<Rows['batch']>('openBatch',
      `SELECT ${batchColumns} FROM batches WHERE pipeline = $1 AND status = 'open' ORDER BY cut_at, seq LIMIT 1`, [pipeline]);
    return rows[0] === undefined ? null : toBatch(rows[0]);
  }

  async getBatch(batchId: string): Promise<Batch | null> {
    const { rows } = await this.#query<Rows['batch']>('getBatch', `SELECT ${batchColumns} FROM batches WHERE id = $1`, [batchId]);
    return rows[0] === undefined ? null : toBatch(rows[0]);
  }

  async readPending(pipeline: string, afterId: number, limit: number): Promise<InboxRecord[]> {
    const { rows } = await this.#query<InboxRow>('readPending',
      `SELECT id, data, received_at FROM inbox_records WHERE pipeline = $1 AND batch_id IS NULL AND id > greatest($2, ${cutPosition('$1')}) ORDER BY id LIMIT $3`,
      [pipeline, afterId, limit]);
    return rows.map(toInboxRecord);
  }

  async readBatch(batchId: string, afterId: number, limit: number): Promise<InboxRecord[]> {
    const { rows } = await this.#query<InboxRow>('readBatch', batchPage('r.data, r.received_at'), [batchId, afterId, limit]);
    return rows.map(toInboxRecord);
  }

  async readBatchJson(batchId: string, afterId: number, limit: number): Promise<InboxJsonPage> {
    // A json column keeps its text as ingested: cast to text, it skips node-postgres's JSON.parse.
    const { rows } = await this.#query<{ id: number; data: string }>('readBatchJson', batchPage('r.data::text AS data'), [batchId, afterId, limit]);
    return { ids: rows.map((row) => row.id), json: rows.map((row) => row.data) };
  }

  async completeBatch(batchId: string, runId: string, at: Date): Promise<void> {
    // Completing a delivered batch again is a no-op (the first delivery's run is kept).
    const { rows } = await this.#query<{ found: boolean }>('completeBatch',
      `WITH done AS (
         UPDATE batches SET status = 'delivered', delivered_at = $1, run_id = $2 WHERE id = $3 AND status = 'open' RETURNING id
       )
       SELECT EXISTS (SELECT 1 FROM done) OR EXISTS (SELECT 1 FROM batches WHERE id = $3) AS found`,
      [at, runId, batchId]);
    if (rows[0]?.found !== true) throw ladingError('STORE_FAILED', `postgres: completeBatch: no batch ${batchId}`);
  }

  async inboxStats(pipeline: string): Promise<InboxStats> {
    // Kept totals and one seek (store/inbox-totals.ts), not a read of every pending record; one
    // statement, so the counts and the priorities come from the same snapshot.
    const { rows } = await this.#query<InboxStats>('inboxStats',
      `WITH t AS (SELECT records, bytes, prioritized FROM inbox_totals WHERE pipeline = $1)
       SELECT coalesce((SELECT records FROM t), 0)::bigint AS pending, coalesce((SELECT bytes FROM t), 0)::bigint AS bytes,
         (SELECT min(received_at) FROM inbox_arrivals WHERE pipeline = $1) AS oldest,
         CASE WHEN coalesce((SELECT prioritized FROM t), 0) = 0 THEN '[]' ELSE
           (SELECT coalesce(json_agg(json_build_object('priority', p.priority, 'count', p.n) ORDER BY p.priority DESC), '[]')
            FROM (SELECT priority, count(*) AS n FROM inbox_records
                  WHERE pipeline = $1 AND priority IS NOT NULL AND id > ${cutPosition('$1')} AND batch_id IS NULL GROUP BY priority) p) END AS priorities`, [pipeline]);
    const row = rows[0]!;
    return { pending: row.pending, bytes: row.bytes, oldest: row.oldest, priorities: row.priorities };
  }

  // ── schedule triggers ──────────────────────────────────────────────────────────────────────

  async lastFire(pipeline: string, trigger: string): Promise<Date | null> {
    const { rows } = await this.#query<{ last_fire: Date }>('lastFire',
      'SELECT last_fire FROM schedule_fires WHERE pipeline = $1 AND trigger = $2', [pipeline, trigger]);
    return rows[0]?.last_fire ?? null;
  }

  async recordFire(pipeline: string, trigger: string, at: Date): Promise<void> {
    await this.#call('recordFire', () => recordFire(this.#pool, pipeline, trigger, at));
  }

  // ── runs ───────────────────────────────────────────────────────────────────────────────────

  async createRun(spec: RunSpec & { readonly id: string; readonly createdAt: Date; readonly batchId: string | null }): Promise<RunRecord> {
    const { rows } = await this.#query<Rows['run'] & { parent_found: boolean }>('createRun',
      // lineage: the parent's lineage (itself when it is a first run), or this run's own id.
      `WITH parent AS (SELECT coalesce(lineage, id) AS lineage FROM runs WHERE id = $8)
       INSERT INTO runs (id, pipeline, mode, status, batch_id, source, created_at, config, parent_run_id, lineage, owner, heartbeat_at, base_dir, submitted_by)
       SELECT $1, $2, $3, 'running', $4, $5, $6, $7::json, $8, coalesce((SELECT lineage FROM parent), $1), $9, $6, $10, $11
       WHERE $8::text IS NULL OR EXISTS (SELECT 1 FROM parent)
       RETURNING *`,
      [
        spec.id, spec.pipeline, spec.mode, spec.batchId, spec.source, spec.createdAt, JSON.stringify(spec.config ?? null),
        spec.parentRunId ?? null, spec.owner ?? null, spec.baseDir ?? null, spec.submittedBy ?? null,
      ]);
    if (rows[0] === undefined) throw ladingError('STORE_RUN_NOT_FOUND', `postgres: createRun: no parent run ${spec.parentRunId}`);
    return toRun(rows[0]);
  }

  async commitChunk(runId: string, commit: ChunkCommit): Promise<void> {
    await this.#call('commitChunk', () => commitChunk(this.#pool, runId, commit));
  }

  async commitChunks(runId: string, commits: readonly ChunkCommit[]): Promise<void> {
    // One chunk: its statement is its transaction, one round trip. Several: a round trip each and
    // one WAL flush for all, durable when any of them must be (the relaxed statement would relax them all).
    if (commits.length <= 1) {
      if (commits[0] !== undefined) await this.commitChunk(runId, commits[0]);
      return;
    }
    const durable = commits.some((commit) => commit.durable !== false);
    await this.#transaction('commitChunks', async (client) => {
      for (const commit of commits) await commitChunk(client, runId, durable ? { ...commit, durable: true } : commit);
    });
  }

  async finishRun(runId: string, report: RunReport): Promise<void> {
    await this.#call('finishRun', () => finishRun(this.#pool, runId, report));
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const { rows } = await this.#query<Rows['run']>('getRun', 'SELECT * FROM runs WHERE id = $1', [id]);
    return rows[0] === undefined ? null : toRun(rows[0]);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const { rows } = await this.#query<Rows['run']>('listRuns',
      `SELECT * FROM runs WHERE ($1::text IS NULL OR pipeline = $1) AND ($2::text IS NULL OR submitted_by = $2)
         AND ($4::text IS NULL OR batch_id = $4) AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      [filter.pipeline ?? null, filter.submittedBy ?? null, filter.limit ?? 20, filter.batchId ?? null, filter.since ?? null, filter.before ?? null]);
    return rows.map(toRun);
  }

  async listItemErrors(runId: string, opts: ItemErrorQuery = {}): Promise<ItemErrorRecord[]> {
    const { values, p } = parameters();
    const where = [`run_id = ${p(runId)}`];
    if (opts.severity !== undefined) where.push(`severity = ${p(opts.severity)}`);
    if (opts.primary) where.push("NOT (severity = 'block' AND status IS NULL)");
    // ASC puts errors without a seq (run-level) last.
    const { rows } = await this.#query<Rows['itemError']>('listItemErrors',
      `SELECT ${itemErrorColumns} FROM item_errors WHERE ${where.join(' AND ')} ORDER BY seq, id LIMIT ${p(opts.limit ?? null)} OFFSET ${p(opts.offset ?? 0)}`,
      values);
    return rows.map(toItemError);
  }

  async errorCategories(runId: string): Promise<{ readonly failed: Record<string, number>; readonly warnings: Record<string, number> }> {
    const { rows } = await this.#query<{ severity: string; error_type: string; n: number }>('errorCategories',
      // Items, not rows: an item failing two rules counts once, under its first failure's type.
      `SELECT severity, error_type, count(*) AS n FROM item_errors
       WHERE run_id = $1 AND (severity = 'warn' OR status IS NOT NULL) GROUP BY severity, error_type ORDER BY error_type`,
      [runId]);
    const failed: Record<string, number> = {};
    const warnings: Record<string, number> = {};
    for (const row of rows) (row.severity === 'warn' ? warnings : failed)[row.error_type] = row.n;
    return { failed, warnings };
  }

  async heartbeat(runId: string, owner: string, at: Date): Promise<{ readonly control: RunControl | null }> {
    const { rows } = await this.#query<{ control: string | null }>('heartbeat',
      "UPDATE runs SET heartbeat_at = $1, owner = $2 WHERE id = $3 AND status = 'running' RETURNING control", [at, owner, runId]);
    const control = rows[0]?.control;
    return { control: control === 'pause' || control === 'cancel' ? control : null };
  }

  async setControl(runId: string, control: RunControl | null): Promise<boolean> {
    const result = await this.#query('setControl', "UPDATE runs SET control = $1 WHERE id = $2 AND status = 'running'", [control, runId]);
    return (result.rowCount ?? 0) > 0;
  }

  async reopenRun(runId: string, owner: string, at: Date): Promise<RunRecord> {
    const { rows } = await this.#query<Rows['run']>('reopenRun',
      "UPDATE runs SET status = 'running', completed_at = NULL, report = NULL, control = NULL, owner = $1, heartbeat_at = $2 WHERE id = $3 RETURNING *",
      [owner, at, runId]);
    if (rows[0] === undefined) throw ladingError('STORE_RUN_NOT_FOUND', `postgres: reopenRun: no run ${runId}`);
    return toRun(rows[0]);
  }

  async listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const { values, p } = parameters();
    const where = deadLetterWhere(filter, p);
    const { rows } = await this.#query<DeadLetterRow>('listDeadLetters',
      `SELECT e.*, r.pipeline FROM item_errors e JOIN runs r ON r.id = e.run_id WHERE ${where}
       ORDER BY e.run_id, e.seq, e.id LIMIT ${p(filter.limit ?? null)} OFFSET ${p(filter.offset ?? 0)}`,
      values);
    return rows.map((row) => ({
      ...toItemError(row), runId: row.run_id, pipeline: row.pipeline,
      status: row.status === 'retried' || row.status === 'skipped' ? row.status : 'dead',
    }));
  }

  async markDeadLetters(filter: DeadLetterFilter, status: 'retried' | 'skipped'): Promise<number> {
    const { values, p } = parameters();
    const set = p(status);
    const where = deadLetterWhere({ ...filter, status: 'dead' }, p);
    const result = await this.#query('markDeadLetters', `UPDATE item_errors e SET status = ${set} FROM runs r WHERE r.id = e.run_id AND ${where}`, values);
    return result.rowCount ?? 0;
  }

  async knownHost(host: string): Promise<KnownHost | null> {
    const { rows } = await this.#query<{ host: string; key_type: string; fingerprint: string; first_seen: Date }>('knownHost',
      'SELECT host, key_type, fingerprint, first_seen FROM known_hosts WHERE host = $1', [host]);
    const row = rows[0];
    return row ? { host: row.host, keyType: row.key_type, fingerprint: row.fingerprint, firstSeen: row.first_seen } : null;
  }

  async rememberHost(entry: KnownHost): Promise<KnownHost> {
    await this.#query('rememberHost',
      'INSERT INTO known_hosts (host, key_type, fingerprint, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT (host) DO NOTHING',
      [entry.host, entry.keyType, entry.fingerprint, entry.firstSeen]);
    return (await this.knownHost(entry.host))!;
  }

  // ── work distribution ──────────────────────────────────────────────────────────────────────

  async enqueueJob(spec: QueuedJobSpec): Promise<RunRecord> {
    return this.#transaction('enqueueJob', async (client) => {
      const { rows } = await client.query<Rows['run']>(
        `INSERT INTO runs (id, pipeline, mode, status, batch_id, source, created_at, config, lineage, base_dir, submitted_by)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7::json, $1, $8, $9) RETURNING *`,
        [spec.id, spec.pipeline, spec.mode, spec.batchId, spec.source, spec.createdAt, JSON.stringify(spec.config ?? null), spec.baseDir ?? null, spec.submittedBy ?? null],
      );
      const total = spec.kind === 'chunks' ? spec.chunks.reduce((sum, c) => sum + c.length, 0) : null;
      await client.query('INSERT INTO jobs (run_id, priority, kind, total, submitted_at) VALUES ($1, $2, $3, $4, $5)',
        [spec.id, spec.priority, spec.kind, total, spec.createdAt]);
      const chunks = spec.kind === 'chunks' ? spec.chunks.map((items) => JSON.stringify(items)) : [null];
      // A page of chunks per statement: one array parameter each, rather than 400 round trips for a 200k-item job.
      for (let from = 0; from < chunks.length; from += 100) {
        await client.query(
          `INSERT INTO job_chunks (run_id, chunk_index, items)
           SELECT $1, $2 + c.ord - 1, c.items::json FROM unnest($3::text[]) WITH ORDINALITY AS c (items, ord)`,
          [spec.id, from, chunks.slice(from, from + 100)],
        );
      }
      return toRun(rows[0]!);
    });
  }

  async claimChunk(workerId: string, leaseMs: number, now: Date): Promise<ChunkLease | null> {
    return this.#transaction('claimChunk', async (client) => {
      // SKIP LOCKED: claimers racing for the same chunk each take a different one instead of queueing.
      const { rows } = await client.query<Rows['lease']>(
        `WITH next AS (
           SELECT c.run_id, c.chunk_index, c.lease_worker AS taken_over_from FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
           WHERE r.status IN ('queued', 'running') AND (c.state = 'pending' OR (c.state = 'leased' AND c.lease_expires_at < $1))
           ORDER BY j.priority DESC, j.submitted_at, j.run_id, c.chunk_index
           LIMIT 1 FOR UPDATE OF c SKIP LOCKED)
         UPDATE job_chunks c SET state = 'leased', lease_worker = $2, lease_token = $3, lease_expires_at = $4, attempts = c.attempts + 1
         FROM next JOIN jobs j ON j.run_id = next.run_id
         WHERE c.run_id = next.run_id AND c.chunk_index = next.chunk_index
         RETURNING c.run_id, c.chunk_index, c.items, c.lease_token, c.lease_worker, c.lease_expires_at, c.attempts, j.total, next.taken_over_from`,
        [now, workerId, randomUUID(), new Date(now.getTime() + leaseMs)],
      );
      const row = rows[0];
      if (row === undefined) return null;
      await client.query("UPDATE runs SET status = 'running', heartbeat_at = $2 WHERE id = $1 AND status = 'queued'", [row.run_id, now]);
      return toLease(row);
    });
  }

  async extendLease(token: string, leaseMs: number, now: Date): Promise<{ readonly control: RunControl | null }> {
    return this.#transaction('extendLease', async (client) => {
      const held = await client.query<{ run_id: string }>(
        "UPDATE job_chunks SET lease_expires_at = $2 WHERE lease_token = $1 AND state = 'leased' RETURNING run_id",
        [token, new Date(now.getTime() + leaseMs)],
      );
      if (held.rows[0] === undefined) throw leaseLost('postgres: extendLease', token);
      const { rows } = await client.query<{ control: string | null }>('UPDATE runs SET heartbeat_at = $2 WHERE id = $1 RETURNING control', [held.rows[0].run_id, now]);
      const control = rows[0]?.control;
      return { control: control === 'pause' || control === 'cancel' ? control : null };
    });
  }

  async commitLeasedChunk(token: string, commit: ChunkCommit): Promise<{ readonly last: boolean }> {
    return this.#transaction('commitLeasedChunk', async (client) => {
      const held = await heldLease(client, token, 'commitLeasedChunk');
      await commitChunk(client, held.run_id, commit);
      if (held.kind === 'whole') return { last: false };
      // commitChunk holds the run's row lock: of two last chunks committing at once, the second sees the first done.
      const open = await client.query("SELECT 1 FROM job_chunks WHERE run_id = $1 AND chunk_index <> $2 AND state <> 'done' LIMIT 1",
        [held.run_id, held.chunk_index]);
      if (open.rowCount === 0) return { last: true };
      await client.query("UPDATE job_chunks SET state = 'done' WHERE run_id = $1 AND chunk_index = $2", [held.run_id, held.chunk_index]);
      return { last: false };
    });
  }

  async finishLeasedJob(token: string, report: RunReport): Promise<void> {
    await this.#transaction('finishLeasedJob', async (client) => {
      const held = await heldLease(client, token, 'finishLeasedJob');
      await client.query("UPDATE job_chunks SET state = 'done' WHERE run_id = $1", [held.run_id]);
      await finishRun(client, held.run_id, report);
    });
  }

  async releaseChunk(token: string): Promise<void> {
    await this.#query('releaseChunk',
      "UPDATE job_chunks SET state = 'pending', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL WHERE lease_token = $1 AND state = 'leased'",
      [token]);
  }

  async cancelQueuedJob(runId: string, report: RunReport): Promise<boolean> {
    // One statement: the run leaves 'queued' and its chunks go together, so no worker can claim one in between.
    const { rows } = await this.#query<{ n: string }>('cancelQueuedJob',
      `WITH cancelled AS (
         UPDATE runs SET status = 'cancelled', completed_at = $2, report = $3, control = 'cancel' WHERE id = $1 AND status = 'queued' RETURNING id
       ), dropped AS (DELETE FROM job_chunks WHERE run_id IN (SELECT id FROM cancelled))
       SELECT count(*) AS n FROM cancelled`,
      [runId, report.completed_at, JSON.stringify(report)]);
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async acquireLease(name: string, holder: string, leaseMs: number, now: Date, takeFrom?: string): Promise<string | null> {
    const { rows } = await this.#query<{ token: string }>('acquireLease',
      `INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
       WHERE leases.expires_at < $5 OR leases.holder = $2 OR leases.holder = $6
       RETURNING token`,
      [name, holder, randomUUID(), new Date(now.getTime() + leaseMs), now, takeFrom ?? null]);
    return rows[0]?.token ?? null;
  }

  async renewLease(name: string, token: string, leaseMs: number, now: Date): Promise<boolean> {
    const result = await this.#query('renewLease', 'UPDATE leases SET expires_at = $3 WHERE name = $1 AND token = $2',
      [name, token, new Date(now.getTime() + leaseMs)]);
    return (result.rowCount ?? 0) > 0;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    await this.#query('releaseLease', 'DELETE FROM leases WHERE name = $1 AND token = $2', [name, token]);
  }

  async leaseHolder(name: string): Promise<{ readonly holder: string; readonly expiresAt: Date } | null> {
    const { rows } = await this.#query<{ holder: string; expires_at: Date }>('leaseHolder', 'SELECT holder, expires_at FROM leases WHERE name = $1', [name]);
    return rows[0] === undefined ? null : { holder: rows[0].holder, expiresAt: rows[0].expires_at };
  }

  async activeLeases(now: Date): Promise<ActiveLeases[]> {
    const { rows } = await this.#query<{ pipeline: string; kind: ActiveLeases['kind']; count: string }>('activeLeases',
      `SELECT r.pipeline, j.kind, count(*) AS count FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
       WHERE c.state = 'leased' AND c.lease_expires_at >= $1 GROUP BY r.pipeline, j.kind ORDER BY r.pipeline, j.kind`, [now]);
    return rows.map((r) => ({ pipeline: r.pipeline, kind: r.kind, count: Number(r.count) }));
  }

  // ── deliveries ─────────────────────────────────────────────────────────────────────────────

  async recordFile(runId: string, file: FileArtifact & { readonly destination: string; readonly deliveredAt: Date }): Promise<void> {
    await this.#query('recordFile',
      `INSERT INTO files (run_id, name, part, uri, bytes, records, sha256, destination, delivered_at, attempts, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (run_id, name) DO UPDATE SET
         part = excluded.part, uri = excluded.uri, bytes = excluded.bytes, records = excluded.records,
         sha256 = excluded.sha256, destination = excluded.destination, delivered_at = excluded.delivered_at,
         attempts = excluded.attempts, duration_ms = excluded.duration_ms`,
      [runId, file.name, file.part, file.uri, file.bytes, file.records, file.sha256, file.destination, file.deliveredAt, file.attempts ?? 1, file.duration_ms ?? null]);
  }

  async listFiles(runId: string): Promise<FileArtifact[]> {
    const { rows } = await this.#query<FileArtifact>('listFiles',
      'SELECT name, bytes, records, sha256, uri, part FROM files WHERE run_id = $1 ORDER BY part, name', [runId]);
    return rows;
  }

  async deliveryState(pipeline: string): Promise<DeliveryState> {
    const { rows } = await this.#query<Rows['deliveryState']>('deliveryState',
      `SELECT ${deliveryStateColumns} FROM delivery_state WHERE pipeline = $1`, [pipeline]);
    return toDeliveryState(pipeline, rows[0]);
  }

  async suspendDeliveries(pipeline: string, why: { readonly code: string; readonly reason: string; readonly at: Date }): Promise<void> {
    await this.#query('suspendDeliveries',
      `INSERT INTO delivery_state (pipeline, suspended_at, code, reason) VALUES ($1, $2, $3, $4)
       ON CONFLICT (pipeline) DO UPDATE SET suspended_at = excluded.suspended_at, code = excluded.code, reason = excluded.reason
       WHERE delivery_state.suspended_at IS NULL`,
      [pipeline, why.at, why.code, why.reason]);
  }

  async resumeDeliveries(pipeline: string): Promise<boolean> {
    const result = await this.#query('resumeDeliveries',
      'UPDATE delivery_state SET suspended_at = NULL, code = NULL, reason = NULL WHERE pipeline = $1 AND suspended_at IS NOT NULL', [pipeline]);
    return (result.rowCount ?? 0) > 0;
  }

  async recordAlert(alert: Alert): Promise<void> {
    await this.#query('recordAlert', 'INSERT INTO alerts (pipeline, run_id, kind, code, message, at) VALUES ($1, $2, $3, $4, $5, $6)',
      [alert.pipeline, alert.runId, alert.kind, alert.code, alert.message, alert.at]);
  }

  async listAlerts(filter: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<Alert[]> {
    const { rows } = await this.#query<{ pipeline: string; run_id: string | null; kind: Alert['kind']; code: string | null; message: string; at: Date }>('listAlerts',
      'SELECT pipeline, run_id, kind, code, message, at FROM alerts WHERE $1::text IS NULL OR pipeline = $1 ORDER BY id DESC LIMIT $2',
      [filter.pipeline ?? null, filter.limit ?? 100]);
    return rows.map((r) => ({ pipeline: r.pipeline, runId: r.run_id, kind: r.kind, code: r.code, message: r.message, at: r.at }));
  }

  async openDelivery(spec: { readonly id: string; readonly pipeline: string; readonly batchId: string; readonly part: string; readonly destination: string; readonly runId: string; readonly name: string; readonly at: Date }): Promise<DeliveryRecord> {
    return this.#transaction('openDelivery', async (client) => {
      // A concurrent opener of the same part waits on the unique key, then does nothing; the
      // SELECT after it (a statement of its own, so a fresh snapshot) sees the winner's row.
      await client.query(
        `WITH created AS (
           INSERT INTO deliveries (id, pipeline, batch_id, part, destination, run_id, name, state, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'sealed', $8, $8)
           ON CONFLICT (pipeline, batch_id, part, destination) DO NOTHING
           RETURNING id, created_at
         )
         INSERT INTO delivery_steps (delivery_id, state, at) SELECT id, 'sealed', created_at FROM created`,
        [spec.id, spec.pipeline, spec.batchId, spec.part, spec.destination, spec.runId, spec.name, spec.at]);
      const { rows } = await client.query<Rows['delivery']>(
        'SELECT * FROM deliveries WHERE pipeline = $1 AND batch_id = $2 AND part = $3 AND destination = $4',
        [spec.pipeline, spec.batchId, spec.part, spec.destination]);
      if (rows[0] === undefined) throw ladingError('STORE_FAILED', `postgres: openDelivery: ${spec.id} neither created nor found`);
      return toDelivery(rows[0]);
    });
  }

  async advanceDelivery(id: string, state: DeliveryStep, at: Date, update: DeliveryUpdate = {}, options: StepOptions = {}): Promise<boolean> {
    const { values, p } = parameters();
    const [step, when] = [`${p(state)}::text`, `${p(at)}::timestamptz`];
    const set = [`state = ${step}`, `updated_at = ${when}`];
    for (const [key, value] of Object.entries(update)) {
      if (value !== undefined) set.push(`${deliveryColumns[key as keyof DeliveryUpdate]} = ${p(value)}`);
    }
    const where = [`id = ${p(id)}`];
    const { expect } = options;
    if (expect !== undefined) where.push(`state = ${p(expect.state)}`);
    if (expect?.code !== undefined) where.push(`code IS NOT DISTINCT FROM ${p(expect.code)}::text`);
    // One statement: the move and its step are recorded together, or neither for an unknown id (or an unmet expectation).
    const result = await this.#query('advanceDelivery',
      `WITH moved AS (UPDATE deliveries SET ${set.join(', ')} WHERE ${where.join(' AND ')} RETURNING id)
       INSERT INTO delivery_steps (delivery_id, state, at, detail) SELECT id, ${step}, ${when}, ${p(options.detail ?? null)}::text FROM moved`,
      values);
    return (result.rowCount ?? 0) > 0;
  }

  async putStaged(key: string, file: { readonly bytes: Uint8Array; readonly sha256: string; readonly at: Date }): Promise<void> {
    await this.#query('putStaged',
      `INSERT INTO staged_files (key, bytes, sha256, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key) DO UPDATE SET bytes = excluded.bytes, sha256 = excluded.sha256, created_at = excluded.created_at`,
      [key, Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength), file.sha256, file.at]);
  }

  async getStaged(key: string): Promise<{ readonly bytes: Uint8Array; readonly sha256: string } | null> {
    const { rows } = await this.#query<{ bytes: Buffer; sha256: string }>('getStaged', 'SELECT bytes, sha256 FROM staged_files WHERE key = $1', [key]);
    return rows[0] ?? null;
  }

  async removeStaged(key: string): Promise<void> {
    await this.#query('removeStaged', 'DELETE FROM staged_files WHERE key = $1', [key]);
  }

  async getDelivery(id: string): Promise<DeliveryRecord | null> {
    const { rows } = await this.#query<Rows['delivery']>('getDelivery', 'SELECT * FROM deliveries WHERE id = $1', [id]);
    return rows[0] === undefined ? null : toDelivery(rows[0]);
  }

  async deliverySteps(id: string): Promise<DeliveryStepRecord[]> {
    const { rows } = await this.#query<{ state: DeliveryStep; at: Date; detail: string | null }>('deliverySteps',
      'SELECT state, at, detail FROM delivery_steps WHERE delivery_id = $1 ORDER BY id', [id]);
    return rows.map((r) => ({ state: r.state, at: r.at, detail: r.detail }));
  }

  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    const { values, p } = parameters();
    const where: string[] = [];
    for (const [column, value] of [['pipeline', filter.pipeline], ['run_id', filter.runId], ['batch_id', filter.batchId]] as const) {
      if (value !== undefined) where.push(`${column} = ${p(value)}`);
    }
    if (filter.states) where.push(`state = ANY (${p(filter.states)}::text[])`);
    const { rows } = await this.#query<Rows['delivery']>('listDeliveries',
      `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${p(filter.limit ?? 100)}`,
      values);
    return rows.map(toDelivery);
  }

  async recordDeliveryOutcome(pipeline: string, outcome: { readonly ok: boolean; readonly threshold: number; readonly at: Date }): Promise<DeliveryState> {
    // One upsert: concurrent outcomes of the same pipeline queue on its row and each counts.
    const { rows } = outcome.ok
      ? await this.#query<Rows['deliveryState']>('recordDeliveryOutcome',
        `INSERT INTO delivery_state (pipeline) VALUES ($1)
         ON CONFLICT (pipeline) DO UPDATE SET failures = 0, breaker_opened_at = NULL
         RETURNING ${deliveryStateColumns}`, [pipeline])
      : await this.#query<Rows['deliveryState']>('recordDeliveryOutcome',
        `INSERT INTO delivery_state (pipeline, failures, breaker_opened_at) VALUES ($1, 1, CASE WHEN $2::integer <= 1 THEN $3::timestamptz END)
         ON CONFLICT (pipeline) DO UPDATE SET failures = delivery_state.failures + 1,
           breaker_opened_at = CASE WHEN delivery_state.failures + 1 >= $2::integer THEN $3::timestamptz ELSE delivery_state.breaker_opened_at END
         RETURNING ${deliveryStateColumns}`, [pipeline, outcome.threshold, outcome.at]);
    return toDeliveryState(pipeline, rows[0]);
  }

  // ── notify ─────────────────────────────────────────────────────────────────────────────────

  async breachRule(pipeline: string, rule: string, at: Date): Promise<RuleState> {
    const { rows } = await this.#query<{ breached_at: Date; consecutive: number }>('breachRule',
      `INSERT INTO notify_rules (pipeline, rule, breached_at, consecutive) VALUES ($1, $2, $3, 1)
       ON CONFLICT (pipeline, rule) DO UPDATE SET
         breached_at = coalesce(notify_rules.breached_at, excluded.breached_at), consecutive = notify_rules.consecutive + 1
       RETURNING breached_at, consecutive`,
      [pipeline, rule, at]);
    return { pipeline, rule, breachedAt: rows[0]!.breached_at, consecutive: rows[0]!.consecutive };
  }

  async clearRule(pipeline: string, rule: string): Promise<RuleState | null> {
    // One statement: FOR UPDATE makes a concurrent clear wait, then find the rule cleared (null);
    // the locked row is the latest version, so what is returned is what this clear ended.
    const { rows } = await this.#query<{ breached_at: Date; consecutive: number }>('clearRule',
      `UPDATE notify_rules n SET breached_at = NULL, consecutive = 0
       FROM (SELECT pipeline, rule, breached_at, consecutive FROM notify_rules
             WHERE pipeline = $1 AND rule = $2 AND breached_at IS NOT NULL FOR UPDATE) old
       WHERE n.pipeline = old.pipeline AND n.rule = old.rule
       RETURNING old.breached_at, old.consecutive`,
      [pipeline, rule]);
    const row = rows[0];
    return row === undefined ? null : { pipeline, rule, breachedAt: row.breached_at, consecutive: row.consecutive };
  }

  async claimAlert(key: NotifyKey, at: Date, minIntervalMs: number): Promise<boolean> {
    // ON CONFLICT … DO UPDATE … WHERE: a concurrent claimer waits for the first, then re-checks
    // the interval against its write, so exactly one of them takes the alert.
    const result = await this.#query('claimAlert',
      `INSERT INTO notify_channels (pipeline, rule, channel, last_sent_at, open) VALUES ($1, $2, $3, $4, true)
       ON CONFLICT (pipeline, rule, channel) DO UPDATE SET last_sent_at = excluded.last_sent_at, open = true
       WHERE notify_channels.last_sent_at IS NULL OR notify_channels.last_sent_at <= $5`,
      [key.pipeline, key.rule, key.channel, at, new Date(at.getTime() - minIntervalMs)]);
    return (result.rowCount ?? 0) > 0;
  }

  async claimRecovery(key: NotifyKey): Promise<boolean> {
    const result = await this.#query('claimRecovery',
      'UPDATE notify_channels SET open = false WHERE pipeline = $1 AND rule = $2 AND channel = $3 AND open',
      [key.pipeline, key.rule, key.channel]);
    return (result.rowCount ?? 0) > 0;
  }

  async recordNotification(n: NotificationRecord): Promise<void> {
    await this.#query('recordNotification',
      'INSERT INTO notifications (pipeline, run_id, event, rule, channel, target, status, code, message, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [n.pipeline, n.runId, n.event, n.rule, n.channel, n.target, n.status, n.code, n.message, n.at]);
  }

  async listNotifications(filter: { readonly pipeline?: string; readonly limit?: number } = {}): Promise<NotificationRecord[]> {
    const { rows } = await this.#query<{
      pipeline: string; run_id: string | null; event: NotificationRecord['event']; rule: string | null; channel: string; target: string;
      status: NotificationRecord['status']; code: string | null; message: string; at: Date;
    }>('listNotifications',
      `SELECT pipeline, run_id, event, rule, channel, target, status, code, message, at FROM notifications
       WHERE $1::text IS NULL OR pipeline = $1 ORDER BY id DESC LIMIT $2`,
      [filter.pipeline ?? null, filter.limit ?? 100]);
    return rows.map((r) => ({
      pipeline: r.pipeline, runId: r.run_id, event: r.event, rule: r.rule, channel: r.channel, target: r.target, status: r.status, code: r.code, message: r.message, at: r.at,
    }));
  }

  // ── API: group-committed ingest requests, keys ───────────────────────────────────────────────

  async ingestRequests(requests: readonly IngestRequest[], at: Date): Promise<IngestOutcome[]> {
    if (requests.length === 0) return [];
    return this.#transaction('ingestRequests', async (client) => {
      // First the request keys are claimed, all in one statement and in key order (so two group
      // commits sharing keys cannot deadlock): a key another transaction is storing right now is
      // waited for; a key already answered is not claimed and its answer is replayed below.
      const keyed = new Map<string, { pipeline: string; requestKey: string }>();
      for (const r of requests) if (r.requestKey !== undefined) keyed.set(requestId(r.pipeline, r.requestKey), { pipeline: r.pipeline, requestKey: r.requestKey });
      const claimed = new Set<string>();
      if (keyed.size > 0) {
        const keys = [...keyed.values()];
        const { rows } = await client.query<{ pipeline: string; request_key: string }>(
          `INSERT INTO ingest_requests (pipeline, request_key, accepted, duplicates, received_at)
           SELECT k.pipeline, k.request_key, 0, 0, $3 FROM unnest($1::text[], $2::text[]) AS k (pipeline, request_key)
           ORDER BY k.pipeline, k.request_key
           ON CONFLICT (pipeline, request_key) DO NOTHING
           RETURNING pipeline, request_key`,
          [keys.map((k) => k.pipeline), keys.map((k) => k.requestKey), at]);
        for (const row of rows) claimed.add(requestId(row.pipeline, row.request_key));
      }
      // The requests that store their records (all but the replays), in order: their records go
      // in with one statement, a round trip per group instead of one per request.
      const storing = requests.filter((request) => request.requestKey === undefined || claimed.delete(requestId(request.pipeline, request.requestKey)));
      const counts = await insertRequests(client, storing, at);
      const answers = new Map(storing.map((request, i) => [request, counts[i]!]));
      const keyedStoring = storing.flatMap((request, i) => (request.requestKey === undefined ? [] : [{ request, counts: counts[i]! }]));
      if (keyedStoring.length > 0) {
        // Before the replays below read them: a key re-sent within this call replays this answer.
        await client.query(
          `UPDATE ingest_requests AS q SET accepted = u.accepted, duplicates = u.duplicates, extra = u.extra::json
           FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::text[]) AS u (pipeline, request_key, accepted, duplicates, extra)
           WHERE q.pipeline = u.pipeline AND q.request_key = u.request_key`,
          [keyedStoring.map((k) => k.request.pipeline), keyedStoring.map((k) => k.request.requestKey!), keyedStoring.map((k) => k.counts.accepted),
            keyedStoring.map((k) => k.counts.duplicates), keyedStoring.map((k) => (k.request.extra === undefined ? null : JSON.stringify(k.request.extra)))]);
      }
      const outcomes: IngestOutcome[] = [];
      for (const request of requests) {
        const stored = answers.get(request);
        if (stored !== undefined) {
          outcomes.push({ ...stored, replayed: false, ...(request.extra === undefined ? {} : { extra: request.extra }) });
          continue;
        }
        // Answered before: by an earlier request of this call, or by a committed transaction.
        const { rows } = await client.query<{ accepted: number; duplicates: number; extra: unknown }>(
          'SELECT accepted, duplicates, extra FROM ingest_requests WHERE pipeline = $1 AND request_key = $2', [request.pipeline, request.requestKey]);
        const first = rows[0];
        if (first === undefined) throw ladingError('STORE_FAILED', `postgres: ingestRequests: request ${request.requestKey} neither claimed nor answered`);
        outcomes.push({ accepted: first.accepted, duplicates: first.duplicates, replayed: true, ...(first.extra === null ? {} : { extra: first.extra }) });
      }
      return outcomes;
    });
  }

  async createApiKey(key: ApiKeyRecord & { readonly hash: string }): Promise<void> {
    await this.#query('createApiKey',
      'INSERT INTO api_keys (id, owner, scopes, hash, created_at, revoked_at) VALUES ($1, $2, $3::jsonb, $4, $5, $6)',
      [key.id, key.owner, JSON.stringify(key.scopes), key.hash, key.createdAt, key.revokedAt]);
  }

  async getApiKey(id: string): Promise<(ApiKeyRecord & { readonly hash: string }) | null> {
    const { rows } = await this.#query<Rows['apiKey']>('getApiKey', `SELECT ${apiKeyColumns} FROM api_keys WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : { ...toApiKey(rows[0]), hash: rows[0].hash };
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#query<Rows['apiKey']>('listApiKeys', `SELECT ${apiKeyColumns} FROM api_keys ORDER BY created_at, id`, []);
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    const result = await this.#query('revokeApiKey', 'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return (result.rowCount ?? 0) > 0;
  }

  // ── reports, lineage, retention ────────────────────────────────────────────────────────────

  async findInboxRecords(ref: string): Promise<InboxRecordRef[]> {
    const { rows } = await this.#query<{ id: number; pipeline: string; idempotency_key: string | null; received_at: Date; batch_id: string | null }>('findInboxRecords',
      `SELECT id, pipeline, idempotency_key, received_at, ${batchOfRecord('r')} AS batch_id FROM inbox_records r WHERE id = $1
       UNION SELECT id, pipeline, idempotency_key, received_at, ${batchOfRecord('r')} AS batch_id FROM inbox_records r WHERE idempotency_key = $2 ORDER BY 1`,
      [inboxRef(ref) ?? -1, ref]);
    return rows.map((r) => ({ id: r.id, pipeline: r.pipeline, key: r.idempotency_key, receivedAt: r.received_at, batchId: r.batch_id }));
  }

  async reconcile(window: ReportWindow): Promise<InboxReconciliation[]> {
    // A pipeline's records of the window lie within the ids of its ingest commits there (migration
    // 0013): one range of the primary key each, filtered exactly, one pipeline at a time.
    const spans = await this.#query<{ pipeline: string; lo: number; hi: number }>('reconcile',
      `SELECT pipeline, min(first_id) AS lo, max(last_id) AS hi FROM inbox_commits
       WHERE received_at >= $1 AND received_at < $2 AND ($3::text IS NULL OR pipeline = $3) GROUP BY pipeline ORDER BY pipeline`,
      [window.from, window.to, window.pipeline ?? null]);
    // Each record of the window with its batch, found three ways, each through an index: the
    // records of a range batch (store/batch-ranges.ts) by a scan of that range per batch, those of a
    // batch cut before ranges by their batch_id, and the pending ones above the cut. Finding each
    // record's batch with batchOfRecord cost two index probes a record. OFFSET 0 keeps the range
    // scan per batch: pulled up into a join, it tested every record against every range.
    // A failed record: its item has a dead letter still dead or skipped (a retried one was delivered
    // by its retry). The pipeline's failed items are gathered once and hash-joined: as a subquery in
    // w, `failed` was evaluated again for each aggregate that reads it. A record's data is compared
    // by its MD5 (duplicates): the texts themselves spilled ~500 MB to disk to be sorted for a
    // million records. 1M leads in 10 batches: 4.1–4.8 s → 1.8 s (docs/benchmarks.md, machine L).
    // Only the totals read every record of the window; the open batches and the failed ids start
    // from the few batches and items they are about. Same wall time once the tables are analyzed
    // (they ran beside the totals, on the other core), but on a store just loaded, before its
    // first ANALYZE, the failed ids read through w planned so badly that reconcile took 98.6 s
    // instead of 2.7 (docs/benchmarks.md, machine M).
    const inWindow = 'r.pipeline = $3 AND r.id BETWEEN $1 AND $2 AND r.received_at >= $4 AND r.received_at < $5';
    const failedItems = `failed_items AS (
        SELECT DISTINCT e.item_id FROM item_errors e JOIN runs ru ON ru.id = e.run_id
        WHERE ru.pipeline = $3 AND e.severity = 'block' AND e.status IN ('dead', 'skipped'))`;
    const ranges = `ranges AS MATERIALIZED (
        SELECT id, status, cut_at, delivered_at, coalesce(lag(last_id) OVER (ORDER BY last_id), 0) AS after, last_id
        FROM batches WHERE pipeline = $3 AND last_id IS NOT NULL)`;
    /** The window's records of range batch b (the ranges CTE), columns `columns` of r. */
    const inRange = (columns: string) => `ranges b CROSS JOIN LATERAL (
          SELECT ${columns} FROM inbox_records r
          WHERE ${inWindow} AND r.batch_id IS NULL AND r.id > b.after AND r.id <= b.last_id OFFSET 0) r
        WHERE b.last_id >= $1 AND b.after < $2`;
    const records = `WITH ${failedItems}, ${ranges},
      placed AS (
        SELECT r.id, r.received_at, r.data, b.id AS batch_id, b.status AS batch_status, b.cut_at, b.delivered_at
        FROM ${inRange('r.id, r.received_at, r.data')}
        UNION ALL
        SELECT r.id, r.received_at, r.data, b.id, b.status, b.cut_at, b.delivered_at
        FROM inbox_records r JOIN batches b ON b.id = r.batch_id WHERE ${inWindow} AND r.batch_id IS NOT NULL
        UNION ALL
        SELECT r.id, r.received_at, r.data, NULL, NULL, NULL, NULL
        FROM inbox_records r WHERE ${inWindow} AND r.batch_id IS NULL AND r.id > ${cutPosition('$3')}),
      w AS (
        SELECT p.id, p.received_at, md5(p.data::text)::uuid AS data, p.batch_id, p.batch_status, p.cut_at,
          extract(epoch FROM p.delivered_at - p.received_at) * 1000 AS latency, f.item_id IS NOT NULL AS failed
        FROM placed p LEFT JOIN failed_items f ON f.item_id = 'inbox:' || p.id)`;
    // Every record of the window is placed by one of the three ways above, so these two need not place them.
    const openBatches = `WITH ${ranges}
      SELECT batch_id, sum(records)::int AS records, cut_at FROM (
        SELECT b.id AS batch_id, count(*) AS records, b.cut_at FROM ${inRange('1')} AND b.status = 'open' GROUP BY b.id, b.cut_at
        UNION ALL
        SELECT b.id, count(*), b.cut_at FROM inbox_records r JOIN batches b ON b.id = r.batch_id
        WHERE ${inWindow} AND r.batch_id IS NOT NULL AND b.status = 'open' GROUP BY b.id, b.cut_at) o
      GROUP BY batch_id, cut_at ORDER BY cut_at, batch_id`;
    const failedIds = `WITH ${failedItems}
      SELECT r.id FROM failed_items f JOIN inbox_records r ON r.id = substr(f.item_id, 7)::bigint
      WHERE f.item_id ~ '^inbox:[0-9]{1,18}$' AND ${inWindow} ORDER BY r.id LIMIT ${failedSampleSize}`;
    const delivered = `batch_status IS NOT DISTINCT FROM 'delivered' AND NOT failed`;
    const reconciled: InboxReconciliation[] = [];
    for (const { pipeline, lo, hi } of spans.rows) {
      const params = [lo, hi, pipeline, window.from, window.to];
      const [totals, open, failed] = await Promise.all([
        this.#query<{ accepted: number; batched: number; delivered: number; failed: number; duplicates: number; oldest: Date | null; latency: number | null }>('reconcile',
          `${records} SELECT count(*) AS accepted, count(batch_id) AS batched,
             count(*) FILTER (WHERE ${delivered}) AS delivered, count(*) FILTER (WHERE failed) AS failed,
             count(*) FILTER (WHERE ${delivered}) - count(DISTINCT data) FILTER (WHERE ${delivered}) AS duplicates,
             min(received_at) FILTER (WHERE batch_status IS DISTINCT FROM 'delivered' AND NOT failed) AS oldest,
             max(latency) FILTER (WHERE batch_status IS NOT DISTINCT FROM 'delivered')::float8 AS latency
           FROM w`, params),
        this.#query<{ batch_id: string; records: number; cut_at: Date }>('reconcile', openBatches, params),
        this.#query<{ id: number }>('reconcile', failedIds, params),
      ]);
      const t = totals.rows[0]!;
      // Commits whose records were all purged name a pipeline with nothing left in the window.
      if (t.accepted === 0) continue;
      reconciled.push({
        pipeline, accepted: t.accepted, batched: t.batched, delivered: t.delivered, failed: t.failed, duplicates: t.duplicates,
        oldestUndelivered: t.oldest, maxLatencyMs: t.latency === null ? null : Math.round(t.latency),
        openBatches: open.rows.map((o) => ({ batchId: o.batch_id, records: o.records, cutAt: o.cut_at })),
        failedIds: failed.rows.map((f) => f.id),
      });
    }
    return reconciled;
  }

  async listDeliveredFiles(window: ReportWindow): Promise<DeliveredFile[]> {
    const { rows } = await this.#query<{ run_id: string; pipeline: string; batch_id: string | null; name: string; part: number; uri: string; bytes: number; records: number; sha256: string; destination: string; delivered_at: Date; attempts: number; duration_ms: number | null }>('listDeliveredFiles',
      `SELECT f.*, r.pipeline, r.batch_id FROM files f JOIN runs r ON r.id = f.run_id
       WHERE f.delivered_at >= $1 AND f.delivered_at < $2 AND ($3::text IS NULL OR r.pipeline = $3) ORDER BY f.delivered_at, f.run_id, f.part, f.name`,
      [window.from, window.to, window.pipeline ?? null]);
    return rows.map((r) => ({
      runId: r.run_id, pipeline: r.pipeline, batchId: r.batch_id, name: r.name, part: r.part, uri: r.uri, bytes: r.bytes, records: r.records,
      sha256: r.sha256, destination: r.destination, deliveredAt: r.delivered_at, attempts: r.attempts, ...(r.duration_ms === null ? {} : { duration_ms: r.duration_ms }),
    }));
  }

  async deadLetterCounts(window: ReportWindow): Promise<DeadLetterCount[]> {
    const { rows } = await this.#query<DeadLetterCount>('deadLetterCounts',
      `SELECT r.pipeline, e.run_id AS "runId", e.status, count(*) AS count FROM item_errors e JOIN runs r ON r.id = e.run_id
       WHERE e.severity = 'block' AND e.status IS NOT NULL AND r.created_at >= $1 AND r.created_at < $2 AND ($3::text IS NULL OR r.pipeline = $3)
       GROUP BY r.pipeline, e.run_id, e.status ORDER BY r.pipeline, e.run_id, e.status`,
      [window.from, window.to, window.pipeline ?? null]);
    return rows;
  }

  async purge(plan: PurgePlan, archive?: PurgeArchive): Promise<PurgeResult> {
    const { pipeline } = plan;
    const dry = plan.dryRun === true;
    const keep = dry ? undefined : archive;
    const pool = this.#pool;
    return this.#call('purge', async () => {
      let records = 0;
      let deadLetters = 0;
      let runs = 0;
      let files: { deliveryId: string; path: string }[] = [];
      if (plan.records) {
        const span = (await pool.query<Span>(purgeableRecords('$1', '$2'), [pipeline, plan.records])).rows[0]!;
        records = await purgePages<PurgedRecord>(pool, 'inbox_records r', span,
          `r.pipeline = $1 AND ${batchOfRecord('r')} IN (SELECT id FROM batches WHERE pipeline = $1 AND status = 'delivered' AND delivered_at < $2)
           AND NOT EXISTS (SELECT 1 FROM item_errors e WHERE e.item_id = 'inbox:' || r.id AND e.status = 'dead')`,
          [pipeline, plan.records], dry,
          keep ? `r.pipeline, r.data, r.idempotency_key, r.received_at, ${batchOfRecord('r')} AS batch_id` : undefined,
          keep && ((page) => keep(page.map((r) => archivedRow.record({ ...r, received_at: r.received_at.toISOString() })))));
        // The commits whose records are all gone: below the pipeline's lowest record left (a seek of
        // inbox_by_batch, and a walk over the records batched before 0011 only).
        if (!dry) {
          await pool.query(
            `DELETE FROM inbox_commits WHERE pipeline = $1 AND last_id < least(
               coalesce((SELECT min(id) FROM inbox_records WHERE pipeline = $1 AND batch_id IS NULL), ${Number.MAX_SAFE_INTEGER}),
               coalesce((SELECT min(id) FROM inbox_records WHERE pipeline = $1 AND batch_id IS NOT NULL), ${Number.MAX_SAFE_INTEGER}))`, [pipeline]);
        }
      }
      if (plan.files) {
        const settled = `pipeline = $1 AND state IN ('verified', 'acknowledged', 'skipped') AND staged_path IS NOT NULL AND updated_at < $2`;
        // The old path comes from the locked row the UPDATE replaces.
        const { rows: found } = await pool.query<{ id: string; path: string }>(dry
          ? `SELECT id, staged_path AS path FROM deliveries WHERE ${settled}`
          : `UPDATE deliveries d SET staged_path = NULL FROM (SELECT id, staged_path FROM deliveries WHERE ${settled} FOR UPDATE) old
             WHERE d.id = old.id RETURNING d.id, old.staged_path AS path`, [pipeline, plan.files]);
        files = found.map((f) => ({ deliveryId: f.id, path: f.path })).sort((a, b) => a.deliveryId.localeCompare(b.deliveryId));
      }
      if (plan.deadLetters) {
        // Warnings, resolved dead letters and the detail rows of resolved items; an open dead letter stays with its details.
        const span = (await pool.query<Span>(purgeableErrors('$1', '$2'), [pipeline, plan.deadLetters])).rows[0]!;
        await purgePages<PurgedError>(pool, 'item_errors i', span,
          `i.run_id IN (SELECT id FROM runs WHERE pipeline = $1 AND created_at < $2)
           AND (i.severity = 'warn' OR NOT EXISTS (SELECT 1 FROM item_errors o WHERE o.run_id = i.run_id AND o.item_id IS NOT DISTINCT FROM i.item_id AND o.status = 'dead'))`,
          [pipeline, plan.deadLetters], dry,
          keep ? 'i.status, i.run_id, i.item_id, i.code, i.error_type, i.message, i.attempts, i.payload' : 'i.status',
          (page) => {
            const letters = page.filter((e) => e.status !== null);
            deadLetters += letters.length;
            if (keep && letters.length > 0) keep(letters.map((e) => archivedRow.deadLetter(pipeline, { ...e, status: e.status! })));
          });
      }
      if (plan.runs) {
        runs = await purgePages<PurgedRun>(pool, 'runs', undefined,
          `runs.pipeline = $1 AND runs.status <> 'running' AND coalesce(runs.completed_at, runs.created_at) < $2
           AND NOT EXISTS (SELECT 1 FROM item_errors e WHERE e.run_id = runs.id AND e.status = 'dead')
           AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = runs.batch_id AND b.status <> 'delivered')
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.state NOT IN ('verified', 'acknowledged', 'skipped'))`,
          [pipeline, plan.runs], dry,
          keep ? 'runs.pipeline, runs.status, runs.batch_id, runs.created_at, runs.completed_at, runs.report' : undefined,
          keep && ((page) => keep(page.map((r) => archivedRow.run({ ...r, created_at: r.created_at.toISOString(), completed_at: r.completed_at?.toISOString() ?? null })))));
      }
      return { records, deadLetters, runs, files };
    });
  }

  // ── dashboard ──────────────────────────────────────────────────────────────────────────────

  async listChunks(runId: string): Promise<ChunkRecord[]> {
    const { rows } = await this.#query<ChunkTimelineRow>('listChunks',
      'SELECT chunk_index, last_seq, processed, succeeded, failed, warnings, committed_at, duration_ms FROM run_chunks WHERE run_id = $1 ORDER BY chunk_index', [runId]);
    return rows.map((row) => ({
      index: row.chunk_index, lastSeq: row.last_seq, processed: row.processed, succeeded: row.succeeded, failed: row.failed,
      warnings: row.warnings, committedAt: row.committed_at, durationMs: row.duration_ms,
    }));
  }

  async throughput(query: ThroughputQuery): Promise<ThroughputBucket[]> {
    // Buckets by epoch hour rather than date_trunc, which would follow the session's time zone.
    const { rows } = await this.#query<{ pipeline: string; hour: Date; processed: number; succeeded: number; failed: number }>('throughput',
      `SELECT r.pipeline, to_timestamp(floor(extract(epoch FROM c.committed_at) / 3600) * 3600) AS hour,
              sum(c.processed)::int8 AS processed, sum(c.succeeded)::int8 AS succeeded, sum(c.failed)::int8 AS failed
       FROM run_chunks c JOIN runs r ON r.id = c.run_id
       WHERE c.committed_at >= $1 AND c.committed_at < $2 AND ($3::text IS NULL OR r.submitted_by = $3)
       GROUP BY r.pipeline, hour ORDER BY r.pipeline, hour`,
      [query.since, query.until, query.submittedBy ?? null]);
    return rows.map((row) => ({ pipeline: row.pipeline, hour: row.hour, processed: row.processed, succeeded: row.succeeded, failed: row.failed }));
  }

  // ── audit log ──────────────────────────────────────────────────────────────────────────────

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.#query('recordAudit',
      'INSERT INTO audit_log (at, actor, key_id, action, target, pipeline, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)',
      [entry.at, entry.actor, entry.keyId, entry.action, entry.target, entry.pipeline, entry.details === null ? null : JSON.stringify(entry.details)]);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const { rows } = await this.#query<{ at: Date; actor: string; key_id: string | null; action: AuditEntry['action']; target: string; pipeline: string | null; details: Record<string, unknown> | null }>('listAudit',
      `SELECT at, actor, key_id, action, target, pipeline, details FROM audit_log
       WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR actor = $2 OR key_id = $2) AND ($3::text IS NULL OR action = $3)
       ORDER BY at DESC, id DESC LIMIT $4`,
      [filter.since ?? null, filter.actor ?? null, filter.action ?? null, filter.limit ?? 100]);
    return rows.map((r) => ({ at: r.at, actor: r.actor, keyId: r.key_id, action: r.action, target: r.target, pipeline: r.pipeline, details: r.details }));
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(operation: string, sql: string, params: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.#call(operation, () => this.#pool.query<R>(sql, params as unknown[]));
  }

  async #transaction<T>(operation: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#call(operation, () => inTransaction(this.#pool, body));
  }

  /** Foreign errors become LadingErrors by SQLSTATE (deadlock → STORE_BUSY, connection → STORE_UNAVAILABLE). */
  async #call<T>(operation: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw this.#fail(operation, error);
    }
  }

  #fail(operation: string, error: unknown) {
    return classify(error, { ioCode: 'STORE_FAILED', doing: `postgres: ${operation}`, sql: 'store' });
  }
}

/** Anything that runs a query: the pool (a statement of its own) or a transaction's client. */
type Queryable = pg.Pool | pg.PoolClient;

/**
 * Inserts inbox records inside the caller's transaction; ORDER BY ord gives ids in arrival order.
 * A record whose key is already stored (or repeated within the call) counts as a duplicate.
 */
async function insertRecords(client: pg.PoolClient, pipeline: string, records: readonly InboxInput[], at: Date): Promise<{ accepted: number; duplicates: number }> {
  return (await insertRequests(client, [{ pipeline, records }], at))[0]!;
}

/**
 * The records of several requests, in request order (a key repeated in a later request is a
 * duplicate of the earlier one, as row by row), and each request's counts, inside the caller's
 * transaction, which ends with the pending totals (store/inbox-totals.ts) and the commit log of
 * migration 0013. A record without a key always goes in; one with a key went in when the INSERT
 * returns its key, and then it was that key's first record here.
 */
async function insertRequests(client: pg.PoolClient, requests: readonly IngestRequest[], at: Date): Promise<{ accepted: number; duplicates: number }[]> {
  const accepted = requests.map(() => 0);
  const arrivals = new Arrivals();
  // Statements of one pipeline's consecutive requests, up to a thousand rows: many small requests
  // share one, a large one has its own (one statement for a whole group of bulk requests
  // measured half as fast).
  for (let first = 0; first < requests.length;) {
    let end = first + 1;
    let size = requests[first]!.records.length;
    const pipeline = requests[first]!.pipeline;
    while (end < requests.length && requests[end]!.pipeline === pipeline && size + requests[end]!.records.length <= ROWS_PER_INSERT) size += requests[end++]!.records.length;
    await insertSlice(client, requests, first, end, at, accepted, arrivals);
    first = end;
  }
  const tallied = arrivals.list();
  if (tallied.length > 0) {
    await client.query({
      name: 'lading_ingest_totals',
      text: `WITH t AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t (pipeline, records, bytes, prioritized, first_id, last_id)),
       arrived AS (INSERT INTO inbox_arrivals (pipeline, received_at, last_id) SELECT pipeline, $7, last_id FROM t),
       committed AS (INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id) SELECT $7, pipeline, first_id, last_id FROM t)
       INSERT INTO inbox_totals (pipeline, records, bytes, prioritized) SELECT pipeline, records, bytes, prioritized FROM t ORDER BY pipeline
       ON CONFLICT (pipeline) DO UPDATE SET records = inbox_totals.records + excluded.records, bytes = inbox_totals.bytes + excluded.bytes,
         prioritized = inbox_totals.prioritized + excluded.prioritized`,
      values: [tallied.map((a) => a.pipeline), tallied.map((a) => a.records), tallied.map((a) => a.bytes), tallied.map((a) => a.prioritized), tallied.map((a) => a.firstId), tallied.map((a) => a.lastId), at],
    });
  }
  return requests.map((request, i) => ({ accepted: accepted[i]!, duplicates: request.records.length - accepted[i]! }));
}

const ROWS_PER_INSERT = 1000;

async function insertSlice(db: pg.PoolClient, requests: readonly IngestRequest[], first: number, end: number, at: Date, accepted: number[], arrivals: Arrivals): Promise<void> {
  const pipeline = requests[first]!.pipeline;
  const records = requests.slice(first, end).flatMap((request) => request.records);
  if (records.length === 0) return;
  const data = records.map(inboxText);
  const keys = records.some((r) => r.key !== undefined) ? records.map((r) => r.key ?? null) : null;
  const priorities = records.some((r) => r.priority !== undefined) ? records.map((r) => r.priority ?? null) : null;
  // The records cross as one JSON array, whose elements PostgreSQL keeps as they were written:
  // node-postgres escapes a text[] element by element, 7.6% of a bulk load's event loop, and 100
  // such statements of 1,000 leads took 3.3 s against 2.4 s (docs/benchmarks.md, machine F).
  // Keys and priorities, when any record has one, ride along as arrays zipped by position
  // (ROWS FROM pads a null array). One row comes back: what went in, for the totals.
  const { rows } = await db.query<{ records: number; bytes: string; prioritized: number; first_id: string | null; last_id: string | null; keys: string[] }>({
    // Named, like insertRequests' totals statement: parsing and planning the two was a third of what the
    // server spent on a group of single-record requests (docs/benchmarks.md, machine Q).
    name: 'lading_ingest_insert',
    text: `WITH inserted AS (
       INSERT INTO inbox_records (pipeline, data, bytes, idempotency_key, received_at, priority)
       SELECT $1, r.data, r.bytes, r.key, $6, r.priority
       FROM ROWS FROM (json_array_elements($2::json), unnest($3::bigint[]), unnest($4::text[]), unnest($5::integer[]))
         WITH ORDINALITY AS r (data, bytes, key, priority, ord)
       ORDER BY r.ord
       ON CONFLICT (pipeline, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id, bytes, idempotency_key, priority)
     SELECT count(*)::integer AS records, coalesce(sum(bytes), 0) AS bytes, count(priority)::integer AS prioritized, min(id) AS first_id, max(id) AS last_id,
       coalesce(array_agg(idempotency_key) FILTER (WHERE idempotency_key IS NOT NULL), '{}') AS keys
     FROM inserted`,
    values: [pipeline, `[${data.join(',')}]`, data.map((d) => Buffer.byteLength(d)), keys, priorities, at],
  });
  const stored = new Set(rows[0]!.keys);
  arrivals.add(pipeline, rows[0]!.records, Number(rows[0]!.bytes), rows[0]!.prioritized, Number(rows[0]!.first_id), Number(rows[0]!.last_id));
  for (let index = first; index < end; index++) {
    for (const record of requests[index]!.records) {
      if (record.key === undefined || stored.delete(record.key)) accepted[index]!++;
    }
  }
}

/** Records a schedule fire; never moves the time back (greatest of the stored and the given). */
async function recordFire(db: Queryable, pipeline: string, trigger: string, at: Date): Promise<void> {
  await db.query(
    `INSERT INTO schedule_fires (pipeline, trigger, last_fire) VALUES ($1, $2, $3)
     ON CONFLICT (pipeline, trigger) DO UPDATE SET last_fire = greatest(schedule_fires.last_fire, excluded.last_fire)`,
    [pipeline, trigger, at]);
}

/** A Map/Set key for one request key of one pipeline. */
const requestId = (pipeline: string, requestKey: string): string => JSON.stringify([pipeline, requestKey]);

const deliveryStateColumns = 'suspended_at, code, reason, failures, breaker_opened_at';





const apiKeyColumns = 'id, owner, scopes, hash, created_at, revoked_at';


function toInboxRecord(row: InboxRow): InboxRecord {
  return { id: row.id, data: row.data, receivedAt: row.received_at };
}




/** Dead letters are the failures (severity block) of runs; the filter narrows them. */
function deadLetterWhere(filter: DeadLetterFilter, p: (value: unknown) => string): string {
  const clauses = ["e.severity = 'block'", 'e.status IS NOT NULL'];
  if (filter.runId !== undefined) clauses.push(`e.run_id = ${p(filter.runId)}`);
  if (filter.pipeline !== undefined) clauses.push(`r.pipeline = ${p(filter.pipeline)}`);
  if (filter.errorType !== undefined) {
    const type = p(filter.errorType);
    clauses.push(`(e.error_type = ${type} OR e.code = ${type})`);
  }
  if (filter.itemId !== undefined) clauses.push(`e.item_id = ${p(filter.itemId)}`);
  if (filter.itemIds !== undefined) clauses.push(`e.item_id = ANY(${p(filter.itemIds)}::text[])`);
  if (filter.status !== undefined) clauses.push(`e.status = ${p(filter.status)}`);
  return clauses.join(' AND ');
}

/**
 * A chunk's commit as one statement, so one round trip: while it travels, the event loop reads
 * the executor's next chunk (engine/read-ahead.ts); six statements, each waiting for the loop in
 * turn, left it idle a quarter of a no-op handler's run (docs/benchmarks.md). Atomic on its own,
 * or inside the caller's transaction (a fenced commit holds its lease first, so no two commits
 * of one chunk meet). A re-commit of the same chunk replaces it: counters move by the difference
 * (the UPDATE adds it to the run's row as it stands once locked), errors are replaced (the
 * DELETE sees the rows from before the statement, not the ones it inserts). The checkpoint moves
 * only forward (chunks commit out of order under concurrency).
 */
async function commitChunk(db: Queryable, runId: string, commit: ChunkCommit): Promise<void> {
  // durable: false is the same promise as SQLite's synchronous=NORMAL: the commit does not wait
  // for its WAL flush. Set for the statement's own transaction (set_config's is_local), which
  // reads it when it commits, after the statement.
  const relaxed = commit.durable === false ? ", relaxed AS (SELECT set_config('synchronous_commit', 'off', true))" : '';
  const errors = commit.errors.map((e) => ({
    item_id: e.itemId, seq: e.seq, chunk_index: e.chunkIndex, code: e.code, error_type: e.errorType, category: e.category,
    severity: e.severity, field: e.field, location: e.location, message: e.message, attempts: e.attempts,
    payload: e.payload ?? null, history: e.history ?? null, status: e.severity === 'block' && e.detail !== true ? 'dead' : null,
  }));
  const { rows } = await db.query<{ found: number }>({
    // Named, so each connection parses and plans it once: parsing and planning this statement
    // took four times as long as running it (docs/benchmarks.md).
    name: relaxed === '' ? 'lading_commit_chunk' : 'lading_commit_chunk_relaxed',
    text: `WITH old AS (
       SELECT processed, succeeded, failed, warnings FROM run_chunks WHERE run_id = $1 AND chunk_index = $2
     ), delta AS (
       SELECT $3::bigint - COALESCE((SELECT processed FROM old), 0) AS processed, $4::bigint - COALESCE((SELECT succeeded FROM old), 0) AS succeeded,
              $5::bigint - COALESCE((SELECT failed FROM old), 0) AS failed, $6::bigint - COALESCE((SELECT warnings FROM old), 0) AS warnings
     ), moved AS (
       UPDATE runs SET
         processed = runs.processed + delta.processed, succeeded = runs.succeeded + delta.succeeded,
         failed = runs.failed + delta.failed, warnings = runs.warnings + delta.warnings,
         last_chunk_index   = CASE WHEN last_seq IS NULL OR $7 >= last_seq THEN $2 ELSE last_chunk_index END,
         last_processed     = CASE WHEN last_seq IS NULL OR $7 >= last_seq THEN runs.processed + delta.processed ELSE last_processed END,
         last_checkpoint_at = CASE WHEN last_seq IS NULL OR $7 >= last_seq THEN $8::timestamptz ELSE last_checkpoint_at END,
         last_position      = CASE WHEN last_seq IS NULL OR $7 >= last_seq THEN $9::text ELSE last_position END,
         last_seq           = CASE WHEN last_seq IS NULL OR $7 >= last_seq THEN $7 ELSE last_seq END
       FROM delta WHERE runs.id = $1
       RETURNING runs.id
     ), chunk AS (
       INSERT INTO run_chunks (run_id, chunk_index, last_seq, processed, succeeded, failed, warnings, committed_at, duration_ms)
       SELECT id, $2, $7, $3, $4, $5, $6, $8, $10 FROM moved
       ON CONFLICT (run_id, chunk_index) DO UPDATE SET
         last_seq = excluded.last_seq, processed = excluded.processed, succeeded = excluded.succeeded,
         failed = excluded.failed, warnings = excluded.warnings, committed_at = excluded.committed_at,
         duration_ms = excluded.duration_ms
     ), dropped AS (
       DELETE FROM item_errors WHERE run_id = $1 AND commit_chunk = $2 AND EXISTS (SELECT 1 FROM old)
     ), failures AS (
       -- All of the chunk's errors: a JSON array read as rows, in the order given.
       INSERT INTO item_errors (run_id, commit_chunk, item_id, seq, chunk_index, code, error_type, category, severity, field, location, message, attempts, payload, history, status)
       SELECT moved.id, $2, e.item_id, e.seq, e.chunk_index, e.code, e.error_type, e.category, e.severity, e.field, e.location, e.message, e.attempts,
              e.payload, e.history, e.status
       FROM moved, ROWS FROM (json_to_recordset($11::json) AS (
         item_id text, seq bigint, chunk_index integer, code text, error_type text, category text, severity text, field text,
         location text, message text, attempts integer, payload json, history jsonb, status text)) WITH ORDINALITY
         AS e (item_id, seq, chunk_index, code, error_type, category, severity, field, location, message, attempts, payload, history, status, ord)
       ORDER BY e.ord
     )${relaxed}
     SELECT count(*)::int AS found FROM moved${relaxed === '' ? '' : ', relaxed'}`,
    values: [
      runId, commit.index, commit.processed, commit.succeeded, commit.failed, commit.warnings, commit.lastSeq, commit.at,
      commit.lastPosition ?? null, commit.durationMs ?? null, errors.length === 0 ? null : JSON.stringify(errors),
    ],
  });
  if (rows[0]?.found !== 1) throw ladingError('STORE_RUN_NOT_FOUND', `postgres: commitChunk: no run ${runId}`);
}

async function finishRun(db: Queryable, runId: string, report: RunReport): Promise<void> {
  const result = await db.query('UPDATE runs SET status = $1, completed_at = $2, report = $3::json WHERE id = $4',
    [report.status, report.completed_at === null ? null : new Date(report.completed_at), JSON.stringify(report), runId]);
  if (result.rowCount === 0) throw ladingError('STORE_RUN_NOT_FOUND', `postgres: finishRun: no run ${runId}`);
}

/**
 * The chunk a token holds, locked for the fenced write; STORE_LEASE_LOST when the token no longer
 * holds it. Finishing also accepts the holder of a chunk already committed (a job stopped early)
 * while its run goes on.
 */
async function heldLease(client: pg.PoolClient, token: string, operation: 'commitLeasedChunk' | 'finishLeasedJob'): Promise<{ run_id: string; chunk_index: number; kind: string }> {
  const { rows } = await client.query<{ run_id: string; chunk_index: number; kind: string }>(
    `SELECT c.run_id, c.chunk_index, j.kind FROM job_chunks c JOIN jobs j ON j.run_id = c.run_id JOIN runs r ON r.id = c.run_id
     WHERE c.lease_token = $1 AND (c.state = 'leased' OR ($2 AND c.state = 'done' AND r.status IN ('queued', 'running'))) FOR UPDATE OF c`,
    [token, operation === 'finishLeasedJob']);
  if (rows[0] === undefined) throw leaseLost(`postgres: ${operation}`, token);
  return rows[0];
}

/** The ids a purge may remove (batch-ranges.ts); null when there is nothing. */
type Span = { lo: number | null; hi: number | null };
/** The rows a purge reads before it removes them. */
type PurgedRecord = { id: number; pipeline: string; data: unknown; idempotency_key: string | null; received_at: Date; batch_id: string };
type PurgedError = { id: number; status: string | null; run_id: string; item_id: string | null; code: string; error_type: string; message: string; attempts: number; payload: unknown };
type PurgedRun = { id: string; pipeline: string; status: string; batch_id: string | null; created_at: Date; completed_at: Date | null; report: unknown };

/**
 * Removes the rows of `table` that `where` selects, purgePageSize at a time, each page in a
 * transaction of its own: deleted with its columns returned, given to `onPage`, then committed,
 * so no lock or snapshot outlives a page. A dry run selects the same pages and removes nothing.
 * Integer ids go by ranges of ids within `span` (purgeableRecords): with LIMIT, each page sorted
 * every row above its start (over 10 minutes for 800k records); text ids (runs, a few a day) by
 * LIMIT from the first. Returns how many rows go.
 */
async function purgePages<Row extends { id: number | string }>(
  pool: pg.Pool, table: string, span: Span | undefined, where: string, params: readonly unknown[], dry: boolean, columns: string | undefined, onPage: ((page: Row[]) => void) | undefined,
): Promise<number> {
  if (span !== undefined && (span.lo === null || span.hi === null)) return 0;
  const alias = table.split(' ').at(-1)!;
  const at = params.length;
  const selected = `${alias}.id${columns === undefined ? '' : `, ${columns}`}`;
  const rows = span !== undefined
    // IS TRUE keeps `where` from choosing the index: without statistics, a page read the whole
    // pipeline's part of the batch index for its range (350 ms a page instead of 25).
    ? `${alias}.id > $${at + 1} AND ${alias}.id <= $${at + 2} AND (${where}) IS TRUE`
    : `${alias}.id IN (SELECT ${alias}.id FROM ${table} WHERE ${where} AND ${alias}.id > $${at + 1} ORDER BY ${alias}.id LIMIT ${purgePageSize})`;
  const sql = dry ? `SELECT ${selected} FROM ${table} WHERE ${rows}` : `DELETE FROM ${table} WHERE ${rows} RETURNING ${selected}`;
  const take = async (client: pg.Pool | pg.PoolClient, args: unknown[]): Promise<Row[]> => {
    const { rows: page } = await client.query<Row>(sql, args);
    page.sort((a, b) => (a.id < b.id ? -1 : 1));
    if (page.length > 0) onPage?.(page);
    return page;
  };
  let removed = 0;
  for (let after: number | string = span === undefined ? '' : span.lo! - 1; ;) {
    const upper = span === undefined ? undefined : (after as number) + purgePageSize;
    const args = upper === undefined ? [...params, after] : [...params, after, upper];
    const page = dry ? await take(pool, args) : await inTransaction(pool, (client) => take(client, args));
    removed += page.length;
    if (upper === undefined ? page.length === 0 : upper >= span!.hi!) return removed;
    after = upper ?? page.at(-1)!.id;
  }
}
