import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import type { Item } from '../../../src/core/item.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline, type RunEvent, type RunOptions } from '../../../src/engine/run.js';
import { registry } from '../../../src/core/registry.js';
import type { HandlerContext } from '../../../src/sinks/handler.js';
import type { RecordSink } from '../../../src/sinks/types.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { ChunkCommit, Store } from '../../../src/store/types.js';
import { tempDir } from '../../support/tmp.js';

type Hook = (item: Item, ctx: { attempt: number; idempotencyKey: string; signal: AbortSignal }) => unknown;
type ChunkHook = (items: readonly Item[], ctx: HandlerContext) => unknown;
const hooks = globalThis as unknown as { __ladingHook?: Hook; __ladingChunkHook?: ChunkHook };

/** A handler module whose behaviour each test sets through a global hook. */
function handlerModule(dir: string, kind: 'item' | 'chunk'): string {
  const path = join(dir, `handler-${kind}.mjs`);
  writeFileSync(path, kind === 'item'
    ? 'export function process(item, ctx) { return globalThis.__ladingHook(item, ctx); }\n'
    : 'export function processChunk(items, ctx) { return globalThis.__ladingChunkHook(items, ctx); }\n');
  return path;
}

async function setup(kind: 'item' | 'chunk' = 'item') {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const module = handlerModule(dir, kind);
  const run = async (execution: Record<string, unknown>, items: number, opts: Partial<RunOptions> = {}) => {
    const pipeline = {
      name: 'exec', source: { type: 'inline', items: Array.from({ length: items }, (_, i) => ({ n: i + 1 })) },
      output: { type: 'handler', module }, execution: { retry: { base_delay: 0 }, ...execution },
    };
    const events: RunEvent[] = [];
    const report = await runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T00:00:00Z'), ids: sequentialIds(), heartbeatMs: 20,
      onEvent: (e) => events.push(e), ...opts,
    });
    return { report, events };
  };
  return { dir, store, run, close: () => store.close() };
}

const deadLetters = async (store: Store, runId: string) =>
  (await store.listDeadLetters({ runId })).map((d) => [d.itemId, d.code, d.attempts]);

