import type Database from 'better-sqlite3';
import { statementCache } from './connection.js';
import { Arrivals } from '../inbox-totals.js';
import { inboxJson, type InboxInput, type IngestOutcome, type IngestRequest } from '../types.js';

/** 4 bound parameters a row: 2,050 per statement, well under SQLite's limit of 32,766. */
const maxInsertRows = 512;

/**
 * The INSERT of 2^k rows, at index k. A record's JSON is bound as text or as UTF-8 bytes (a bulk
 * POST's, see InboxInput), which the CAST stores as the same TEXT without a string in between.
 * The pipeline and the receive time, the same in every row, are bound once a statement, by name:
 * two strings converted to UTF-8 for each of 1,000 rows cost the writer 12–15% of a 1,000-lead
 * request's inserts (docs/benchmarks.md, machine X).
 */
const insertInboxRecords: readonly string[] = Array.from({ length: Math.log2(maxInsertRows) + 1 }, (_, k) =>
  `INSERT INTO inbox_records (pipeline, data, bytes, idempotency_key, received_at, priority) VALUES ${Array.from({ length: 2 ** k }, () => '(@pipeline, CAST(? AS TEXT), ?, ?, @receivedAt, ?)').join(', ')}
  ON CONFLICT (pipeline, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`);

/**
 * The inbox's writes on one connection: the store's own, and the ingest writer thread's
 * (ingest-thread.ts), which must write exactly as the store does.
 */
export class InboxWrites {
  readonly #stmt: (sql: string) => Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.#stmt = statementCache(db);
  }

  /**
   * Inserts inbox records inside the caller's transaction; a record whose key is already stored
   * counts as a duplicate. Many rows per INSERT: statement runs, not rows, dominate an ingest's
   * CPU. A run of `n` rows is cut into power-of-two slices of at most `maxInsertRows`, so at most
   * a dozen statement shapes are ever prepared. ON CONFLICT works row by row, so a key repeated
   * inside one slice is a duplicate too. What went in is added to `arrivals`, for `tally`.
   */
  insert(pipeline: string, records: readonly InboxInput[], receivedAt: string, arrivals: Arrivals): { accepted: number; duplicates: number } {
    let accepted = 0;
    for (let start = 0; start < records.length;) {
      let rows = maxInsertRows;
      while (rows > records.length - start) rows >>= 1;
      const params: unknown[] = [];
      let bytes = 0;
      let prioritized = 0;
      let keyed = false;
      for (let i = start; i < start + rows; i++) {
        const record = records[i]!;
        const data = inboxJson(record);
        const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
        bytes += size;
        if (record.priority !== undefined) prioritized++;
        keyed ||= record.key !== undefined;
        params.push(data, size, record.key ?? null, record.priority ?? null);
      }
      // A duplicate still takes an id (AUTOINCREMENT), so the stored rows are the ones above the
      // counter as it was: only a slice with keys can have duplicates, and only one that had them is summed.
      const before = keyed ? (this.#stmt("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox_records'), 0)").pluck().get() as number) : 0;
      const { changes, lastInsertRowid } = this.#stmt(insertInboxRecords[31 - Math.clz32(rows)]!).run({ pipeline, receivedAt }, params);
      if (changes > 0 && changes < rows) {
        ({ bytes, prioritized } = this.#stmt('SELECT sum(bytes) AS bytes, count(priority) AS prioritized FROM inbox_records WHERE id > ?').get(before) as { bytes: number; prioritized: number });
      }
      // Without duplicates the rows took consecutive ids; with them, every id above the counter as it was.
      arrivals.add(pipeline, changes, bytes, prioritized, keyed ? before + 1 : Number(lastInsertRowid) - changes + 1, Number(lastInsertRowid));
      accepted += changes;
      start += rows;
    }
    return { accepted, duplicates: records.length - accepted };
  }

  /**
   * Adds a transaction's arrivals to the pending totals (src/store/inbox-totals.ts) and to the
   * log of commits that finds a time window's records (migration 0016), inside it.
   */
  tally(arrivals: Arrivals, receivedAt: string): void {
    const total = this.#stmt(
      `INSERT INTO inbox_totals (pipeline, records, bytes, prioritized) VALUES (?, ?, ?, ?)
       ON CONFLICT (pipeline) DO UPDATE SET records = records + excluded.records, bytes = bytes + excluded.bytes, prioritized = prioritized + excluded.prioritized`,
    );
    const arrived = this.#stmt('INSERT INTO inbox_arrivals (pipeline, received_at, last_id) VALUES (?, ?, ?)');
    const committed = this.#stmt('INSERT INTO inbox_commits (received_at, pipeline, first_id, last_id) VALUES (?, ?, ?, ?)');
    for (const a of arrivals.list()) {
      total.run(a.pipeline, a.records, a.bytes, a.prioritized);
      arrived.run(a.pipeline, receivedAt, a.lastId);
      committed.run(receivedAt, a.pipeline, a.firstId, a.lastId);
    }
  }

  /**
   * API requests in one transaction (one fsync); a re-sent request key gets its first answer and
   * stores nothing. Neighbouring requests without a request key whose records have no key either
   * cannot meet a duplicate: their records share INSERT statements (a group of single-record POSTs
   * is then a few statements, not one per request), still in the order they came.
   */
  requests(requests: readonly IngestRequest[], receivedAt: string): IngestOutcome[] {
    const answered = this.#stmt('SELECT accepted, duplicates, extra FROM ingest_requests WHERE pipeline = ? AND request_key = ?');
    const remember = this.#stmt(
      'INSERT INTO ingest_requests (pipeline, request_key, accepted, duplicates, extra, received_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    return this.db.transaction(() => {
      const outcomes: IngestOutcome[] = [];
      const arrivals = new Arrivals();
      let pooled: { pipeline: string; records: InboxInput[] } | undefined;
      const insertPooled = () => {
        if (pooled !== undefined) this.insert(pooled.pipeline, pooled.records, receivedAt, arrivals);
        pooled = undefined;
      };
      for (const request of requests) {
        if (request.requestKey === undefined && request.records.every((record) => record.key === undefined)) {
          if (pooled?.pipeline !== request.pipeline) {
            insertPooled();
            pooled = { pipeline: request.pipeline, records: [] };
          }
          for (const record of request.records) pooled.records.push(record);
          outcomes.push({ accepted: request.records.length, duplicates: 0, replayed: false, ...(request.extra === undefined ? {} : { extra: request.extra }) });
          continue;
        }
        insertPooled();
        if (request.requestKey !== undefined) {
          const first = answered.get(request.pipeline, request.requestKey) as { accepted: number; duplicates: number; extra: string | null } | undefined;
          if (first !== undefined) {
            outcomes.push({ accepted: first.accepted, duplicates: first.duplicates, replayed: true, ...(first.extra === null ? {} : { extra: JSON.parse(first.extra) as unknown }) });
            continue;
          }
        }
        const counts = this.insert(request.pipeline, request.records, receivedAt, arrivals);
        if (request.requestKey !== undefined) {
          remember.run(request.pipeline, request.requestKey, counts.accepted, counts.duplicates, request.extra === undefined ? null : JSON.stringify(request.extra), receivedAt);
        }
        outcomes.push({ ...counts, replayed: false, ...(request.extra === undefined ? {} : { extra: request.extra }) });
      }
      insertPooled();
      this.tally(arrivals, receivedAt);
      return outcomes;
    }).immediate();
  }
}
