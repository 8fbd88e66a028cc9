/**
 * The Store conformance suite: every backend (SQLite, PostgreSQL) runs it unchanged.
 * Tests go through the public Store interface only and assert behaviour, never SQL.
 *
 *   describeStore('sqlite', async () => ({ store, reopen, cleanup }));
 *
 * The factory returns a fresh, migrated, empty store per test; `reopen()` (called after
 * `store.close()`) opens a new store on the same database, to prove durability.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import type { RunReport } from '../../src/core/report.js';
import { LadingError } from '../../src/errors/lading-error.js';
import type { AuditEntry, Batch, ChunkCommit, ChunkLease, InboxRecord, ItemErrorRecord, Store, StoredItem } from '../../src/store/types.js';
import { rejects } from '../support/errors.js';
import { purgePageSize } from '../../src/store/reports.js';

export interface StoreFixture {
  readonly store: Store;
  /** Opens another store on the same database (the first one is closed by then). */
  reopen(): Promise<Store>;
  /** Closes whatever is still open and removes the database. */
  cleanup(): Promise<void>;
}

const t0 = Date.parse('2024-03-01T09:00:00.000Z');
/** A fixed instant `minutes` after the suite's epoch: tests control time. */
const at = (minutes: number): Date => new Date(t0 + minutes * 60_000);

const bytesOf = (data: unknown): number => Buffer.byteLength(JSON.stringify(data));

async function readAll(store: Store, batchId: string, pageSize = 1000): Promise<InboxRecord[]> {
  const all: InboxRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await store.readBatch(batchId, after, pageSize);
    all.push(...page);
    if (page.length < pageSize) return all;
    after = page[page.length - 1]!.id;
  }
}

function itemError(seq: number, overrides: Partial<ItemErrorRecord> = {}): ItemErrorRecord {
  return {
    itemId: `item-${seq}`, seq, chunkIndex: 0, code: 'VALIDATE_FORMAT', errorType: 'ValidationError',
    category: 'permanent', severity: 'block', field: 'email', location: `leads.csv:${seq + 1}`,
    message: `item ${seq}: invalid email`, attempts: 1, ...overrides,
  };
}

function report(runId: string, overrides: Partial<RunReport> = {}): RunReport {
  return {
    job_id: runId, pipeline: 'partner-a', mode: 'full', status: 'completed_with_errors', batch_id: null,
    source: 'inbox', started_at: at(0).toISOString(), completed_at: at(5).toISOString(),
    summary: { total_items: 10, processed: 10, succeeded: 9, failed: 1, skipped: 0, warnings: 0, retries: 0, duration_seconds: 300, items_per_second: 0.03 },
    errors: [{ item_id: 'item-3', error_type: 'ValidationError', code: 'VALIDATE_FORMAT', message: 'invalid email', chunk_index: 0, attempts: 1 }],
    errors_truncated: 0, error_categories: { ValidationError: 1 }, warning_categories: {},
    artifacts: { files: [] }, remediation: { can_retry: true, retry_strategy: 'failed_items_only' },
    last_checkpoint: { chunk_index: 0, processed_count: 10, timestamp: at(5).toISOString() },
    ...overrides,
  };
}