test('transient failures are retried until they pass; attempts and the idempotency key are stable', async () => {
  const { run, close } = await setup();
  const seen = new Map<string, { attempts: number[]; keys: Set<string> }>();
  hooks.__ladingHook = (item, ctx) => {
    const s = seen.get(item.id) ?? { attempts: [], keys: new Set() };
    s.attempts.push(ctx.attempt);
    s.keys.add(ctx.idempotencyKey);
    seen.set(item.id, s);
    if (item.id === 'inline:3' && ctx.attempt < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
  };
  const { report } = await run({ retry: { attempts: 3, base_delay: 0 } }, 5);
  await close();
  assert.equal(report.status, 'completed');
  assert.deepEqual(seen.get('inline:3'), { attempts: [1, 2, 3], keys: new Set(['run_0001:inline:3']) });
  assert.equal(report.summary.retries, 2);
});

test('permanent failures become dead letters at once, with the payload; exhausted transient ones after their attempts', async () => {
  const { run, store, close } = await setup();
  const { permanentError, transientError } = await import('../../../src/sinks/handler.js');
  hooks.__ladingHook = (item) => {
    if (item.id === 'inline:2') throw permanentError('duplicate sku');
    if (item.id === 'inline:4') throw transientError('partner busy');
  };
  const { report } = await run({ retry: { attempts: 3, base_delay: 0 }, success_threshold: 0.5 }, 5);
  assert.equal(report.status, 'completed_with_errors');
  assert.deepEqual(await deadLetters(store, report.job_id), [['inline:2', 'SINK_HANDLER_REJECTED', 1], ['inline:4', 'SINK_HANDLER_RETRY', 3]]);
  const [letter] = await store.listDeadLetters({ runId: report.job_id, itemId: 'inline:4' });
  assert.deepEqual(letter?.payload, { n: 4 });
  assert.deepEqual(letter?.history?.map((h) => h.attempt), [1, 2, 3]);
  await close();
});

test('processChunk gets its chunk\'s context: run, index, attempt, the digest key of its items, and error builders that work detached', async () => {
  const { run, close } = await setup('chunk');
  const { idempotencyKey } = await import('../../../src/core/idempotency.js');
  const seen: { ids: string[]; runId: string; chunkIndex: number; attempt: number; key: string }[] = [];
  hooks.__ladingChunkHook = (items, ctx) => {
    const { runId, chunkIndex, attempt, idempotencyKey: key, permanentError } = ctx;
    seen.push({ ids: items.map((i) => i.id), runId, chunkIndex, attempt, key });
    // A copy holds the plain fields and nothing of lading's own (the key and the signal are made when read: docs/execution.md).
    assert.deepEqual(Object.keys({ ...ctx }).sort(), ['attempt', 'chunkIndex', 'permanentError', 'runId', 'transientError']);
    if (chunkIndex === 1) return { failures: { [items[0]!.id]: permanentError('no such sku') } };
    return undefined;
  };
  const { report } = await run({ chunk_size: 2 }, 3);
  await close();
  assert.deepEqual(seen.map(({ ids, chunkIndex, attempt }) => [ids, chunkIndex, attempt]), [[['inline:1', 'inline:2'], 0, 1], [['inline:3'], 1, 1]]);
  assert.deepEqual(seen.map((s) => s.runId), [report.job_id, report.job_id]);
  // The key of several items is the digest of their ids, of one item the item's own key.
  assert.equal(seen[0]!.key, idempotencyKey(report.job_id, [{ id: 'inline:1' }, { id: 'inline:2' }]));
  assert.match(seen[0]!.key, /^run_0001:2:[0-9a-f]{32}$/);
  assert.equal(seen[1]!.key, 'run_0001:inline:3');
  assert.equal(report.summary.failed, 1);
});

test('a handler that never answers is abandoned at execution.timeout and counted as a timeout', async () => {
  const { run, store, close } = await setup();
  hooks.__ladingHook = (item) => (item.id === 'inline:2' ? new Promise(() => {}) : undefined);
  const { report } = await run({ timeout: 30, retry: { attempts: 2, base_delay: 0 }, success_threshold: 0.5 }, 3);
  assert.equal(report.status, 'completed_with_errors');
  assert.deepEqual(await deadLetters(store, report.job_id), [['inline:2', 'SINK_HANDLER_TIMEOUT', 2]]);
  await close();
});

test('a handler\'s signal, made when read, aborts when its call times out, read before the timeout or after it', async () => {
  const { run, close } = await setup();
  const seen: string[] = [];
  hooks.__ladingHook = async (item, ctx) => {
    if (item.id === 'inline:1') {
      // Read at once: aborted by the timeout while the call waits on it.
      const signal = ctx.signal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      seen.push(`${item.id} aborted by ${(signal.reason as Error).name}`);
    } else if (item.id === 'inline:2') {
      // Read only once the call has timed out: already aborted.
      await new Promise((resolve) => setTimeout(resolve, 60));
      seen.push(`${item.id} ${ctx.signal.aborted ? 'aborted' : 'not aborted'}`);
    } else {
      seen.push(`${item.id} ${ctx.signal.aborted ? 'aborted' : 'not aborted'}`);
    }
  };
  const { report } = await run({ timeout: 30, retry: { attempts: 1 }, success_threshold: 0 }, 3);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await close();
  assert.equal(report.summary.failed, 2);
  assert.deepEqual(seen.sort(), ['inline:1 aborted by AbortError', 'inline:2 aborted', 'inline:3 not aborted']);
});

test('a handler\'s signal aborts when the run is cancelled', async () => {
  const { run, close } = await setup();
  const controller = new AbortController();
  let reason: unknown;
  hooks.__ladingHook = async (_item, ctx) => {
    controller.abort();
    reason = ctx.signal.aborted ? 'aborted' : await new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('aborted later'), { once: true }));
  };
  const { report } = await run({ chunk_size: 1 }, 3, { signal: controller.signal });
  await close();
  assert.equal(report.status, 'cancelled');
  assert.equal(report.summary.processed, 1);
  assert.equal(reason, 'aborted');
});

