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

/**
 * SQL: the ids a purge of the pipeline's records can remove lie within lo..hi: lo its lowest record
 * (two seeks of the batch index), hi the end of its last range delivered before `before`, or its
 * highest record in a batch cut before ranges and delivered before it. `pipeline` and `before` are
 * placeholders, each written twice. A purge with nothing to remove then reads nothing, where paging
 * the whole table read every record of every pipeline (docs/benchmarks.md, machine M).
 */
export const purgeableRecords = (pipeline: string, before: string): string => `SELECT
  (SELECT min(id) FROM (SELECT min(id) AS id FROM inbox_records WHERE pipeline = ${pipeline} AND batch_id IS NULL
    UNION ALL SELECT min(id) FROM inbox_records WHERE pipeline = ${pipeline} AND batch_id IS NOT NULL) AS first) AS lo,
  (SELECT max(id) FROM (SELECT max(last_id) AS id FROM batches WHERE pipeline = ${pipeline} AND status = 'delivered' AND delivered_at < ${before}
    UNION ALL SELECT max(r.id) FROM batches b JOIN inbox_records r ON r.pipeline = b.pipeline AND r.batch_id = b.id
    WHERE b.pipeline = ${pipeline} AND b.status = 'delivered' AND b.delivered_at < ${before} AND b.last_id IS NULL) AS last) AS hi`;

/** SQL: the same bounds for the item errors of the pipeline's runs created before `before`. */
export const purgeableErrors = (pipeline: string, before: string): string =>
  `SELECT min(id) AS lo, max(id) AS hi FROM item_errors WHERE run_id IN (SELECT id FROM runs WHERE pipeline = ${pipeline} AND created_at < ${before})`;