export function describeStore(name: string, factory: () => Promise<StoreFixture>): void {
  describe(`Store conformance: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;
    const createRun = (id: string, createdAt: Date, pipeline = 'partner-a', batchId: string | null = null) =>
      store.createRun({ id, createdAt, batchId, pipeline, mode: 'full', source: 'inbox', config: { name: pipeline, token: '${env:TOKEN}' } });

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('inbox and batches', () => {
      test('ingested records are cut into a batch and read back in arrival order', async () => {
        const records = [1, 2, 3, 4, 5].map((n) => ({ data: { n, email: `u${n}@example.com`, name: 'Zoë ✓' } }));
        assert.deepEqual(await store.ingest('partner-a', records, at(0)), { accepted: 5, duplicates: 0 });

        const batch = await store.cutBatch('partner-a', { id: 'batch_0001', at: at(10), reason: 'record_count' });
        assert.deepEqual(batch, {
          id: 'batch_0001', pipeline: 'partner-a', records: 5,
          bytes: records.reduce((sum, r) => sum + bytesOf(r.data), 0),
          cutAt: at(10), reason: 'record_count', status: 'open',
        } satisfies Batch);

        const members = await store.readBatch('batch_0001', 0, 100);
        assert.deepEqual(members.map((m) => m.data), records.map((r) => r.data));
        assert.ok(members.every((m) => m.receivedAt.getTime() === at(0).getTime()));
        // Key order is output (CSV columns, NDJSON fields): a record comes back with its keys as sent.
        const unordered = { zeta: 1, a: 2, mid: { y: 1, b: 2 } };
        await store.ingest('keys', [{ data: unordered }], at(0));
        await store.cutBatch('keys', { id: 'batch_keys', at: at(10), reason: 'manual' });
        assert.equal(JSON.stringify((await store.readBatch('batch_keys', 0, 1))[0]?.data), JSON.stringify(unordered));
        const ids = members.map((m) => m.id);
        assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids ascend in arrival order');
      });

      test('readBatch pages by id (keyset): each page starts after the last id seen', async () => {
        await store.ingest('partner-a', Array.from({ length: 7 }, (_, n) => ({ data: { n } })), at(0));
        await store.cutBatch('partner-a', { id: 'b1', at: at(1), reason: 'manual' });
        const all = await store.readBatch('b1', 0, 100);
        const first = await store.readBatch('b1', 0, 3);
        const second = await store.readBatch('b1', first[2]!.id, 3);
        const third = await store.readBatch('b1', second[2]!.id, 3);
        assert.deepEqual([...first, ...second, ...third], all);
        assert.equal(third.length, 1);
        assert.deepEqual(await store.readBatch('b1', all[6]!.id, 3), []);
        assert.deepEqual(await store.readBatch('no-such-batch', 0, 3), []);
      });

      test('readBatchJson pages as readBatch does and gives each record\'s JSON as stored', async () => {
        const sent = '{"n": 1,\n  "note": "stored as sent"}';
        await store.ingest('partner-j', [{ json: sent }, ...Array.from({ length: 6 }, (_, n) => ({ data: { n: n + 2 } }))], at(0));
        await store.cutBatch('partner-j', { id: 'bj', at: at(1), reason: 'manual' });
        const records = await store.readBatch('bj', 0, 100);
        const first = await store.readBatchJson('bj', 0, 4);
        const rest = await store.readBatchJson('bj', first.ids.at(-1)!, 4);
        assert.deepEqual([...first.ids, ...rest.ids], records.map((r) => r.id));
        assert.deepEqual([...first.json, ...rest.json].map((text) => JSON.parse(text) as unknown), records.map((r) => r.data));
        assert.equal(first.json[0], sent);
        assert.deepEqual(await store.readBatchJson('bj', records.at(-1)!.id, 4), { ids: [], json: [] });
      });

      test('a re-sent record with the same idempotency key counts as a duplicate and is stored once', async () => {
        const first = await store.ingest('partner-a', [
          { data: { n: 1 }, key: 'k1' }, { data: { n: 2 }, key: 'k2' }, { data: { n: 3 } }, { data: { n: 1, again: true }, key: 'k1' },
        ], at(0));
        assert.deepEqual(first, { accepted: 3, duplicates: 1 });
        assert.deepEqual(await store.ingest('partner-a', [{ data: { n: 2 }, key: 'k2' }, { data: { n: 3 } }], at(1)), { accepted: 1, duplicates: 1 });
        // Keys are scoped to the pipeline.
        assert.deepEqual(await store.ingest('partner-b', [{ data: { n: 1 }, key: 'k1' }], at(1)), { accepted: 1, duplicates: 0 });

        const batch = await store.cutBatch('partner-a', { id: 'b1', at: at(2), reason: 'manual' });
        assert.equal(batch?.records, 4);
        assert.deepEqual((await store.readBatch('b1', 0, 10)).map((m) => m.data), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 3 }]);
        // A key stays taken after its record was batched: a late re-send is still a duplicate.
        assert.deepEqual(await store.ingest('partner-a', [{ data: { n: 1 }, key: 'k1' }], at(3)), { accepted: 0, duplicates: 1 });
      });

      test('each record read back carries its own commit\'s arrival time, as a Date of its own', async () => {
        await store.ingest('arrivals', [{ data: { n: 1 } }, { data: { n: 2 } }], at(0));
        await store.ingest('arrivals', [{ data: { n: 3 } }], at(7));
        await store.ingest('arrivals', [{ data: { n: 4 } }], at(0));
        const pending = await store.readPending('arrivals', 0, 10);
        await store.cutBatch('arrivals', { id: 'batch_arrivals', at: at(8), reason: 'manual' });
        for (const records of [pending, await store.readBatch('batch_arrivals', 0, 10)]) {
          assert.deepEqual(records.map((r) => [r.data.n, r.receivedAt.toISOString()]), [[1, at(0).toISOString()], [2, at(0).toISOString()], [3, at(7).toISOString()], [4, at(0).toISOString()]]);
          assert.notEqual(records[0]!.receivedAt, records[1]!.receivedAt, 'not one Date shared by records');
        }
      });

      test('ingest of nothing is a no-op', async () => {
        assert.deepEqual(await store.ingest('partner-a', [], at(0)), { accepted: 0, duplicates: 0 });
        assert.deepEqual(await store.inboxStats('partner-a'), { pending: 0, bytes: 0, oldest: null, priorities: [] });
      });

      test('cutBatch returns null when nothing is pending, and pipelines do not see each other', async () => {
        assert.equal(await store.cutBatch('partner-a', { id: 'b0', at: at(0), reason: 'age' }), null);
        await store.ingest('partner-b', [{ data: { n: 1 } }], at(0));
        assert.equal(await store.cutBatch('partner-a', { id: 'b1', at: at(1), reason: 'age' }), null);
        assert.equal(await store.openBatch('partner-a'), null);
        assert.equal((await store.cutBatch('partner-b', { id: 'b2', at: at(1), reason: 'age' }))?.records, 1);
        assert.equal(await store.cutBatch('partner-b', { id: 'b3', at: at(2), reason: 'age' }), null);
      });

      test('cutBatch takes the oldest pending records up to maxRecords; two cuts never share a record', async () => {
        await store.ingest('partner-a', Array.from({ length: 10 }, (_, n) => ({ data: { n } })), at(0));
        const b1 = await store.cutBatch('partner-a', { id: 'b1', at: at(1), reason: 'record_count', maxRecords: 4 });
        await store.ingest('partner-a', [{ data: { n: 10 } }], at(2));
        const b2 = await store.cutBatch('partner-a', { id: 'b2', at: at(3), reason: 'record_count', maxRecords: 4 });
        const b3 = await store.cutBatch('partner-a', { id: 'b3', at: at(4), reason: 'schedule' });
        assert.deepEqual([b1?.records, b2?.records, b3?.records], [4, 4, 3]);
        const ns = async (id: string) => (await store.readBatch(id, 0, 100)).map((m) => m.data.n);
        assert.deepEqual(await ns('b1'), [0, 1, 2, 3]);
        assert.deepEqual(await ns('b2'), [4, 5, 6, 7]);
        assert.deepEqual(await ns('b3'), [8, 9, 10]);
        assert.deepEqual(await store.inboxStats('partner-a'), { pending: 0, bytes: 0, oldest: null, priorities: [] });
      });

      test('property: for any ingests and cuts, every record lands in exactly one batch, cut in id order', async () => {
        type Op = { kind: 'ingest'; count: number; keyed: boolean } | { kind: 'cut'; max: number | undefined };
        const op: fc.Arbitrary<Op> = fc.oneof(
          fc.record({ kind: fc.constant('ingest' as const), count: fc.integer({ min: 0, max: 25 }), keyed: fc.boolean() }),
          fc.record({ kind: fc.constant('cut' as const), max: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }) }),
        );
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.integer({ min: 1, max: 7 }), async (ops, pageSize) => {
            const pipeline = `prop-${run++}`;
            let n = 0;
            let minute = 0;
            const ingested: number[] = [];
            const batches: Batch[] = [];
            const cut = async (max: number | undefined) => {
              const batch = await store.cutBatch(pipeline, { id: `${pipeline}-b${batches.length}`, at: at(minute++), reason: 'manual', ...(max === undefined ? {} : { maxRecords: max }) });
              if (batch !== null) batches.push(batch);
              return batch;
            };
            for (const o of ops) {
              if (o.kind === 'ingest') {
                const records = Array.from({ length: o.count }, () => {
                  const data = { n: n++ };
                  return o.keyed ? { data, key: `key-${data.n}` } : { data };
                });
                const result = await store.ingest(pipeline, records, at(minute++));
                assert.deepEqual(result, { accepted: o.count, duplicates: 0 });
                ingested.push(...records.map((r) => r.data.n));
              } else {
                const pending = (await store.inboxStats(pipeline)).pending;
                const batch = await cut(o.max);
                assert.equal(batch?.records ?? 0, Math.min(pending, o.max ?? Infinity));
              }
            }
            await cut(undefined); // drain

            const seen: number[] = [];
            let lastId = 0;
            for (const batch of batches) {
              const members = await readAll(store, batch.id, pageSize);
              assert.equal(members.length, batch.records);
              assert.ok(batch.records > 0, 'no empty batches');
              assert.equal(batch.bytes, members.reduce((sum, m) => sum + bytesOf(m.data), 0));
              for (const m of members) {
                assert.ok(m.id > lastId, 'each batch holds records newer than the previous batch, in id order');
                lastId = m.id;
                seen.push(m.data.n as number);
              }
            }
            assert.deepEqual(seen, ingested, 'every record in exactly one batch, in arrival order');
            assert.equal((await store.inboxStats(pipeline)).pending, 0);
          }),
          { numRuns: 60 },
        );
      });

      test('property: inboxStats agrees with the pending records after any ingests (duplicates, sizes, times out of order, priorities, two pipelines in one call) and cuts (maxRecords, until)', async () => {
        type Input = { key: number | undefined; size: number; priority: number | undefined };
        type Op =
          | { kind: 'ingest'; minute: number; records: Input[] }
          | { kind: 'requests'; minute: number; mine: Input[]; other: Input[] }
          | { kind: 'cut'; max: number | undefined; until: number | undefined };
        const input: fc.Arbitrary<Input> = fc.record({
          key: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
          size: fc.integer({ min: 0, max: 40 }),
          priority: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        });
        const op: fc.Arbitrary<Op> = fc.oneof(
          fc.record({ kind: fc.constant('ingest' as const), minute: fc.integer({ min: 0, max: 30 }), records: fc.array(input, { maxLength: 8 }) }),
          fc.record({ kind: fc.constant('requests' as const), minute: fc.integer({ min: 0, max: 30 }), mine: fc.array(input, { maxLength: 5 }), other: fc.array(input, { maxLength: 5 }) }),
          fc.record({ kind: fc.constant('cut' as const), max: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }), until: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }) }),
        );
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 20 }), async (ops) => {
            const pipelines = [`stats-${run}`, `stats-${run}-other`];
            run++;
            // The model: each pipeline's pending records in id order, and the keys it has stored.
            const pending = new Map(pipelines.map((p) => [p, [] as { bytes: number; minute: number; priority: number | undefined }[]]));
            const keys = new Map(pipelines.map((p) => [p, new Set<number>()]));
            let n = 0;
            const records = (list: Input[]) => list.map((r) => ({
              data: { n: n++, pad: 'x'.repeat(r.size) }, ...(r.key === undefined ? {} : { key: `k${r.key}` }), ...(r.priority === undefined ? {} : { priority: r.priority }),
            }));
            const model = (pipeline: string, list: ReturnType<typeof records>, minute: number) => {
              for (const r of list) {
                if (r.key !== undefined) {
                  if (keys.get(pipeline)!.has(Number(r.key.slice(1)))) continue;
                  keys.get(pipeline)!.add(Number(r.key.slice(1)));
                }
                pending.get(pipeline)!.push({ bytes: bytesOf(r.data), minute, priority: r.priority });
              }
            };
            let batches = 0;
            for (const o of ops) {
              if (o.kind === 'ingest') {
                const list = records(o.records);
                await store.ingest(pipelines[0]!, list, at(o.minute));
                model(pipelines[0]!, list, o.minute);
              } else if (o.kind === 'requests') {
                const mine = records(o.mine);
                const other = records(o.other);
                await store.ingestRequests([{ pipeline: pipelines[0]!, records: mine }, { pipeline: pipelines[1]!, records: other }], at(o.minute));
                model(pipelines[0]!, mine, o.minute);
                model(pipelines[1]!, other, o.minute);
              } else {
                const batch = await store.cutBatch(pipelines[0]!, {
                  id: `${pipelines[0]}-b${batches++}`, at: at(40), reason: 'manual',
                  ...(o.max === undefined ? {} : { maxRecords: o.max }), ...(o.until === undefined ? {} : { until: at(o.until) }),
                });
                // The cut takes pending records in id order up to max, stopping at the first received after `until`.
                const list = pending.get(pipelines[0]!)!;
                let take = 0;
                while (take < list.length && take < (o.max ?? Infinity) && (o.until === undefined || list[take]!.minute <= o.until)) take++;
                assert.equal(batch?.records ?? 0, take);
                list.splice(0, take);
              }
              for (const pipeline of pipelines) {
                const list = pending.get(pipeline)!;
                const counts = new Map<number, number>();
                for (const r of list) if (r.priority !== undefined) counts.set(r.priority, (counts.get(r.priority) ?? 0) + 1);
                assert.deepEqual(await store.inboxStats(pipeline), {
                  pending: list.length,
                  bytes: list.reduce((sum, r) => sum + r.bytes, 0),
                  oldest: list.length === 0 ? null : at(Math.min(...list.map((r) => r.minute))),
                  priorities: [...counts].sort(([a], [b]) => b - a).map(([priority, count]) => ({ priority, count })),
                }, `${pipeline} after ${JSON.stringify(o)}`);
              }
            }
          }),
          { numRuns: 40 },
        );
      });

      test('openBatch resumes the oldest undelivered batch until completeBatch marks it delivered', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 } }, { data: { n: 2 } }], at(0));
        const b1 = await store.cutBatch('partner-a', { id: 'b1', at: at(1), reason: 'manual', maxRecords: 1 });
        const b2 = await store.cutBatch('partner-a', { id: 'b2', at: at(2), reason: 'manual', maxRecords: 1 });
        assert.deepEqual(await store.openBatch('partner-a'), b1);
        assert.equal(await store.openBatch('partner-b'), null);

        await createRun('run_1', at(3), 'partner-a', 'b1');
        await store.completeBatch('b1', 'run_1', at(4));
        assert.deepEqual(await store.openBatch('partner-a'), b2);
        // Completing again changes nothing; the batch's members stay readable.
        await store.completeBatch('b1', 'run_1', at(5));
        assert.deepEqual((await store.readBatch('b1', 0, 10)).map((m) => m.data), [{ n: 1 }]);

        await createRun('run_2', at(5), 'partner-a', 'b2');
        await store.completeBatch('b2', 'run_2', at(6));
        assert.equal(await store.openBatch('partner-a'), null);
      });

      test('inboxStats counts pending records, their bytes, the oldest arrival and the priorities', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 }, priority: 1 }], at(5));
        await store.ingest('partner-a', [{ data: { n: 2 }, priority: 5 }, { data: { n: 3 } }, { data: { n: 4 }, priority: 5 }], at(7));
        await store.ingest('partner-b', [{ data: { n: 5 } }], at(1));
        assert.deepEqual(await store.inboxStats('partner-a'), {
          pending: 4, bytes: 4 * bytesOf({ n: 1 }), oldest: at(5), priorities: [{ priority: 5, count: 2 }, { priority: 1, count: 1 }],
        });
        await store.cutBatch('partner-a', { id: 'b1', at: at(8), reason: 'manual', maxRecords: 1 });
        assert.deepEqual(await store.inboxStats('partner-a'), {
          pending: 3, bytes: 3 * bytesOf({ n: 1 }), oldest: at(7), priorities: [{ priority: 5, count: 2 }],
        });
        assert.deepEqual(await store.inboxStats('nobody'), { pending: 0, bytes: 0, oldest: null, priorities: [] });
      });
    });

    describe('schedule fires', () => {
      test('cutBatch with until takes only records received at or before it, and keeps its reason', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 } }], at(1));
        await store.ingest('partner-a', [{ data: { n: 2 } }], at(2));
        await store.ingest('partner-a', [{ data: { n: 3 } }], at(3));
        const early = await store.cutBatch('partner-a', { id: 'b1', at: at(10), reason: 'schedule', until: at(2) });
        assert.equal(early?.records, 2);
        assert.equal(early?.reason, 'schedule');
        assert.deepEqual((await store.readBatch('b1', 0, 10)).map((r) => r.data), [{ n: 1 }, { n: 2 }]);
        assert.equal(await store.cutBatch('partner-a', { id: 'b2', at: at(10), reason: 'schedule', until: at(2) }), null);
        assert.equal((await store.cutBatch('partner-a', { id: 'b3', at: at(10), reason: 'count' }))?.records, 1);
      });

      test('a cut with until stops at the first pending record received after it: a batch is a run of records in id order', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 } }], at(1));
        await store.ingest('partner-a', [{ data: { n: 2 } }], at(3));
        await store.ingest('partner-a', [{ data: { n: 3 } }], at(2)); // stored after n: 2, with an earlier time
        const early = await store.cutBatch('partner-a', { id: 'b1', at: at(10), reason: 'schedule', until: at(2) });
        assert.deepEqual((await store.readBatch(early!.id, 0, 10)).map((r) => r.data), [{ n: 1 }]);
        assert.equal((await store.inboxStats('partner-a')).pending, 2, 'n: 3 waits for the next cut, behind n: 2');
        const rest = await store.cutBatch('partner-a', { id: 'b2', at: at(10), reason: 'count' });
        assert.deepEqual((await store.readBatch(rest!.id, 0, 10)).map((r) => r.data), [{ n: 2 }, { n: 3 }]);
      });

      test('a cut records its schedule fire in the same transaction, even when nothing is pending', async () => {
        assert.equal(await store.lastFire('partner-a', 'daily'), null);
        assert.equal(await store.cutBatch('partner-a', { id: 'b1', at: at(5), reason: 'schedule', fire: { trigger: 'daily', at: at(4) } }), null);
        assert.deepEqual(await store.lastFire('partner-a', 'daily'), at(4));
        await store.ingest('partner-a', [{ data: { n: 1 } }], at(6));
        const batch = await store.cutBatch('partner-a', { id: 'b2', at: at(9), reason: 'schedule', fire: { trigger: 'daily', at: at(8) } });
        assert.equal(batch?.records, 1);
        assert.deepEqual(await store.lastFire('partner-a', 'daily'), at(8));
        assert.equal(await store.lastFire('partner-b', 'daily'), null);
      });

      test('recordFire keeps the latest fire per pipeline and trigger; it never moves back', async () => {
        await store.recordFire('partner-a', 'daily', at(10));
        await store.recordFire('partner-a', 'hourly', at(3));
        await store.recordFire('partner-a', 'daily', at(7));
        assert.deepEqual(await store.lastFire('partner-a', 'daily'), at(10));
        assert.deepEqual(await store.lastFire('partner-a', 'hourly'), at(3));
        await store.recordFire('partner-a', 'daily', at(12));
        const reopened = await (async () => {
          await store.close();
          return fixture.reopen();
        })();
        assert.deepEqual(await reopened.lastFire('partner-a', 'daily'), at(12));
      });
    });

    describe('runs', () => {
      test('createRun stores a running run; getRun returns it, or null for an unknown id', async () => {
        const created = await createRun('run_1', at(0), 'partner-a', 'b1');
        const expected = {
          id: 'run_1', pipeline: 'partner-a', mode: 'full', status: 'running', batchId: 'b1', source: 'inbox',
          createdAt: at(0), completedAt: null, processed: 0, succeeded: 0, failed: 0, warnings: 0,
          config: { name: 'partner-a', token: '${env:TOKEN}' }, report: null, lastCheckpoint: null,
          parentRunId: null, baseDir: null, lineage: 'run_1', owner: null, submittedBy: null, heartbeatAt: at(0), control: null,
        };
        assert.deepEqual(created, expected);
        assert.deepEqual(await store.getRun('run_1'), expected);
        assert.equal(await store.getRun('run_missing'), null);
      });

      test('commitChunk accumulates counters and moves the checkpoint', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 0, lastSeq: 100, processed: 100, succeeded: 98, failed: 2, warnings: 1, errors: [], at: at(1) });
        await store.commitChunk('run_1', { index: 1, lastSeq: 200, processed: 100, succeeded: 100, failed: 0, warnings: 3, errors: [], at: at(2) });
        const run = await store.getRun('run_1');
        assert.deepEqual(
          { processed: run?.processed, succeeded: run?.succeeded, failed: run?.failed, warnings: run?.warnings },
          { processed: 200, succeeded: 198, failed: 2, warnings: 4 },
        );
        assert.deepEqual(run?.lastCheckpoint, { chunkIndex: 1, seq: 200, processed: 200, at: at(2) });
        assert.equal(run?.status, 'running');
      });

      test('a chunk commit that need not be durable counts like any other', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 0, lastSeq: 100, processed: 100, succeeded: 100, failed: 0, warnings: 0, errors: [], at: at(1), durable: false });
        await store.commitChunk('run_1', { index: 1, lastSeq: 150, processed: 50, succeeded: 49, failed: 1, warnings: 0, errors: [], at: at(2), durable: false });
        const run = await store.getRun('run_1');
        assert.deepEqual({ processed: run?.processed, failed: run?.failed }, { processed: 150, failed: 1 });
        assert.deepEqual(run?.lastCheckpoint, { chunkIndex: 1, seq: 150, processed: 150, at: at(2) });
      });

      test('commitChunks records several chunks in one transaction as commitChunk would one by one, or none of them', async () => {
        await createRun('run_1', at(0));
        await store.commitChunks('run_1', [
          { index: 0, lastSeq: 10, processed: 10, succeeded: 9, failed: 1, warnings: 0, errors: [itemError(3)], at: at(1) },
          { index: 2, lastSeq: 30, processed: 10, succeeded: 10, failed: 0, warnings: 2, errors: [], at: at(1), durable: false },
          { index: 1, lastSeq: 20, processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(1) },
        ]);
        const run = await store.getRun('run_1');
        assert.deepEqual([run?.processed, run?.succeeded, run?.failed, run?.warnings], [30, 29, 1, 2]);
        // Chunk 2 went before chunk 1, as under concurrency: its checkpoint counts what was committed by then.
        assert.deepEqual(run?.lastCheckpoint, { chunkIndex: 2, seq: 30, processed: 20, at: at(1) });
        assert.deepEqual((await store.listChunks('run_1')).map((c) => c.index), [0, 1, 2]);
        assert.deepEqual((await store.listItemErrors('run_1')).map((e) => e.seq), [3]);
        // The second cannot be written (its error's payload is not JSON): the first is not kept either.
        await assert.rejects(store.commitChunks('run_1', [
          { index: 3, lastSeq: 40, processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(2) },
          { index: 4, lastSeq: 50, processed: 10, succeeded: 9, failed: 1, warnings: 0, errors: [itemError(45, { payload: { n: 1n } })], at: at(2) },
        ]));
        assert.deepEqual((await store.getRun('run_1'))?.processed, 30);
        assert.deepEqual((await store.listChunks('run_1')).map((c) => c.index), [0, 1, 2]);
        await store.commitChunks('run_1', []);
        assert.deepEqual((await store.getRun('run_1'))?.lastCheckpoint?.chunkIndex, 2);
      });

      test('committing the same chunk again replaces it instead of counting it twice', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 0, lastSeq: 10, processed: 10, succeeded: 9, failed: 1, warnings: 0, errors: [itemError(3)], at: at(1) });
        await store.commitChunk('run_1', { index: 0, lastSeq: 10, processed: 10, succeeded: 8, failed: 2, warnings: 0, errors: [itemError(3), itemError(4)], at: at(2) });
        const run = await store.getRun('run_1');
        assert.deepEqual([run?.processed, run?.succeeded, run?.failed], [10, 8, 2]);
        assert.deepEqual((await store.listItemErrors('run_1')).map((e) => e.seq), [3, 4]);
        assert.deepEqual(run?.lastCheckpoint, { chunkIndex: 0, seq: 10, processed: 10, at: at(2) });
      });

      test('item errors are listed in seq order, filtered by severity, paged, and counted by type', async () => {
        await createRun('run_1', at(0));
        await createRun('run_2', at(0));
        const warn = (seq: number): ItemErrorRecord =>
          itemError(seq, { code: 'VALIDATE_PATTERN', field: 'state', severity: 'warn', message: `item ${seq}: bad state` });
        // Chunk 1 commits before chunk 0 (concurrency): listing is still in seq order.
        await store.commitChunk('run_1', {
          index: 1, lastSeq: 20, processed: 10, succeeded: 9, failed: 1, warnings: 1, at: at(1),
          errors: [itemError(14, { chunkIndex: 1, errorType: 'NetworkError', code: 'NETWORK_FAILED', category: 'transient', attempts: 3, field: null, location: null }), warn(12)],
        });
        await store.commitChunk('run_1', {
          index: 0, lastSeq: 10, processed: 10, succeeded: 8, failed: 2, warnings: 1, at: at(2),
          errors: [itemError(2), warn(5), itemError(7)],
        });
        await store.commitChunk('run_2', { index: 0, lastSeq: 1, processed: 1, succeeded: 0, failed: 1, warnings: 0, at: at(2), errors: [itemError(1)] });

        const all = await store.listItemErrors('run_1');
        assert.deepEqual(all.map((e) => [e.seq, e.severity]), [[2, 'block'], [5, 'warn'], [7, 'block'], [12, 'warn'], [14, 'block']]);
        assert.deepEqual(all[4], {
          itemId: 'item-14', seq: 14, chunkIndex: 1, code: 'NETWORK_FAILED', errorType: 'NetworkError', category: 'transient',
          severity: 'block', field: null, location: null, message: 'item 14: invalid email', attempts: 3,
        } satisfies ItemErrorRecord);
        assert.deepEqual(all[0], itemError(2));
        assert.deepEqual((await store.listItemErrors('run_1', { severity: 'block' })).map((e) => e.seq), [2, 7, 14]);
        assert.deepEqual((await store.listItemErrors('run_1', { severity: 'warn' })).map((e) => e.seq), [5, 12]);
        assert.deepEqual((await store.listItemErrors('run_1', { limit: 2, offset: 1 })).map((e) => e.seq), [5, 7]);
        assert.deepEqual((await store.listItemErrors('run_1', { severity: 'block', limit: 1, offset: 1 })).map((e) => e.seq), [7]);
        assert.deepEqual(await store.errorCategories('run_1'), { failed: { ValidationError: 2, NetworkError: 1 }, warnings: { ValidationError: 2 } });
        assert.deepEqual(await store.errorCategories('run_2'), { failed: { ValidationError: 1 }, warnings: {} });
        assert.deepEqual(await store.listItemErrors('run_none'), []);
        assert.deepEqual(await store.errorCategories('run_none'), { failed: {}, warnings: {} });
        // The checkpoint never moves back to a lower seq.
        assert.deepEqual((await store.getRun('run_1'))?.lastCheckpoint, { chunkIndex: 1, seq: 20, processed: 10, at: at(1) });
      });

      test('errors without a seq (run-level) list after the items', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', {
          index: 0, lastSeq: 3, processed: 3, succeeded: 1, failed: 2, warnings: 0, at: at(1),
          errors: [itemError(0, { seq: null, itemId: null, chunkIndex: null }), itemError(2)],
        });
        assert.deepEqual((await store.listItemErrors('run_1')).map((e) => e.seq), [2, null]);
      });

      test('commitChunk and finishRun on an unknown run fail with STORE_RUN_NOT_FOUND and change nothing', async () => {
        await rejects(
          store.commitChunk('run_missing', { index: 0, lastSeq: 1, processed: 1, succeeded: 0, failed: 1, warnings: 0, errors: [itemError(1)], at: at(1) }),
          'STORE_RUN_NOT_FOUND',
        );
        await rejects(store.finishRun('run_missing', report('run_missing')), 'STORE_RUN_NOT_FOUND');
        assert.deepEqual(await store.listItemErrors('run_missing'), []);
        assert.deepEqual(await store.listRuns(), []);
      });

      test('finishRun stores status, completion time and the report', async () => {
        await createRun('run_1', at(0));
        const final = report('run_1');
        await store.finishRun('run_1', final);
        const run = await store.getRun('run_1');
        assert.equal(run?.status, 'completed_with_errors');
        assert.deepEqual(run?.completedAt, at(5));
        assert.deepEqual(run?.report, final);
      });

      test('listRuns returns newest first, filters by pipeline, and defaults to 20', async () => {
        for (let i = 0; i < 25; i++) await createRun(`run_${String(i).padStart(2, '0')}`, at(i), i % 2 === 0 ? 'even' : 'odd');
        await createRun('run_tie_a', at(24), 'even');
        const all = await store.listRuns();
        assert.equal(all.length, 20);
        assert.deepEqual(all.slice(0, 3).map((r) => r.id), ['run_tie_a', 'run_24', 'run_23'], 'created_at desc, then id desc');
        const odd = await store.listRuns({ pipeline: 'odd', limit: 3 });
        assert.deepEqual(odd.map((r) => r.id), ['run_23', 'run_21', 'run_19']);
        assert.equal((await store.listRuns({ limit: 100 })).length, 26);
        assert.deepEqual(await store.listRuns({ pipeline: 'nobody' }), []);
      });
    });

    describe('liveness, control and dead letters', () => {
      test('heartbeat records liveness and hands back control asked by another process', async () => {
        await createRun('run_1', at(0));
        assert.deepEqual(await store.heartbeat('run_1', 'host:1', at(1)), { control: null });
        assert.equal(await store.setControl('run_1', 'pause'), true);
        assert.deepEqual(await store.heartbeat('run_1', 'host:1', at(2)), { control: 'pause' });
        const run = await store.getRun('run_1');
        assert.deepEqual([run?.owner, run?.heartbeatAt, run?.control], ['host:1', at(2), 'pause']);
        await store.finishRun('run_1', report('run_1'));
        assert.equal(await store.setControl('run_1', 'cancel'), false, 'a finished run takes no control');
      });

      test('reopenRun takes a stopped run back to running under a new owner, keeping its counters', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 0, lastSeq: 10, processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(1) });
        await store.finishRun('run_1', report('run_1', { status: 'cancelled' }));
        const reopened = await store.reopenRun('run_1', 'host:2', at(3));
        assert.deepEqual([reopened.status, reopened.report, reopened.owner, reopened.processed, reopened.lastCheckpoint?.seq], ['running', null, 'host:2', 10, 10]);
        await assert.rejects(store.reopenRun('run_missing', 'h', at(3)), (e: unknown) => (e as { code?: string }).code === 'STORE_RUN_NOT_FOUND');
      });

      test('the checkpoint keeps a seekable source\'s position with the highest committed seq', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 1, lastSeq: 20, lastPosition: '"k20"', processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(2) });
        await store.commitChunk('run_1', { index: 0, lastSeq: 10, lastPosition: '"k10"', processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(1) });
        assert.deepEqual((await store.getRun('run_1'))?.lastCheckpoint, { chunkIndex: 1, seq: 20, processed: 10, at: at(2), position: '"k20"' });
      });

      test('known hosts: the first key seen for a host is kept; a later one does not replace it', async () => {
        assert.equal(await store.knownHost('sftp.example:22'), null);
        const first = { host: 'sftp.example:22', keyType: 'ssh-ed25519', fingerprint: 'SHA256:aaa', firstSeen: at(1) };
        assert.deepEqual(await store.rememberHost(first), first);
        assert.deepEqual(await store.rememberHost({ ...first, fingerprint: 'SHA256:bbb', firstSeen: at(2) }), first);
        assert.deepEqual(await store.knownHost('sftp.example:22'), first);
      });

      test('deliveries: suspended with the first reason kept, resumed once; alerts listed newest first', async () => {
        assert.deepEqual(await store.deliveryState('p'), { pipeline: 'p', suspendedAt: null, code: null, reason: null, failures: 0, breakerOpenedAt: null });
        await store.suspendDeliveries('p', { code: 'DEST_AUTH_FAILED', reason: 'login refused', at: at(1) });
        await store.suspendDeliveries('p', { code: 'DEST_PERMISSION_DENIED', reason: 'later', at: at(2) });
        assert.deepEqual(await store.deliveryState('p'), { pipeline: 'p', suspendedAt: at(1), code: 'DEST_AUTH_FAILED', reason: 'login refused', failures: 0, breakerOpenedAt: null });
        assert.equal(await store.resumeDeliveries('p'), true);
        assert.equal(await store.resumeDeliveries('p'), false);
        assert.equal((await store.deliveryState('p')).suspendedAt, null);
        await store.recordAlert({ pipeline: 'p', runId: 'r1', kind: 'deliveries_suspended', code: 'DEST_AUTH_FAILED', message: 'm1', at: at(1) });
        await store.recordAlert({ pipeline: 'p', runId: null, kind: 'deliveries_resumed', code: null, message: 'm2', at: at(3) });
        await store.recordAlert({ pipeline: 'q', runId: null, kind: 'deliveries_resumed', code: null, message: 'm3', at: at(4) });
        assert.deepEqual((await store.listAlerts({ pipeline: 'p' })).map((a) => a.message), ['m2', 'm1']);
      });

      test('a retry run links to its parent and inherits its lineage', async () => {
        await createRun('run_1', at(0));
        await store.createRun({ id: 'run_2', createdAt: at(1), batchId: null, pipeline: 'partner-a', mode: 'full', source: 'dead letters', config: {}, parentRunId: 'run_1' });
        await store.createRun({ id: 'run_3', createdAt: at(2), batchId: null, pipeline: 'partner-a', mode: 'full', source: 'dead letters', config: {}, parentRunId: 'run_2' });
        const run3 = await store.getRun('run_3');
        assert.deepEqual([run3?.parentRunId, run3?.lineage], ['run_2', 'run_1']);
      });

      test('failures are dead letters with payload and history; filters and marking', async () => {
        await createRun('run_1', at(0));
        const history = [{ attempt: 1, code: 'SINK_X', message: 'boom', at: at(1).toISOString() }];
        await store.commitChunk('run_1', {
          index: 0, lastSeq: 3, processed: 3, succeeded: 0, failed: 2, warnings: 1, at: at(1),
          errors: [
            itemError(1, { payload: { email: 'a@' } }),
            itemError(2, { code: 'SINK_X', errorType: 'NetworkError', category: 'transient', attempts: 3, payload: { n: 2 }, history }),
            itemError(3, { severity: 'warn' }),
          ],
        });
        const all = await store.listDeadLetters({ runId: 'run_1' });
        assert.deepEqual(all.map((d) => [d.itemId, d.status, d.pipeline]), [['item-1', 'dead', 'partner-a'], ['item-2', 'dead', 'partner-a']]);
        assert.deepEqual(all[0]?.payload, { email: 'a@' });
        assert.deepEqual(all[1]?.history, history);
        assert.deepEqual((await store.listDeadLetters({ errorType: 'NetworkError' })).map((d) => d.itemId), ['item-2']);
        assert.deepEqual((await store.listDeadLetters({ errorType: 'SINK_X' })).map((d) => d.itemId), ['item-2']);
        assert.equal(await store.markDeadLetters({ runId: 'run_1', itemId: 'item-1' }, 'skipped'), 1);
        assert.equal(await store.markDeadLetters({ runId: 'run_1', itemId: 'item-1' }, 'retried'), 0, 'only dead letters are marked');
        assert.deepEqual((await store.listDeadLetters({ runId: 'run_1', status: 'dead' })).map((d) => d.itemId), ['item-2']);
      });
    });

    describe('deliveries', () => {
      test('files are listed by part then name; recording a file again updates it', async () => {
        await createRun('run_1', at(0));
        const file = (name: string, part: number) => ({
          name, part, bytes: 100 * part, records: 10 * part, sha256: `sha-${name}`, uri: `sftp://partner/${name}`,
          destination: 'sftp', deliveredAt: at(part),
        });
        await store.recordFile('run_1', file('b.csv.gz', 2));
        await store.recordFile('run_1', file('z.csv.gz', 1));
        await store.recordFile('run_1', file('a.csv.gz', 2));
        await store.recordFile('run_1', { ...file('z.csv.gz', 1), bytes: 7, sha256: 'sha-retry' });
        const files = await store.listFiles('run_1');
        assert.deepEqual(files.map((f) => f.name), ['z.csv.gz', 'a.csv.gz', 'b.csv.gz']);
        assert.deepEqual(files[0], { name: 'z.csv.gz', bytes: 7, records: 10, sha256: 'sha-retry', uri: 'sftp://partner/z.csv.gz', part: 1 });
        assert.deepEqual(await store.listFiles('run_other'), []);
      });
    });

    describe('delivery states', () => {
      const spec = (part: string, name: string, runId = 'run_1', id = `dlv_${runId}_${part}`) =>
        ({ id, pipeline: 'partner-a', batchId: 'batch_1', part, destination: 'local:/out', runId, name, at: at(0) });

      test('a delivery opens sealed, walks its steps, and a later run gets the first run\'s name back', async () => {
        const opened = await store.openDelivery(spec('1', 'leads_0900_batch_1_001.csv'));
        assert.equal(opened.state, 'sealed');
        assert.equal(await store.advanceDelivery(opened.id, 'rendered', at(1), { bytes: 10, records: 2, sha256: 'sha-a', stagedPath: '/data/staging/run_1/part-1' }), true);
        await store.advanceDelivery(opened.id, 'uploading', at(2), { tempName: 'leads_0900_batch_1_001.csv.tmp' });
        const again = await store.openDelivery(spec('1', 'leads_1000_batch_1_001.csv', 'run_2'));
        assert.equal(again.id, opened.id);
        assert.equal(again.name, 'leads_0900_batch_1_001.csv', 'the part keeps its first name');
        assert.equal(again.state, 'uploading');
        assert.equal(again.tempName, 'leads_0900_batch_1_001.csv.tmp');
        assert.equal(again.runId, 'run_1');
        await store.advanceDelivery(opened.id, 'published', at(3), { runId: 'run_2', tempName: null, uri: 'file:///out/x', attempts: 2 });
        await store.advanceDelivery(opened.id, 'verified', at(3));
        const done = await store.getDelivery(opened.id);
        assert.deepEqual(
          { state: done?.state, runId: done?.runId, tempName: done?.tempName, bytes: done?.bytes, sha256: done?.sha256, attempts: done?.attempts, uri: done?.uri },
          { state: 'verified', runId: 'run_2', tempName: null, bytes: 10, sha256: 'sha-a', attempts: 2, uri: 'file:///out/x' },
        );
        assert.deepEqual((await store.deliverySteps(opened.id)).map((s) => s.state), ['sealed', 'rendered', 'uploading', 'published', 'verified']);
        assert.equal(await store.advanceDelivery('dlv_unknown', 'failed', at(4)), false);
        assert.equal(await store.getDelivery('dlv_unknown'), null);
      });

      test('a step taken once: it says how, and is not taken when the delivery is no longer in the expected state or code', async () => {
        const d = await store.openDelivery(spec('1', 'a.csv'));
        await store.advanceDelivery(d.id, 'verified', at(1));
        const timedOut = { expect: { state: 'verified', code: null }, detail: 'ack_timeout' } as const;
        assert.equal(await store.advanceDelivery(d.id, 'verified', at(2), { code: 'DEST_ACK_TIMEOUT' }, timedOut), true);
        assert.equal(await store.advanceDelivery(d.id, 'verified', at(3), { code: 'DEST_ACK_TIMEOUT' }, timedOut), false, 'a second checker finds the code set');
        assert.equal(await store.advanceDelivery(d.id, 'acknowledged', at(4), { code: null }, { expect: { state: 'verified' }, detail: 'ack_file a.csv.ack' }), true);
        assert.equal(await store.advanceDelivery(d.id, 'acknowledged', at(5), {}, { expect: { state: 'verified' }, detail: 'file_removed' }), false);
        assert.deepEqual((await store.deliverySteps(d.id)).map((s) => [s.state, s.detail]), [
          ['sealed', null], ['verified', null], ['verified', 'ack_timeout'], ['acknowledged', 'ack_file a.csv.ack'],
        ]);
        const done = await store.getDelivery(d.id);
        assert.deepEqual([done?.state, done?.code], ['acknowledged', null]);
      });

      test('deliveries are listed newest first and filtered by pipeline, run, batch and state', async () => {
        const a = await store.openDelivery(spec('1', 'a.csv'));
        const b = await store.openDelivery({ ...spec('2', 'b.csv'), at: at(1) });
        await store.openDelivery({ ...spec('1', 'c.csv', 'run_9'), pipeline: 'other', at: at(2) });
        await store.advanceDelivery(a.id, 'failed', at(3), { code: 'DEST_WRITE_FAILED', reason: 'disk full' });
        assert.deepEqual((await store.listDeliveries({ pipeline: 'partner-a' })).map((d) => d.name), ['b.csv', 'a.csv']);
        assert.deepEqual((await store.listDeliveries({ states: ['failed'] })).map((d) => [d.id, d.code, d.reason]), [[a.id, 'DEST_WRITE_FAILED', 'disk full']]);
        assert.deepEqual((await store.listDeliveries({ runId: 'run_1', batchId: 'batch_1', states: ['sealed', 'failed'] })).map((d) => d.id), [b.id, a.id]);
        assert.equal((await store.listDeliveries()).length, 3);
        assert.equal((await store.listDeliveries({ limit: 1 })).length, 1);
      });

      test('the circuit breaker opens at the threshold-th consecutive failure and a success closes it', async () => {
        const fail = (minute: number) => store.recordDeliveryOutcome('partner-a', { ok: false, threshold: 2, at: at(minute) });
        const first = await fail(1);
        assert.deepEqual([first.failures, first.breakerOpenedAt], [1, null]);
        const second = await fail(2);
        assert.deepEqual([second.failures, second.breakerOpenedAt], [2, at(2)]);
        const reopened = await fail(5);
        assert.deepEqual([reopened.failures, reopened.breakerOpenedAt], [3, at(5)], 'a failed canary opens it again from now');
        assert.equal((await store.deliveryState('partner-a')).failures, 3);
        const closed = await store.recordDeliveryOutcome('partner-a', { ok: true, threshold: 2, at: at(6) });
        assert.deepEqual([closed.failures, closed.breakerOpenedAt], [0, null]);
        assert.deepEqual([(await store.deliveryState('fresh')).failures, (await store.deliveryState('fresh')).breakerOpenedAt], [0, null]);
        await store.suspendDeliveries('partner-a', { code: 'DEST_AUTH_FAILED', reason: 'bad password', at: at(7) });
        await fail(8);
        assert.equal((await store.deliveryState('partner-a')).code, 'DEST_AUTH_FAILED', 'breaker counts leave the suspension alone');
      });
    });

    describe('notify state', () => {
      test('a rule counts breaches in a row from its first breach; clearing returns what it was, once', async () => {
        assert.equal(await store.clearRule('p', 'batch_failed'), null);
        assert.deepEqual(await store.breachRule('p', 'batch_failed', at(1)), { pipeline: 'p', rule: 'batch_failed', breachedAt: at(1), consecutive: 1 });
        assert.deepEqual(await store.breachRule('p', 'batch_failed', at(2)), { pipeline: 'p', rule: 'batch_failed', breachedAt: at(1), consecutive: 2 });
        assert.equal((await store.breachRule('q', 'batch_failed', at(2))).consecutive, 1, 'pipelines are apart');
        assert.equal((await store.breachRule('p', 'slow_run', at(2))).consecutive, 1, 'rules are apart');
        assert.deepEqual(await store.clearRule('p', 'batch_failed'), { pipeline: 'p', rule: 'batch_failed', breachedAt: at(1), consecutive: 2 });
        assert.equal(await store.clearRule('p', 'batch_failed'), null);
        assert.deepEqual(await store.breachRule('p', 'batch_failed', at(5)), { pipeline: 'p', rule: 'batch_failed', breachedAt: at(5), consecutive: 1 });
      });

      test('an alert is claimed once per interval per channel; a recovery once per alert sent', async () => {
        const key = { pipeline: 'p', rule: 'batch_failed', channel: 'email:ops@example.com' };
        const interval = 15 * 60_000;
        assert.equal(await store.claimRecovery(key), false, 'no alert went out yet');
        assert.equal(await store.claimAlert(key, at(0), interval), true);
        assert.equal(await store.claimAlert(key, at(14), interval), false);
        assert.equal(await store.claimAlert({ ...key, channel: 'slack:0' }, at(14), interval), true, 'another channel has its own interval');
        assert.equal(await store.claimAlert(key, at(15), interval), true);
        assert.equal(await store.claimRecovery(key), true);
        assert.equal(await store.claimRecovery(key), false);
        assert.equal(await store.claimAlert(key, at(20), interval), false, 'a recovery does not reset the interval');
      });

      test('concurrent claims of the same alert: exactly one wins', async () => {
        const key = { pipeline: 'p', rule: 'low_volume', channel: 'webhook:x' };
        const wins = await Promise.all(Array.from({ length: 5 }, () => store.claimAlert(key, at(1), 60_000)));
        assert.equal(wins.filter(Boolean).length, 1);
      });

      test('notifications are listed newest first, filtered by pipeline', async () => {
        const n = { runId: 'r1', event: 'alert', rule: 'batch_failed', channel: 'email', target: 'ops@example.com', status: 'sent', code: null, message: 'run failed' } as const;
        await store.recordNotification({ ...n, pipeline: 'p', at: at(1) });
        await store.recordNotification({ ...n, pipeline: 'p', event: 'recovery', status: 'failed', code: 'NOTIFY_UNAVAILABLE', at: at(2) });
        await store.recordNotification({ ...n, pipeline: 'q', runId: null, rule: null, event: 'success', at: at(3) });
        assert.deepEqual(await store.listNotifications({ pipeline: 'p' }), [
          { ...n, pipeline: 'p', event: 'recovery', status: 'failed', code: 'NOTIFY_UNAVAILABLE', at: at(2) },
          { ...n, pipeline: 'p', at: at(1) },
        ]);
        assert.deepEqual((await store.listNotifications({ limit: 1 })).map((x) => x.pipeline), ['q']);
      });
    });

    describe('work distribution: queued jobs, chunk leases, fencing', () => {
      const items = (from: number, n: number): StoredItem[] =>
        Array.from({ length: n }, (_, i) => ({ id: `inline:${from + i}`, seq: from + i + 1, data: { n: from + i } }));
      const enqueue = (id: string, createdAt: Date, opts: { priority?: number; chunks?: StoredItem[][] } = {}) =>
        store.enqueueJob({
          id, createdAt, batchId: null, pipeline: 'sync', mode: 'full', source: 'inline', config: { name: 'sync' },
          priority: opts.priority ?? 0, kind: 'chunks', chunks: opts.chunks ?? [items(0, 2), items(2, 2), items(4, 1)],
        });
      const commitOf = (lease: ChunkLease, at: Date): ChunkCommit => {
        const chunk = lease.items!;
        return { index: lease.index, lastSeq: chunk.at(-1)!.seq, processed: chunk.length, succeeded: chunk.length, failed: 0, warnings: 0, errors: [], at };
      };

      test('a queued job waits in status queued; its chunks are claimed in order, each with its items and a fresh token', async () => {
        const run = await enqueue('run_q', at(0));
        assert.equal(run.status, 'queued');
        const first = await store.claimChunk('w1', 30_000, at(1));
        assert.ok(first);
        assert.equal(first.runId, 'run_q');
        assert.equal(first.index, 0);
        assert.equal(first.workerId, 'w1');
        assert.equal(first.attempts, 1);
        assert.equal(first.takenOverFrom, null);
        assert.equal(first.total, 5);
        assert.deepEqual(first.expiresAt, new Date(at(1).getTime() + 30_000));
        assert.deepEqual(first.items, items(0, 2));
        assert.equal((await store.getRun('run_q'))?.status, 'running');
        const second = await store.claimChunk('w2', 30_000, at(1));
        const third = await store.claimChunk('w1', 30_000, at(1));
        assert.deepEqual([second?.index, third?.index], [1, 2]);
        assert.equal(new Set([first.token, second?.token, third?.token]).size, 3);
        assert.equal(await store.claimChunk('w3', 30_000, at(1)), null, 'every chunk is leased');
      });

      test('a queued job is cancelled with its report and its chunks dropped; once a worker claimed one it is not', async () => {
        await enqueue('run_c', at(0));
        await enqueue('run_d', at(1));
        const report = { job_id: 'run_c', status: 'cancelled', completed_at: at(2).toISOString() } as unknown as RunReport;
        assert.equal(await store.cancelQueuedJob('run_c', report), true);
        const cancelled = await store.getRun('run_c');
        assert.deepEqual([cancelled?.status, cancelled?.completedAt, cancelled?.report?.status], ['cancelled', at(2), 'cancelled']);
        assert.equal((await store.claimChunk('w', 30_000, at(3)))?.runId, 'run_d', 'no chunk of the cancelled job is claimable');
        assert.equal(await store.cancelQueuedJob('run_d', { ...report, job_id: 'run_d' }), false, 'a claimed job is running: setControl cancels it');
        assert.equal(await store.cancelQueuedJob('run_c', report), false, 'cancelled once');
      });

      test('the highest priority job is claimed first, then the oldest', async () => {
        await enqueue('run_old', at(0), { chunks: [items(0, 1)] });
        await enqueue('run_new', at(1), { chunks: [items(0, 1)] });
        await enqueue('run_urgent', at(2), { priority: 5, chunks: [items(0, 1)] });
        const order = [];
        for (let i = 0; i < 3; i++) order.push((await store.claimChunk('w', 30_000, at(3)))?.runId);
        assert.deepEqual(order, ['run_urgent', 'run_old', 'run_new']);
      });

      test('an expired lease is reclaimed with a new token; the stale holder can neither extend nor commit', async () => {
        await enqueue('run_x', at(0), { chunks: [items(0, 2), items(2, 2)] });
        const stale = (await store.claimChunk('w1', 60_000, at(0)))!;
        assert.deepEqual(await store.extendLease(stale.token, 60_000, at(0.5)), { control: null });
        // Lease ran to at(1.5); at(1) nothing is claimable but the second chunk.
        assert.equal((await store.claimChunk('w2', 60_000, at(1)))?.index, 1);
        assert.equal(await store.claimChunk('w2', 60_000, at(1)), null);
        const taken = (await store.claimChunk('w2', 60_000, at(2)))!;
        assert.equal(taken.index, 0);
        assert.equal(taken.attempts, 2);
        assert.equal(taken.takenOverFrom, 'w1', 'the claim names whose expired lease it took over');
        assert.notEqual(taken.token, stale.token);
        await rejects(store.extendLease(stale.token, 60_000, at(2)), 'STORE_LEASE_LOST');
        await rejects(store.commitLeasedChunk(stale.token, commitOf(stale, at(2))), 'STORE_LEASE_LOST');
        assert.equal((await store.getRun('run_x'))?.processed, 0, 'the stale commit recorded nothing');
        assert.deepEqual(await store.commitLeasedChunk(taken.token, commitOf(taken, at(2))), { last: false });
        await rejects(store.commitLeasedChunk(taken.token, commitOf(taken, at(2))), 'STORE_LEASE_LOST');
        assert.equal((await store.getRun('run_x'))?.processed, 2, 'the chunk counted once');
      });

      test('the last chunk stays leased until the job is finished with its token; the run ends with the report', async () => {
        await enqueue('run_f', at(0), { chunks: [items(0, 2), items(2, 1)] });
        const a = (await store.claimChunk('w1', 60_000, at(0)))!;
        const b = (await store.claimChunk('w2', 60_000, at(0)))!;
        assert.deepEqual(await store.commitLeasedChunk(b.token, commitOf(b, at(1))), { last: false });
        assert.deepEqual(await store.commitLeasedChunk(a.token, commitOf(a, at(1))), { last: true });
        const run = await store.getRun('run_f');
        assert.deepEqual([run?.status, run?.processed, run?.succeeded], ['running', 3, 3]);
        // Its holder died before finishing: the chunk is reclaimed, re-committed (counted once) and the job finished.
        const again = (await store.claimChunk('w3', 60_000, at(2)))!;
        assert.equal(again.index, 0);
        assert.deepEqual(await store.commitLeasedChunk(again.token, commitOf(again, at(2))), { last: true });
        await rejects(store.finishLeasedJob(a.token, report('run_f')), 'STORE_LEASE_LOST');
        await store.finishLeasedJob(again.token, report('run_f', { status: 'completed' }));
        const done = await store.getRun('run_f');
        assert.deepEqual([done?.status, done?.processed, done?.report?.status], ['completed', 3, 'completed']);
        assert.equal(await store.claimChunk('w1', 60_000, at(10)), null, 'a finished job has nothing to claim');
      });

      test('of two workers committing the last two chunks at once, exactly one is told it finishes the job', async () => {
        await enqueue('run_race', at(0), { chunks: [items(0, 1), items(1, 1)] });
        const a = (await store.claimChunk('w1', 60_000, at(0)))!;
        const b = (await store.claimChunk('w2', 60_000, at(0)))!;
        const results = await Promise.all([store.commitLeasedChunk(a.token, commitOf(a, at(1))), store.commitLeasedChunk(b.token, commitOf(b, at(1)))]);
        assert.equal(results.filter((r) => r.last).length, 1);
      });

      test('a released chunk is claimable at once; finishing a job early closes its other chunks', async () => {
        await enqueue('run_r', at(0), { chunks: [items(0, 1), items(1, 1), items(2, 1)] });
        const a = (await store.claimChunk('w1', 60_000, at(0)))!;
        await store.releaseChunk(a.token);
        await rejects(store.commitLeasedChunk(a.token, commitOf(a, at(0))), 'STORE_LEASE_LOST');
        const b = (await store.claimChunk('w2', 60_000, at(0)))!;
        assert.equal(b.index, 0);
        assert.equal(b.takenOverFrom, null, 'a released chunk was given back, not taken over');
        await store.finishLeasedJob(b.token, report('run_r', { status: 'failed' }));
        assert.equal((await store.getRun('run_r'))?.status, 'failed');
        assert.equal(await store.claimChunk('w2', 60_000, at(5)), null);
      });

      test('a whole job is one lease without items; its chunk commits are fenced and never finish it', async () => {
        await store.enqueueJob({
          id: 'run_w', createdAt: at(0), batchId: null, pipeline: 'file-out', mode: 'full', source: 'inline', config: {}, priority: 0, kind: 'whole',
        });
        const lease = (await store.claimChunk('w1', 60_000, at(0)))!;
        assert.deepEqual([lease.items, lease.total, lease.index], [null, null, 0]);
        for (const index of [0, 1]) {
          const commit = { index, lastSeq: index + 1, processed: 1, succeeded: 1, failed: 0, warnings: 0, errors: [], at: at(1) };
          assert.deepEqual(await store.commitLeasedChunk(lease.token, commit), { last: false });
        }
        assert.equal((await store.getRun('run_w'))?.processed, 2);
        const stolen = (await store.claimChunk('w2', 60_000, at(5)))!;
        await rejects(store.finishLeasedJob(lease.token, report('run_w')), 'STORE_LEASE_LOST');
        await store.finishLeasedJob(stolen.token, report('run_w', { status: 'completed' }));
        assert.equal((await store.getRun('run_w'))?.status, 'completed');
      });

      test('activeLeases counts the unexpired chunk and whole-job leases per pipeline and kind', async () => {
        await enqueue('run_l', at(0), { chunks: [items(0, 1), items(1, 1), items(2, 1)] });
        await store.enqueueJob({
          id: 'run_lw', createdAt: at(0), batchId: null, pipeline: 'file-out', mode: 'full', source: 'inline', config: {}, priority: 0, kind: 'whole',
        });
        assert.deepEqual(await store.activeLeases(at(0)), [], 'queued chunks are not leases');
        const [a, , c, whole] = [
          (await store.claimChunk('w1', 60_000, at(0)))!, (await store.claimChunk('w2', 60_000, at(0)))!,
          (await store.claimChunk('w3', 60_000, at(0)))!, (await store.claimChunk('w4', 60_000, at(0)))!,
        ];
        assert.equal(whole.items, null);
        await store.releaseChunk(c.token);
        assert.deepEqual(await store.activeLeases(at(0.5)), [{ pipeline: 'file-out', kind: 'whole', count: 1 }, { pipeline: 'sync', kind: 'chunks', count: 2 }]);
        await store.extendLease(a.token, 60_000, at(1));
        assert.deepEqual(await store.activeLeases(at(1.5)), [{ pipeline: 'sync', kind: 'chunks', count: 1 }], 'expired leases are not held');
        await store.commitLeasedChunk(a.token, commitOf(a, at(1.5)));
        assert.deepEqual(await store.activeLeases(at(1.5)), [], 'a committed chunk is done');
      });

      test('extendLease returns what an operator asked of the run', async () => {
        await enqueue('run_c', at(0));
        const lease = (await store.claimChunk('w1', 60_000, at(0)))!;
        assert.equal(await store.setControl('run_c', 'cancel'), true);
        assert.deepEqual(await store.extendLease(lease.token, 60_000, at(1)), { control: 'cancel' });
      });
    });

    describe('named leases (one scheduler)', () => {
      test('one holder at a time; renewals keep it; it passes on after expiry, on release, or from a holder known dead', async () => {
        const a = await store.acquireLease('scheduler', 'host:1', 10_000, at(0));
        assert.ok(a);
        assert.equal(await store.acquireLease('scheduler', 'host:2', 10_000, at(0)), null);
        assert.deepEqual(await store.leaseHolder('scheduler'), { holder: 'host:1', expiresAt: new Date(at(0).getTime() + 10_000) });
        assert.equal(await store.renewLease('scheduler', a, 10_000, at(0.1)), true);
        assert.equal(await store.acquireLease('scheduler', 'host:2', 10_000, new Date(at(0).getTime() + 12_000)), null, 'renewed past the first expiry');
        const b = await store.acquireLease('scheduler', 'host:2', 10_000, at(1));
        assert.ok(b, 'taken over once expired');
        assert.equal(await store.renewLease('scheduler', a, 10_000, at(1)), false, 'the old holder learns it lost the lease');
        await store.releaseLease('scheduler', a);
        assert.equal((await store.leaseHolder('scheduler'))?.holder, 'host:2', 'a stale release changes nothing');
        const c = await store.acquireLease('scheduler', 'host:3', 10_000, at(1), 'host:2');
        assert.ok(c, 'taken from a holder known dead');
        await store.releaseLease('scheduler', c);
        assert.equal(await store.leaseHolder('scheduler'), null);
        assert.ok(await store.acquireLease('scheduler', 'host:1', 10_000, at(1)), 'free after release');
      });
    });

    describe('durability and migrations', () => {
      test('data survives closing and reopening the store', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 }, key: 'k1' }, { data: { n: 2 } }, { data: { n: 3 } }], at(0));
        await store.cutBatch('partner-a', { id: 'b1', at: at(1), reason: 'manual', maxRecords: 2 });
        await createRun('run_1', at(2), 'partner-a', 'b1');
        await store.commitChunk('run_1', { index: 0, lastSeq: 2, processed: 2, succeeded: 1, failed: 1, warnings: 0, errors: [itemError(2)], at: at(3) });
        await store.recordFile('run_1', { name: 'f.csv', part: 1, bytes: 1, records: 1, sha256: 's', uri: 'u', destination: 'local', deliveredAt: at(4) });
        await store.finishRun('run_1', report('run_1'));
        const before = {
          run: await store.getRun('run_1'), errors: await store.listItemErrors('run_1'), files: await store.listFiles('run_1'),
          batch: await store.openBatch('partner-a'), members: await store.readBatch('b1', 0, 10), stats: await store.inboxStats('partner-a'),
        };
        await store.close();

        store = await fixture.reopen();
        const after = {
          run: await store.getRun('run_1'), errors: await store.listItemErrors('run_1'), files: await store.listFiles('run_1'),
          batch: await store.openBatch('partner-a'), members: await store.readBatch('b1', 0, 10), stats: await store.inboxStats('partner-a'),
        };
        assert.deepEqual(after, before);
        assert.equal(after.stats.pending, 1);
        // Idempotency keys survive too.
        assert.deepEqual(await store.ingest('partner-a', [{ data: { n: 1 }, key: 'k1' }], at(5)), { accepted: 0, duplicates: 1 });
      });

      test('migrating an up-to-date store again is a no-op', async () => {
        await store.ingest('partner-a', [{ data: { n: 1 } }], at(0));
        await store.migrate();
        await store.migrate();
        assert.deepEqual(await store.inboxStats('partner-a'), { pending: 1, bytes: bytesOf({ n: 1 }), oldest: at(0), priorities: [] });
      });

      test('description names where the store lives', () => {
        assert.equal(typeof store.description, 'string');
        assert.ok(store.description.length > 0);
      });
    });
    describe('reports, lineage and retention', () => {
      const commitFailure = (runId: string, itemId: string) => store.commitChunk(runId, {
        index: 0, lastSeq: 3, processed: 3, succeeded: 2, failed: 1, warnings: 0, at: at(20),
        errors: [itemError(2, { itemId, payload: { n: 2 } })],
      });
      /**
       * Six records at minute 0: batch A (3, delivered at minute 30 by run_a, one of them failed),
       * batch B (2, cut, not delivered), one pending; one more record on the next day.
       */
      async function day(): Promise<{ ids: number[]; a: Batch; b: Batch }> {
        await store.ingest('partner-a', [{ data: { n: 1 } }, { data: { n: 2 } }, { data: { n: 1 } }, { data: { n: 4 }, key: 'order-4' }, { data: { n: 5 } }, { data: { n: 6 } }], at(0));
        await store.ingest('partner-a', [{ data: { n: 7 } }], at(24 * 60));
        const a = (await store.cutBatch('partner-a', { id: 'batch_a', at: at(10), reason: 'count', maxRecords: 3 }))!;
        const b = (await store.cutBatch('partner-a', { id: 'batch_b', at: at(11), reason: 'count', maxRecords: 2 }))!;
        const ids = [...(await readAll(store, a.id)), ...(await readAll(store, b.id))].map((r) => r.id);
        await createRun('run_a', at(12), 'partner-a', a.id);
        await commitFailure('run_a', `inbox:${ids[1]}`);
        await store.finishRun('run_a', report('run_a', { batch_id: a.id, completed_at: at(30).toISOString() }));
        await store.completeBatch(a.id, 'run_a', at(30));
        await store.recordFile('run_a', { name: 'a.csv', part: 1, bytes: 20, records: 2, sha256: 'sha-a', uri: 'file:///out/a.csv', destination: 'local:/out', deliveredAt: at(30) });
        await createRun('run_b', at(13), 'partner-a', b.id);
        return { ids, a, b };
      }

      test('a record is found by its id, its item id and its idempotency key', async () => {
        const { ids } = await day();
        const byId = await store.findInboxRecords(String(ids[0]));
        assert.deepEqual(byId, [{ id: ids[0], pipeline: 'partner-a', key: null, receivedAt: at(0), batchId: 'batch_a' }]);
        assert.deepEqual(await store.findInboxRecords(`inbox:${ids[0]}`), byId);
        assert.deepEqual((await store.findInboxRecords('order-4')).map((r) => [r.id, r.batchId]), [[ids[3], 'batch_b']]);
        assert.deepEqual(await store.findInboxRecords('no-such-key'), []);
      });

      test('reconciliation follows the records of a day to their batches, deliveries and failures', async () => {
        const { ids } = await day();
        const [row, ...others] = await store.reconcile({ from: at(0), to: at(24 * 60) });
        assert.equal(others.length, 0);
        assert.deepEqual(row, {
          pipeline: 'partner-a', accepted: 6, batched: 5, delivered: 2, failed: 1, duplicates: 1,
          oldestUndelivered: at(0), maxLatencyMs: 30 * 60_000,
          openBatches: [{ batchId: 'batch_b', records: 2, cutAt: at(11) }], failedIds: [ids[1]],
        });
        // Skipping the dead letter keeps it failed; a retried one counts as delivered by its retry.
        await store.markDeadLetters({ runId: 'run_a' }, 'retried');
        const after = (await store.reconcile({ from: at(0), to: at(24 * 60), pipeline: 'partner-a' }))[0]!;
        assert.deepEqual([after.delivered, after.failed, after.failedIds], [3, 0, []]);
        assert.deepEqual(await store.reconcile({ from: at(0), to: at(24 * 60), pipeline: 'other' }), []);
        assert.equal((await store.reconcile({ from: at(24 * 60), to: at(48 * 60) }))[0]?.accepted, 1);
      });

      test('runs, delivered files and dead letters are listed for a window', async () => {
        await day();
        assert.deepEqual((await store.listRuns({ since: at(12), before: at(13) })).map((r) => r.id), ['run_a']);
        assert.deepEqual((await store.listRuns({ batchId: 'batch_b' })).map((r) => r.id), ['run_b']);
        const files = await store.listDeliveredFiles({ from: at(0), to: at(60), pipeline: 'partner-a' });
        assert.deepEqual(files.map((f) => [f.runId, f.pipeline, f.batchId, f.name, f.destination, f.bytes, f.records, f.deliveredAt.toISOString()]),
          [['run_a', 'partner-a', 'batch_a', 'a.csv', 'local:/out', 20, 2, at(30).toISOString()]]);
        assert.deepEqual(await store.listDeliveredFiles({ from: at(31), to: at(60) }), []);
        assert.deepEqual(await store.deadLetterCounts({ from: at(0), to: at(60) }), [{ pipeline: 'partner-a', runId: 'run_a', status: 'dead', count: 1 }]);
      });

      test('purge never removes what is not confirmed delivered, and a dry run removes nothing', async () => {
        const { ids } = await day();
        const settled = await store.openDelivery({ id: 'dlv_a', pipeline: 'partner-a', batchId: 'batch_a', part: '1', destination: 'local:/out', runId: 'run_a', name: 'a.csv', at: at(15) });
        await store.advanceDelivery(settled.id, 'rendered', at(16), { stagedPath: '/data/staging/run_a/a' });
        await store.advanceDelivery(settled.id, 'skipped', at(30));
        const failing = await store.openDelivery({ id: 'dlv_b', pipeline: 'partner-a', batchId: 'batch_b', part: '1', destination: 'local:/out', runId: 'run_b', name: 'b.csv', at: at(15) });
        await store.advanceDelivery(failing.id, 'rendered', at(16), { stagedPath: '/data/staging/run_b/b' });
        await store.advanceDelivery(failing.id, 'failed', at(17), { code: 'DEST_WRITE_FAILED', reason: 'disk full' });
        await store.finishRun('run_b', report('run_b', { status: 'failed', batch_id: 'batch_b' }));
        const late = at(365 * 24 * 60);
        const plan = { pipeline: 'partner-a', records: late, files: late, deadLetters: late, runs: late };

        const removed: Record<string, unknown>[] = [];
        const archive = (rows: readonly Record<string, unknown>[]) => {
          removed.push(...rows);
        };
        const dry = await store.purge({ ...plan, dryRun: true }, archive);
        assert.equal(removed.length, 0, 'a dry run archives nothing');
        // Batch A's records except the one with an open dead letter; run_a keeps its open dead letter.
        assert.deepEqual([dry.records, dry.deadLetters, dry.runs, dry.files], [2, 0, 0, [{ deliveryId: 'dlv_a', path: '/data/staging/run_a/a' }]]);
        assert.equal((await store.findInboxRecords(String(ids[0]))).length, 1, 'the dry run removed nothing');
        assert.equal((await store.getDelivery('dlv_a'))?.stagedPath, '/data/staging/run_a/a');

        const done = await store.purge(plan, archive);
        assert.deepEqual([done.records, done.deadLetters, done.runs, done.files.length], [2, 0, 0, 1]);
        assert.deepEqual(removed.map((r) => [r.kind, r.id, r.data, r.batch_id, r.received_at]), [['record', ids[0], { n: 1 }, 'batch_a', at(0).toISOString()], ['record', ids[2], { n: 1 }, 'batch_a', at(0).toISOString()]]);
        assert.equal((await store.getDelivery('dlv_a'))?.stagedPath, null);
        assert.equal((await store.getDelivery('dlv_b'))?.stagedPath, '/data/staging/run_b/b', 'a failed delivery keeps its staged file');
        assert.equal((await store.inboxStats('partner-a')).pending, 2, 'pending records stay');
        assert.equal((await readAll(store, 'batch_b')).length, 2, 'records of an undelivered batch stay');
        assert.equal((await store.findInboxRecords(String(ids[1]))).length, 1, 'a record with an open dead letter stays');
        assert.ok(await store.getRun('run_a'), 'a run with an open dead letter stays');
        assert.ok(await store.getRun('run_b'), 'the run of an undelivered batch stays');

        // Once the dead letter is resolved, it, its record and its run go.
        await store.markDeadLetters({ runId: 'run_a' }, 'skipped');
        removed.length = 0;
        const rest = await store.purge(plan, archive);
        assert.deepEqual([rest.records, rest.deadLetters, rest.runs], [1, 1, 1]);
        assert.deepEqual(removed.map((r) => [r.kind, r.id ?? r.item_id, r.status ?? null]), [['record', ids[1], null], ['dead_letter', `inbox:${ids[1]}`, 'skipped'], ['run', 'run_a', 'completed_with_errors']]);
        assert.equal(await store.getRun('run_a'), null);
        assert.deepEqual(await store.listFiles('run_a'), []);
        assert.ok(await store.getRun('run_b'));
      });

      test('purge removes a page at a time, each in its own transaction: each row archived once, in order, before it goes; an archive that fails keeps its page and the rest', async () => {
        const count = 3 * purgePageSize + 1;
        await store.ingest('partner-a', Array.from({ length: count }, (_, n) => ({ data: { n } })), at(0));
        const batch = (await store.cutBatch('partner-a', { id: 'batch_big', at: at(1), reason: 'count' }))!;
        await createRun('run_big', at(2), 'partner-a', batch.id);
        await store.completeBatch(batch.id, 'run_big', at(3));
        const plan = { pipeline: 'partner-a', records: at(60) };
        const numbers = (rows: readonly Record<string, unknown>[]) => rows.map((r) => (r.data as { n: number }).n);
        const upTo = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

        const archived: number[] = [];
        let pages = 0;
        await assert.rejects(store.purge(plan, (rows) => {
          if (++pages === 2) throw new Error('disk full');
          archived.push(...numbers(rows));
        }), /disk full/);
        const page = archived.length; // a store may page below purgePageSize
        assert.ok(page > 0 && page <= purgePageSize, `pages of ${page} records`);
        assert.deepEqual(archived, upTo(0, page), 'page 1 was archived');
        assert.deepEqual((await readAll(store, batch.id)).map((r) => r.data.n), upTo(page, count), 'page 1 is gone; the page the archive failed on, and those after it, stay');

        // The event loop turns between pages: a callback queued as the purge starts runs before its last page.
        const sizes: number[] = [];
        let pagesAtTurn: number | undefined;
        const purging = store.purge(plan, (rows) => {
          sizes.push(rows.length);
          archived.push(...numbers(rows));
        });
        setImmediate(() => { pagesAtTurn = sizes.length; });
        const done = await purging;
        const full = Math.floor((count - page) / page);
        assert.deepEqual(sizes, [...Array<number>(full).fill(page), (count - page) % page].filter((n) => n > 0));
        assert.ok(pagesAtTurn !== undefined && pagesAtTurn < sizes.length, `the loop turned after ${pagesAtTurn} of ${sizes.length} pages`);
        assert.equal(done.records, count - page);
        assert.deepEqual(archived, upTo(0, count), 'every record once, in the order it came');
        assert.deepEqual(await readAll(store, batch.id), []);
      });

      test('a record that becomes purgeable while its page is archived is not removed unarchived', async () => {
        const { ids } = await day();
        // ids[1] has an open dead letter: kept. Resolving it while the page goes to the archive
        // (between a store's read and its delete) makes it purgeable after the page was read.
        let resolving: Promise<unknown> | undefined;
        const archived: unknown[] = [];
        await store.purge({ pipeline: 'partner-a', records: at(365 * 24 * 60) }, (rows) => {
          resolving ??= store.markDeadLetters({ runId: 'run_a' }, 'skipped');
          archived.push(...rows.map((r) => r.id));
        });
        await resolving;
        const stored = await Promise.all(ids.slice(0, 3).map(async (id) => (await store.findInboxRecords(String(id))).length > 0));
        for (const [i, id] of ids.slice(0, 3).entries()) {
          assert.ok(stored[i] || archived.includes(id), `record ${id} is either still stored or archived`);
        }
        assert.deepEqual(archived, [ids[0], ids[2]]);
      });

      test('purge keeps what is younger than its period', async () => {
        await day();
        const result = await store.purge({ pipeline: 'partner-a', records: at(29), files: at(29), deadLetters: at(11), runs: at(29) });
        assert.deepEqual([result.records, result.deadLetters, result.runs, result.files], [0, 0, 0, []]);
      });
    });

    describe('API: ingest requests, keys, submitters', () => {
      test('ingestRequests stores several requests in one call; a re-sent request key replays the first answer and stores nothing', async () => {
        const outcomes = await store.ingestRequests([
          { pipeline: 'partner-a', records: [{ data: { n: 1 } }, { data: { n: 2 }, key: 'r2' }], requestKey: 'req-1', extra: [{ index: 2 }] },
          { pipeline: 'partner-b', records: [{ data: { n: 3 } }] },
          { pipeline: 'partner-a', records: [{ data: { n: 99 } }], requestKey: 'req-1' },
        ], at(0));
        assert.deepEqual(outcomes, [
          { accepted: 2, duplicates: 0, replayed: false, extra: [{ index: 2 }] },
          { accepted: 1, duplicates: 0, replayed: false },
          { accepted: 2, duplicates: 0, replayed: true, extra: [{ index: 2 }] },
        ]);
        assert.deepEqual(await store.ingestRequests([{ pipeline: 'partner-a', records: [{ data: { n: 2 }, key: 'r2' }], requestKey: 'req-2' }], at(1)),
          [{ accepted: 0, duplicates: 1, replayed: false }]);
        // Request keys are scoped to the pipeline.
        assert.deepEqual(await store.ingestRequests([{ pipeline: 'partner-b', records: [{ data: { n: 4 } }], requestKey: 'req-1' }], at(1)),
          [{ accepted: 1, duplicates: 0, replayed: false }]);
        assert.equal((await store.inboxStats('partner-a')).pending, 2);
        assert.equal((await store.inboxStats('partner-b')).pending, 2);
      });

      test('ingestRequests counts each request\'s duplicates on its own: a key seen earlier in the call, in the same request or already stored', async () => {
        await store.ingest('partner-c', [{ data: { n: 0 }, key: 'old' }], at(0));
        const outcomes = await store.ingestRequests([
          { pipeline: 'partner-c', records: [{ data: { n: 1 }, key: 'k1' }, { data: { n: 2 } }] },
          { pipeline: 'partner-c', records: [{ data: { n: 3 }, key: 'k1' }, { data: { n: 4 }, key: 'k4' }, { data: { n: 5 }, key: 'k4' }] },
          { pipeline: 'partner-d', records: [{ data: { n: 6 }, key: 'k1' }] },
          { pipeline: 'partner-c', records: [{ data: { n: 7 }, key: 'old' }, { data: { n: 8 } }], requestKey: 'req-c' },
        ], at(1));
        assert.deepEqual(outcomes.map((o) => [o.accepted, o.duplicates]), [[2, 0], [1, 2], [1, 0], [1, 1]]);
        assert.equal((await store.inboxStats('partner-c')).pending, 1 + 2 + 1 + 1);
        assert.deepEqual(await store.ingestRequests([{ pipeline: 'partner-c', records: [{ data: { n: 9 } }], requestKey: 'req-c' }], at(2)),
          [{ accepted: 1, duplicates: 1, replayed: true }]);
      });

      test('ingestRequests stores records in the order of the call: requests without keys between keyed ones, replays and other pipelines', async () => {
        await store.ingestRequests([{ pipeline: 'order-a', records: [{ data: { n: 0 } }], requestKey: 'req-0' }], at(0));
        const outcomes = await store.ingestRequests([
          { pipeline: 'order-a', records: [{ data: { n: 1 } }] },
          { pipeline: 'order-a', records: [{ data: { n: 2 } }, { data: { n: 3 } }] },
          { pipeline: 'order-b', records: [{ data: { n: 4 } }] },
          { pipeline: 'order-a', records: [{ data: { n: 5 }, key: 'k5' }] },
          { pipeline: 'order-a', records: [{ data: { n: 6 } }] },
          { pipeline: 'order-a', records: [{ data: { n: 99 } }], requestKey: 'req-0' },
          { pipeline: 'order-a', records: [{ data: { n: 7 } }], requestKey: 'req-7' },
          { pipeline: 'order-a', records: [{ json: '{"n":8}' }] },
          { pipeline: 'order-a', records: [{ data: { n: 9 }, key: 'k5' }, { data: { n: 10 } }] },
        ], at(1));
        assert.deepEqual(outcomes.map((o) => [o.accepted, o.duplicates, o.replayed]),
          [[1, 0, false], [2, 0, false], [1, 0, false], [1, 0, false], [1, 0, false], [1, 0, true], [1, 0, false], [1, 0, false], [1, 1, false]]);
        const a = await store.readPending('order-a', 0, 100);
        assert.deepEqual(a.map((r) => r.data.n), [0, 1, 2, 3, 5, 6, 7, 8, 10]);
        const [b] = await store.readPending('order-b', 0, 100);
        assert.ok(a[3]!.id < b!.id && b!.id < a[4]!.id, 'order-b\'s record was stored between order-a\'s n=3 and n=5');
      });

      test('ingestRequests stores a record\'s JSON given as text or as UTF-8 bytes as it came, without the white space around it', async () => {
        const body = Buffer.from('\t{"id":"b1","note":"Zoë ✓","n":1.50} \r\n{"id":"b2"}');
        const records = [
          { json: ' {"id":"t1","note":"caf\\u00e9"}\r' },
          { json: body.subarray(0, body.indexOf(0x0a)), key: 'b1' },
          { json: body.subarray(body.indexOf(0x0a) + 1) },
          { data: { id: 'd1' } },
        ];
        assert.deepEqual(await store.ingestRequests([{ pipeline: 'texts', records }], at(0)), [{ accepted: 4, duplicates: 0, replayed: false }]);
        const stored = ['{"id":"t1","note":"caf\\u00e9"}', '{"id":"b1","note":"Zoë ✓","n":1.50}', '{"id":"b2"}', '{"id":"d1"}'];
        assert.equal((await store.inboxStats('texts')).bytes, stored.reduce((sum, text) => sum + Buffer.byteLength(text), 0));
        await store.cutBatch('texts', { id: 'batch_texts', at: at(1), reason: 'manual' });
        assert.deepEqual((await store.readBatch('batch_texts', 0, 10)).map((r) => r.data), stored.map((text) => JSON.parse(text) as unknown));
        // The key given with bytes deduplicates as any other.
        assert.deepEqual(await store.ingestRequests([{ pipeline: 'texts', records: [{ json: Buffer.from('{"id":"again"}'), key: 'b1' }] }], at(2)),
          [{ accepted: 0, duplicates: 1, replayed: false }]);
      });

      test('API keys are stored with their hash, listed without it, and revoked once', async () => {
        const key = { id: 'k1', owner: 'alice', scopes: ['jobs:read', 'ingest:*'], createdAt: at(0), revokedAt: null };
        await store.createApiKey({ ...key, hash: 'ab'.repeat(32) });
        assert.deepEqual(await store.getApiKey('k1'), { ...key, hash: 'ab'.repeat(32) });
        assert.equal(await store.getApiKey('nope'), null);
        assert.deepEqual(await store.listApiKeys(), [key]);
        assert.equal(await store.revokeApiKey('k1', at(5)), true);
        assert.equal(await store.revokeApiKey('k1', at(6)), false);
        assert.deepEqual((await store.getApiKey('k1'))?.revokedAt, at(5));
      });

      test('a run keeps the key owner that submitted it; listRuns filters by it', async () => {
        await store.createRun({ id: 'run_a', createdAt: at(0), batchId: null, pipeline: 'p', mode: 'full', source: 'inline', config: {}, submittedBy: 'alice' });
        await createRun('run_cli', at(1), 'p');
        assert.equal((await store.getRun('run_a'))?.submittedBy, 'alice');
        assert.equal((await store.getRun('run_cli'))?.submittedBy, null);
        assert.deepEqual((await store.listRuns({ submittedBy: 'alice' })).map((r) => r.id), ['run_a']);
        assert.deepEqual((await store.listRuns({ pipeline: 'p' })).map((r) => r.id), ['run_cli', 'run_a']);
      });
    });

    describe('dashboard: chunk timelines and throughput', () => {
      test('listChunks returns the committed chunks in index order; a re-commit replaces its chunk', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', { index: 1, lastSeq: 20, processed: 10, succeeded: 10, failed: 0, warnings: 0, errors: [], at: at(2), durationMs: 250 });
        await store.commitChunk('run_1', { index: 0, lastSeq: 10, processed: 10, succeeded: 9, failed: 1, warnings: 2, errors: [itemError(3)], at: at(1) });
        await store.commitChunk('run_1', { index: 1, lastSeq: 20, processed: 10, succeeded: 7, failed: 3, warnings: 0, errors: [], at: at(3), durationMs: 400 });
        assert.deepEqual(await store.listChunks('run_1'), [
          { index: 0, lastSeq: 10, processed: 10, succeeded: 9, failed: 1, warnings: 2, committedAt: at(1), durationMs: null },
          { index: 1, lastSeq: 20, processed: 10, succeeded: 7, failed: 3, warnings: 0, committedAt: at(3), durationMs: 400 },
        ]);
        assert.deepEqual(await store.listChunks('run_missing'), []);
      });

      test('throughput sums chunk commits per pipeline and UTC hour within [since, until), optionally for one submitter', async () => {
        await createRun('run_a', at(0), 'alpha');
        await store.createRun({ id: 'run_b', createdAt: at(0), batchId: null, pipeline: 'beta', mode: 'full', source: 'inline', config: {}, submittedBy: 'alice' });
        const commit = (runId: string, index: number, minutes: number, succeeded: number, failed: number) =>
          store.commitChunk(runId, { index, lastSeq: index, processed: succeeded + failed, succeeded, failed, warnings: 0, errors: [], at: at(minutes) });
        await commit('run_a', 0, -1, 50, 0); // 08:59, before since
        await commit('run_a', 1, 0, 10, 1); // 09:00
        await commit('run_a', 2, 59, 5, 0); // 09:59
        await commit('run_a', 3, 61, 4, 4); // 10:01
        await commit('run_b', 0, 30, 7, 0); // 09:30
        await commit('run_b', 1, 120, 9, 0); // 11:00, at until
        const hour = (h: number) => new Date(Date.UTC(2024, 2, 1, h));
        assert.deepEqual(await store.throughput({ since: at(0), until: at(120) }), [
          { pipeline: 'alpha', hour: hour(9), processed: 16, succeeded: 15, failed: 1 },
          { pipeline: 'alpha', hour: hour(10), processed: 8, succeeded: 4, failed: 4 },
          { pipeline: 'beta', hour: hour(9), processed: 7, succeeded: 7, failed: 0 },
        ]);
        assert.deepEqual(await store.throughput({ since: at(0), until: at(121), submittedBy: 'alice' }), [
          { pipeline: 'beta', hour: hour(9), processed: 7, succeeded: 7, failed: 0 },
          { pipeline: 'beta', hour: hour(11), processed: 9, succeeded: 9, failed: 0 },
        ]);
        assert.deepEqual(await store.throughput({ since: at(0), until: at(60), submittedBy: 'nobody' }), []);
      });

      test('dead letters are listed and marked by a list of item ids; an empty list matches none', async () => {
        await createRun('run_1', at(0));
        await store.commitChunk('run_1', {
          index: 0, lastSeq: 3, processed: 3, succeeded: 0, failed: 3, warnings: 0, at: at(1),
          errors: [itemError(1, { payload: { n: 1 } }), itemError(2, { payload: { n: 2 } }), itemError(3, { payload: { n: 3 } })],
        });
        assert.deepEqual((await store.listDeadLetters({ runId: 'run_1', itemIds: ['item-3', 'item-1', 'item-9'] })).map((d) => d.itemId), ['item-1', 'item-3']);
        assert.deepEqual(await store.listDeadLetters({ runId: 'run_1', itemIds: [] }), []);
        assert.equal(await store.markDeadLetters({ runId: 'run_1', itemIds: [] }, 'skipped'), 0);
        assert.equal(await store.markDeadLetters({ runId: 'run_1', itemIds: ['item-1', 'item-2'] }, 'skipped'), 2);
        assert.deepEqual((await store.listDeadLetters({ runId: 'run_1', status: 'dead' })).map((d) => d.itemId), ['item-3']);
      });
    });

    describe('staged files', () => {
      test('a staged file is read back byte for byte after a reopen, replaced under its key, and removed', async () => {
        const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256);
        await store.putStaged('dlv_1', { bytes, sha256: 'a'.repeat(64), at: at(0) });
        await store.close();
        store = await fixture.reopen();
        const kept = await store.getStaged('dlv_1');
        assert.deepEqual(Buffer.from(kept!.bytes), Buffer.from(bytes));
        assert.equal(kept!.sha256, 'a'.repeat(64));
        await store.putStaged('dlv_1', { bytes: Buffer.from('second'), sha256: 'b'.repeat(64), at: at(1) });
        assert.equal(Buffer.from((await store.getStaged('dlv_1'))!.bytes).toString(), 'second');
        await store.removeStaged('dlv_1');
        await store.removeStaged('dlv_1');
        assert.equal(await store.getStaged('dlv_1'), null);
        assert.equal(await store.getStaged('never'), null);
      });
    });

    describe('audit log', () => {
      const entry = (minutes: number, overrides: Partial<AuditEntry> = {}): AuditEntry => ({
        at: at(minutes), actor: 'alice', keyId: 'k1', action: 'run.pause', target: 'run_1', pipeline: 'partner-a', details: null, ...overrides,
      });

      test('entries are listed newest first, with their details, and survive a reopen', async () => {
        await store.recordAudit(entry(0));
        await store.recordAudit(entry(1, { actor: 'cli:ops@host', keyId: null, action: 'dead_letters.skip', details: { error_type: 'ValidationError', count: 3 } }));
        await store.recordAudit(entry(2, { action: 'key.create', target: 'k2', pipeline: null, details: { owner: 'bob', scopes: ['jobs:read'] } }));
        await store.close();
        store = await fixture.reopen();
        const all = await store.listAudit();
        assert.deepEqual(all.map((e) => e.action), ['key.create', 'dead_letters.skip', 'run.pause']);
        assert.deepEqual(all[1], entry(1, { actor: 'cli:ops@host', keyId: null, action: 'dead_letters.skip', details: { error_type: 'ValidationError', count: 3 } }));
        assert.deepEqual(all[0]?.details, { owner: 'bob', scopes: ['jobs:read'] });
        assert.equal(all[0]?.pipeline, null);
      });

      test('filters: since (inclusive), actor or key id, action, limit', async () => {
        for (let i = 0; i < 5; i++) await store.recordAudit(entry(i, i % 2 === 0 ? {} : { actor: 'cli:ops@host', keyId: null, action: 'run.cancel' }));
        assert.deepEqual((await store.listAudit({ since: at(3) })).map((e) => e.at), [at(4), at(3)]);
        assert.equal((await store.listAudit({ actor: 'cli:ops@host' })).length, 2);
        assert.equal((await store.listAudit({ actor: 'k1' })).length, 3, 'a key id matches the entries made with that key');
        assert.deepEqual((await store.listAudit({ action: 'run.cancel', since: at(2) })).map((e) => e.at), [at(3)]);
        assert.deepEqual((await store.listAudit({ limit: 2 })).map((e) => e.at), [at(4), at(3)]);
        assert.deepEqual(await store.listAudit({ actor: 'nobody' }), []);
      });
    });
  });
}
