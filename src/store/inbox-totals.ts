// Running totals of each inbox pipeline's pending records, in both stores (SQLite migration 0015,
// PostgreSQL 0012). inboxStats read every pending record: 290–560 ms a call with 1M pending on
// SQLite, and `lading serve` asks once a second per inbox pipeline, on each /metrics scrape and on
// each POST to a pipeline with max_pending (docs/benchmarks.md, machine J).
//
// - inbox_totals holds a pipeline's pending records, their bytes and how many carry a priority:
//   an ingest adds what it stored (not its duplicates) in its own transaction, a cut takes off
//   its batch's.
// - inbox_arrivals holds one row per pipeline per ingest transaction: its received_at and its
//   highest record id. A cut deletes the rows at or below its range's last id, so every row left
//   has a pending record with its time (the record at last_id), and every pending record's
//   transaction still has its row: the oldest pending arrival is the least received_at, one seek.
//   The rows are keyed by time, without an index on the id (a page fewer for each commit): the
//   rows a cut deletes name records of its range, so their times lie within the range's.
// - Priorities are counted over the pending records that carry one (a partial index), and only
//   when the totals say there are any: PostgreSQL picks that index only once it has statistics.
//
// A store adds a transaction's arrivals after its inserts, one pipeline after another in name
// order, so two transactions adding to the same pipelines lock their totals in the same order.

/** What one transaction stored, per pipeline. */
export interface Arrival {
  readonly pipeline: string;
  readonly records: number;
  readonly bytes: number;
  /** Those that carry a priority. */
  readonly prioritized: number;
  /** The lowest and the highest id it may have stored (ids a duplicate took lie between). */
  readonly firstId: number;
  readonly lastId: number;
}

/** Collects a transaction's stored records per pipeline, for one write of totals and arrivals at its end. */
export class Arrivals {
  readonly #by = new Map<string, { records: number; bytes: number; prioritized: number; firstId: number; lastId: number }>();

  add(pipeline: string, records: number, bytes: number, prioritized: number, firstId: number, lastId: number): void {
    if (records === 0) return;
    const seen = this.#by.get(pipeline);
    if (seen === undefined) this.#by.set(pipeline, { records, bytes, prioritized, firstId, lastId });
    else {
      seen.records += records;
      seen.bytes += bytes;
      seen.prioritized += prioritized;
      seen.firstId = Math.min(seen.firstId, firstId);
      seen.lastId = Math.max(seen.lastId, lastId);
    }
  }

  /** In pipeline name order. */
  list(): Arrival[] {
    return [...this.#by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([pipeline, t]) => ({ pipeline, ...t }));
  }
}