test('concurrency: several chunks in flight, commits still in index order', async () => {
  const { run, close } = await setup('chunk');
  let active = 0;
  let peak = 0;
  hooks.__ladingChunkHook = async (items) => {
    active++;
    peak = Math.max(peak, active);
    // Earlier chunks finish later, so completions arrive out of order.
    await new Promise((r) => setTimeout(r, 40 - (items[0]!.seq % 40)));
    active--;
  };
  const { report, events } = await run({ chunk_size: 5, concurrency: 4 }, 60);
  await close();
  assert.equal(report.status, 'completed');
  assert.ok(peak > 1 && peak <= 4, `peak concurrency ${peak}`);
  const committed = events.filter((e) => e.type === 'progress').map((e) => (e as { chunk_index: number }).chunk_index);
  assert.deepEqual(committed, Array.from({ length: 12 }, (_, i) => i));
});

test('chunks that settle while a commit waits for the disk are committed together, each with its own checkpoint and progress', async () => {
  const { run, store, close } = await setup('chunk');
  const batches: number[][] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  // The first commit is held until chunks 1-3 have been handled (and so have settled behind it).
  const held = new Proxy(store, {
    get(target, key) {
      if (key === 'commitChunks') {
        return async (runId: string, commits: readonly ChunkCommit[]) => {
          batches.push(commits.map((c) => c.index));
          if (batches.length === 1) await released;
          return target.commitChunks(runId, commits);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  hooks.__ladingChunkHook = (items) => {
    if (items[0]!.id === 'inline:4') setTimeout(release, 30);
  };
  const { report, events } = await run({ chunk_size: 1, concurrency: 4 }, 6, { store: held });
  const run1 = await store.getRun(report.job_id);
  await close();
  assert.equal(report.status, 'completed');
  assert.deepEqual(batches.slice(0, 2), [[0], [1, 2, 3]]);
  assert.deepEqual(batches.flat(), [0, 1, 2, 3, 4, 5]);
  const progress = events.filter((e) => e.type === 'progress') as { chunk_index: number; processed: number }[];
  assert.deepEqual(progress.map((e) => [e.chunk_index, e.processed]), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]]);
  assert.deepEqual(run1?.lastCheckpoint?.chunkIndex, 5);
});

test('a permanent failure of a whole group is bisected so only the bad items become dead letters', async () => {
  const { run, store, close } = await setup('chunk');
  const { permanentError } = await import('../../../src/sinks/handler.js');
  let calls = 0;
  hooks.__ladingChunkHook = (items) => {
    calls++;
    // Like a batch request the partner rejects whole when one record is bad.
    const bad = items.filter((i) => i.data.n === 7 || i.data.n === 13);
    if (bad.length === 0) return undefined;
    const error = permanentError(`batch rejected: bad record ${String(bad[0]!.data.n)}`);
    return { failures: Object.fromEntries(items.map((i) => [i.id, error])) };
  };
  const { report } = await run({ chunk_size: 16, success_threshold: 0.5 }, 16);
  assert.deepEqual((await deadLetters(store, report.job_id)).map(([id]) => id), ['inline:7', 'inline:13']);
  assert.equal(report.summary.succeeded, 14);
  assert.ok(calls < 16, `bisecting should not degrade to one call per item (${calls} calls)`);
  await close();
});

test('the circuit breaker aborts a run whose chunk fails at or above abort_at', async () => {
  const { run, close } = await setup();
  const { permanentError } = await import('../../../src/sinks/handler.js');
  hooks.__ladingHook = () => { throw permanentError('partner says no'); };
  const { report } = await run({ chunk_size: 10, circuit_breaker: { abort_at: 0.8, pause_at: 0.5 } }, 100);
  await close();
  assert.equal(report.status, 'failed');
  assert.equal(report.failure?.code, 'RUN_BREAKER_OPEN');
  assert.equal(report.summary.processed, 10, 'the run stops after the first chunk');
});

test('failure_threshold aborts the run once the failure rate passes it', async () => {
  const { run, close } = await setup();
  hooks.__ladingHook = (item) => { if (Number(item.data.n) % 2 === 0) throw 'rejected'; };
  const { report } = await run({ chunk_size: 10, failure_threshold: 0.3 }, 100);
  await close();
  assert.equal(report.failure?.code, 'RUN_FAILURE_THRESHOLD');
  assert.equal(report.summary.processed, 10);
});

test('cancel from another process stops at a chunk boundary; resume processes the rest exactly once', async () => {
  const { run, store, close } = await setup();
  const processed: string[] = [];
  let cancelled = false;
  hooks.__ladingHook = async (item) => {
    processed.push(item.id);
    if (item.seq === 25 && !cancelled) {
      cancelled = true;
      await store.setControl('run_0001', 'cancel');
      await new Promise((r) => setTimeout(r, 60)); // long enough for a heartbeat to carry the request
    }
  };
  const first = await run({ chunk_size: 10 }, 100);
  assert.equal(first.report.status, 'cancelled');
  assert.ok(first.report.summary.processed < 100);
  const second = await run({ chunk_size: 10 }, 100, { resume: 'run_0001' });
  await close();
  assert.equal(second.report.job_id, 'run_0001');
  assert.equal(second.report.status, 'completed');
  assert.equal(second.report.summary.processed, 100);
  assert.deepEqual([...new Set(processed)].sort(), Array.from({ length: 100 }, (_, i) => `inline:${i + 1}`).sort());
  assert.equal(processed.length, 100, 'no item was processed twice');
});

test('adaptive chunk size grows fast chunks toward the target and reports each change', async () => {
  const { run, close } = await setup('chunk');
  const sizes: number[] = [];
  hooks.__ladingChunkHook = (items) => { sizes.push(items.length); };
  const { report, events } = await run({ chunk_size: 10, adaptive_chunk_size: { target: '10s', min: 5, max: 80 } }, 300);
  await close();
  assert.equal(report.summary.processed, 300);
  // A chunk may be cut before the previous one committed, so sizes lag a step; they never shrink.
  assert.equal(sizes[0], 10);
  assert.ok(sizes.slice(0, -1).every((n, i) => n <= sizes[i + 1]! || i === sizes.length - 2), `sizes ${sizes.join(',')}`);
  assert.equal(Math.max(...sizes), 80);
  assert.deepEqual(events.filter((e) => e.type === 'chunk_size_changed').map((e) => [(e as { from: number }).from, (e as { to: number }).to]), [[10, 20], [20, 40], [40, 80]]);
});

test('a cancel while the executor waits for a free slot hands no further chunk to the sink', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const controller = new AbortController();
  const written: number[] = [];
  // The first chunk's write cancels the run while the executor waits for it to free the one slot.
  const sink: RecordSink = {
    type: 'handler', ordering: 'parallel', open: async () => {}, close: async () => ({ files: [], destination: 'recording' }),
    write: async (chunk) => {
      written.push(chunk.index);
      await new Promise((resolve) => setImmediate(resolve));
      if (chunk.index === 0) controller.abort();
      return { failures: new Map() };
    },
  };
  const recording = { ...registry, sinks: registry.sinks.map((def) => (def.type === 'handler' ? { ...def, create: () => sink } : def)) };
  const pipeline = {
    name: 'slots', source: { type: 'inline', items: Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })) },
    output: { type: 'handler', module: 'unused.mjs' }, execution: { chunk_size: 2, concurrency: 1 },
  };
  try {
    const report = await runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T00:00:00Z'), ids: sequentialIds(), signal: controller.signal, registry: recording,
    });
    assert.equal(report.status, 'cancelled');
    assert.deepEqual(written, [0], 'the chunk read while the first was in flight never reached the sink');
  } finally {
    await store.close();
  }
});
