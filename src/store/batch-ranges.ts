// Inbox batches as ranges of record ids, in both stores (SQLite migration 0014, PostgreSQL 0011).
// A batch cut since then holds its pipeline's pending records with ids first_id..last_id, where
// one cut before holds the records whose batch_id names it: writing the batch's id into a
// million records rewrote every row and every entry of the batch index, half of an inbox run
// (docs/benchmarks.md). A record is pending while its batch_id is NULL and its id is above its
// pipeline's highest last_id, so batches are never deleted, and a store must never let a record
// be committed with an id at or below a range already cut (each store's cutBatch says how).

/** SQL: the highest id cut into a range for the pipeline named by `pipeline` (a placeholder or a column). */
export const cutPosition = (pipeline: string): string => `(SELECT coalesce(max(last_id), 0) FROM batches WHERE pipeline = ${pipeline} AND last_id IS NOT NULL)`;

/**
 * SQL: the batch of inbox record `r` (a table name or alias): its batch_id, or the range holding
 * its id (ranges are disjoint and hold every pending record up to their end), or NULL while it
 * is pending.
 */
export const batchOfRecord = (r: string): string =>
  `coalesce(${r}.batch_id, (SELECT b.id FROM batches b WHERE b.pipeline = ${r}.pipeline AND b.last_id >= ${r}.id ORDER BY b.last_id LIMIT 1))`;
