// The handler sink with `threads`: records parsed, validated and mapped in worker threads and
// handed to the handler there must give the run, its failures, its dead letters and the handler's
// own calls exactly as on the main thread.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline } from '../../../src/engine/run.js';
import type { BuildContext } from '../../../src/core/component.js';
import type { Item } from '../../../src/core/item.js';
import { handlerSink } from '../../../src/sinks/handler.js';
import { callOf, leastBusy } from '../../../src/sinks/handler-threads.js';
import type { RunContext } from '../../../src/sinks/types.js';
import type { InboxInput } from '../../../src/store/types.js';
import { UnparsedLine } from '../../../src/sources/file/ndjson.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { chunkContext, recordingContext } from '../../support/chunk-context.js';
import { leadStages } from '../../support/lead-stages.js';
import { tempDir } from '../../support/tmp.js';

/**
 * A handler that writes down every call (chunk, attempt, key, what it was given) and refuses some
 * records for good and others once: `chunk` takes chunks, `item` takes records one by one.
 */
const handlers = {
  chunk: `import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export function processChunk(items, ctx) {
  appendFileSync(process.env.LADING_TEST_HANDLER_LOG, JSON.stringify({ thread: threadId, chunk: ctx.chunkIndex, attempt: ctx.attempt, key: ctx.idempotencyKey, items: items.map((i) => [i.id, i.seq, i.origin, i.data]) }) + '\\n');
  const failures = {};
  for (const item of items) {
    if (item.data.lead_id % 53 === 0) failures[item.id] = ctx.permanentError('refused ' + item.data.lead_id);
    else if (item.data.lead_id % 71 === 0 && ctx.attempt === 1) failures[item.id] = ctx.transientError('busy', 5);
  }
  return { failures };
}
`,
  // Throws for the whole chunk when it holds a refused record: the executor bisects to find it.
  throwing: `import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export function processChunk(items, ctx) {
  appendFileSync(process.env.LADING_TEST_HANDLER_LOG, JSON.stringify({ thread: threadId, chunk: ctx.chunkIndex, attempt: ctx.attempt, key: ctx.idempotencyKey, items: items.map((i) => [i.id, i.seq, i.origin, i.data]) }) + '\\n');
  const bad = items.find((item) => item.data.lead_id % 53 === 0);
  if (bad) throw ctx.permanentError('refused ' + bad.data.lead_id);
}
`,
  item: `import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export function process(item, ctx) {
  appendFileSync(globalThis.process.env.LADING_TEST_HANDLER_LOG, JSON.stringify({ thread: threadId, chunk: ctx.chunkIndex, attempt: ctx.attempt, key: ctx.idempotencyKey, items: [[item.id, item.seq, item.origin, item.data]] }) + '\\n');
  if (item.data.lead_id % 53 === 0) throw ctx.permanentError('refused ' + item.data.lead_id);
  if (item.data.lead_id % 71 === 0 && ctx.attempt === 1) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
}
`,
};

/** 3,000 lines with every kind of trouble a line can carry, and blank ones. */
function troubledInput(): Buffer {
  const parts: Buffer[] = [Buffer.from('\ufeff')];
  for (let i = 1; i <= 3_000; i++) {
    const record: Record<string, unknown> = { id: i, email: ` User${i}@Example.com `, state: 'ny', name: ` Zoë ${i} ` };
    if (i % 199 === 0) record.email = `user${i}-at-example.com`; // validation failure
    if (i % 101 === 0) record.state = 'California'; // warning, still handled
    if (i % 203 === 0) record.name = { first: 'x' }; // map failure: trim of an object
    let line = Buffer.from(JSON.stringify(record));
    if (i % 397 === 0) line = Buffer.from(`{"id": ${i}, "email": }`);
    if (i % 401 === 0) line = Buffer.from('[1, 2]');
    if (i % 409 === 0) line = Buffer.concat([Buffer.from(`{"id": ${i}, "name": "`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    if (i % 97 === 0) line = Buffer.concat([line, Buffer.from('\r')]);
    parts.push(line, Buffer.from('\n'));
    if (i % 89 === 0) parts.push(Buffer.from(i % 2 === 0 ? '\n' : ' \t\r\n'));
  }
  return Buffer.concat(parts);
}

/** The same troubles as far as a record can carry them once stored, some records stored as sent, line feeds and all. */
function troubledRecords(): InboxInput[] {
  return Array.from({ length: 1_500 }, (_, n) => {
    const i = n + 1;
    const record: Record<string, unknown> = { id: i, email: ` User${i}@Example.com `, state: 'ny', name: ` Zoë ${i} ` };
    if (i % 199 === 0) record.email = `user${i}-at-example.com`;
    if (i % 101 === 0) record.state = 'California';
    if (i % 203 === 0) record.name = { first: 'x' };
    return i % 97 === 0 ? { json: JSON.stringify(record, null, 2) } : { data: record };
  });
}

async function run(kind: keyof typeof handlers, threads: number, from: 'file' | 'inbox' = 'file') {
  const dir = tempDir();
  writeFileSync(join(dir, 'input.ndjson'), troubledInput());
  writeFileSync(join(dir, 'handler.mjs'), handlers[kind]);
  const log = join(dir, 'calls.ndjson');
  writeFileSync(log, '');
  process.env.LADING_TEST_HANDLER_LOG = log;
  const pipeline = {
    name: 'threads',
    source: from === 'file' ? { type: 'file', path: 'input.ndjson' } : { type: 'inbox', page_size: 70 },
    ...leadStages,
    output: { type: 'handler', module: 'handler.mjs', threads },
    execution: { chunk_size: 100, concurrency: 3, success_threshold: 0.5, retry: { attempts: 3, base_delay: 0 } },
  };
  const store = await openSqliteStore(join(dir, 'lading.db'));
  try {
    if (from === 'inbox') await store.ingest('threads', troubledRecords(), new Date('2026-01-02T00:00:00Z'));
    const report = await runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), signal: new AbortController().signal,
    });
    const logged = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { thread: number; chunk: number; attempt: number; key: string; items: unknown[] });
    const threadIds = new Set(logged.map((call) => call.thread));
    const calls = logged.map(({ thread: _, ...call }) => call);
    // Threads answer in their own order: compare the calls by chunk, attempt and first item.
    calls.sort((a, b) => a.chunk - b.chunk || a.attempt - b.attempt || JSON.stringify(a.items[0]).localeCompare(JSON.stringify(b.items[0])));
    return {
      status: report.status, failure: report.failure, summary: report.summary, reported: report.errors, calls, threadIds,
      errors: await store.listItemErrors(report.job_id, { limit: 100_000 }),
      deadLetters: (await store.listDeadLetters({ runId: report.job_id })).map((d) => [d.itemId, d.code, d.attempts, d.payload]),
    };
  } finally {
    await store.close();
  }
}

for (const kind of ['chunk', 'item', 'throwing'] as const) {
  test(`a ${kind} handler in threads is given the same records, keys and attempts as on the main thread, and the run ends the same`, async () => {
    const [main, threaded] = [await run(kind, 0), await run(kind, 2)];
    assert.equal(main.status, 'completed_with_errors', JSON.stringify(main.failure));
    const codes = new Set(main.errors.map((e) => e.code));
    for (const code of ['VALIDATE_FORMAT', 'VALIDATE_PATTERN', 'MAP_TRANSFORM_FAILED', 'SOURCE_MALFORMED_JSON', 'SOURCE_NOT_A_RECORD', 'SOURCE_BAD_ENCODING', 'SINK_HANDLER_REJECTED']) {
      assert.ok(codes.has(code), `the run produces ${code}`);
    }
    if (kind === 'throwing') {
      assert.ok(main.calls.length > new Set(main.calls.map((c) => c.chunk)).size, 'chunks with a refused record were bisected');
    } else {
      assert.ok(main.summary.retries > 0, 'some records were tried again');
      assert.ok(main.calls.some((c) => c.attempt === 2), 'the handler saw second attempts');
    }
    assert.deepEqual([...main.threadIds], [0], 'threads: 0 calls the handler on the main thread');
    assert.equal(threaded.threadIds.size, 2, 'threads: 2 calls it in two threads');
    assert.ok(!threaded.threadIds.has(0), 'and never on the main thread');
    assert.deepEqual(threaded.summary, main.summary);
    assert.deepEqual(threaded.reported, main.reported);
    assert.deepEqual(threaded.errors, main.errors, 'every failure and warning: id, seq, chunk, code, line, message, payload');
    assert.deepEqual(threaded.deadLetters, main.deadLetters, 'dead letters keep the input record');
    assert.deepEqual(threaded.calls, main.calls, 'the handler was called with the same records, chunks, attempts and idempotency keys');
  });
}

test('an inbox batch reaches a handler in threads as its stored JSON, and the run ends as on the main thread', async () => {
  const [main, threaded] = [await run('chunk', 0, 'inbox'), await run('chunk', 2, 'inbox')];
  assert.equal(main.status, 'completed_with_errors');
  assert.equal(main.summary.processed, 1_500);
  const codes = new Set(main.errors.map((e) => e.code));
  for (const code of ['VALIDATE_FORMAT', 'VALIDATE_PATTERN', 'MAP_TRANSFORM_FAILED', 'SINK_HANDLER_REJECTED']) assert.ok(codes.has(code), `the run produces ${code}`);
  assert.deepEqual([...main.threadIds], [0]);
  assert.equal(threaded.threadIds.size, 2, 'the handler ran in two threads');
  assert.deepEqual(threaded.summary, main.summary);
  assert.deepEqual(threaded.reported, main.reported);
  assert.deepEqual(threaded.errors, main.errors, 'every failure and warning, named inbox:<id>, with its payload');
  assert.deepEqual(threaded.deadLetters, main.deadLetters);
  assert.deepEqual(threaded.calls, main.calls, 'the same records, chunks, attempts and keys');
});

test('a cancelled run stops its handler threads: a call waiting on its signal sees the abort', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'input.ndjson'), Array.from({ length: 500 }, (_, i) => JSON.stringify({ id: i + 1 })).join('\n'));
  const log = join(dir, 'aborts.txt');
  writeFileSync(log, '');
  process.env.LADING_TEST_HANDLER_LOG = log;
  // The first chunk passes; every later call waits until its signal is aborted, then says so.
  writeFileSync(join(dir, 'handler.mjs'), `import { appendFileSync } from 'node:fs';
export async function processChunk(items, ctx) {
  if (ctx.chunkIndex === 0) return;
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  appendFileSync(process.env.LADING_TEST_HANDLER_LOG, 'aborted ' + ctx.chunkIndex + '\\n');
  throw ctx.transientError('stopped');
}
`);
  const pipeline = { name: 'cancel', source: { type: 'file', path: 'input.ndjson' }, output: { type: 'handler', module: 'handler.mjs', threads: 2 }, execution: { chunk_size: 50, concurrency: 2 } };
  const store = await openSqliteStore(join(dir, 'lading.db'));
  try {
    const controller = new AbortController();
    const report = await runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'progress') setTimeout(() => controller.abort(), 50);
      },
    });
    assert.equal(report.status, 'cancelled');
    assert.equal(report.summary.succeeded, 50, 'the first chunk went through, no other');
    assert.match(readFileSync(log, 'utf8'), /^aborted \d+\n/, 'a call in a thread saw its signal aborted');
  } finally {
    await store.close();
  }
});

test('a handler thread that exits fails the calls it held, which are tried again on a new thread', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'input.ndjson'), Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: i + 1 })).join('\n'));
  // Chunk 1's first try ends its thread; every other call passes.
  writeFileSync(join(dir, 'handler.mjs'), `export function processChunk(items, ctx) {
  if (ctx.chunkIndex === 1 && ctx.attempt === 1) process.exit(3);
}
`);
  const pipeline = {
    name: 'exits', source: { type: 'file', path: 'input.ndjson' }, output: { type: 'handler', module: 'handler.mjs', threads: 2 },
    execution: { chunk_size: 50, concurrency: 3, retry: { attempts: 3, base_delay: 0 } },
  };
  const store = await openSqliteStore(join(dir, 'lading.db'));
  try {
    const report = await runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), signal: new AbortController().signal,
    });
    assert.equal(report.status, 'completed');
    assert.equal(report.summary.succeeded, 300);
    // Calls the thread held or was sent before its exit was noticed fail with it: whole chunks of 50.
    assert.ok(report.summary.retries >= 50 && report.summary.retries % 50 === 0, `whole chunks were tried again (${report.summary.retries} records)`);
  } finally {
    await store.close();
  }
});

test('under a rate limit every handler call takes a token, in a thread as on the main thread', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'chunk.mjs'), 'export function processChunk() {}\n');
  writeFileSync(join(dir, 'item.mjs'), 'export function process() {}\n');
  const runCtx = { runId: 'run_1', pipeline: 'p', batchId: 'run_1', createdAt: new Date(), signal: new AbortController().signal, mode: 'full', stages: {}, emit: () => {} } satisfies RunContext;
  const lines: Item[] = [1, 2, 3, 4, 5].map((n) => ({ id: `in.ndjson:${n}`, seq: n, data: {}, origin: { file: 'in.ndjson', line: n }, unparsed: Buffer.from(`{"n":${n}}`) }));
  const parsed: Item[] = lines.map(({ unparsed: _, ...item }, i) => ({ ...item, data: { n: i + 1 } }));
  const acquired = async (module: string, threads: number, items: Item[], limited: boolean, paused?: Int32Array) => {
    const sink = handlerSink.create(handlerSink.schema.parse({ type: 'handler', module, threads }), { baseDir: dir } as BuildContext);
    await sink.open(runCtx);
    try {
      const recording = recordingContext({}, limited, paused);
      const { failures } = await sink.write({ runId: 'run_1', index: 0, items }, recording.ctx);
      assert.equal(failures.size, 0);
      return recording.acquired;
    } finally {
      await sink.close(runCtx, 'completed');
    }
  };
  assert.equal(await acquired('chunk.mjs', 0, parsed, true), 1, 'a chunk call: one token');
  assert.equal(await acquired('item.mjs', 0, parsed, true), 5, 'a call per item: a token each');
  assert.equal(await acquired('chunk.mjs', 2, lines, true), 1, 'in a thread, a chunk call: one token from the main thread');
  assert.equal(await acquired('item.mjs', 2, lines, true), 5, 'in a thread, a call per item: a token each from the main thread');
  assert.equal(await acquired('item.mjs', 2, lines, false), 0, 'without a rate limit a thread asks for nothing');
  const flag = new Int32Array(new SharedArrayBuffer(4));
  assert.equal(await acquired('item.mjs', 2, lines, false, flag), 0, 'nor while no pause is in force');
  Atomics.store(flag, 0, 1);
  assert.equal(await acquired('item.mjs', 2, lines, false, flag), 5, 'while one may be (Retry-After, the breaker): each call waits for the main thread');
  assert.equal(await acquired('chunk.mjs', 2, lines, false, flag), 1);
});

test('a write goes to the thread with the fewest calls waiting; on a tie, to the first along from the last one chosen', () => {
  assert.equal(leastBusy([2, 1, 1], 0), 1);
  assert.equal(leastBusy([2, 1, 1], 3), 1, 'from wraps round');
  assert.equal(leastBusy([1, 1, 1], 2), 2);
  assert.equal(leastBusy([0, 3, 0], 1), 2);
  assert.equal(leastBusy([4, 4], 1), 1, 'equal threads take writes in turn');
});

test('a write copies runs of neighbouring lines whole, but not the lines a retry or a bisected half skipped', () => {
  const texts = ['{"n":1}', '{"n":2}', '', '{"n":4,"skipped":"by this write, longer than a few blank lines"}', '{"n":5}', '{"n":6}'];
  const block = Buffer.from(`${texts.join('\n')}\n`);
  const lines: UnparsedLine[] = [];
  for (let i = 0, at = 0; i < texts.length; at += Buffer.byteLength(texts[i]!) + 1, i++) {
    lines.push(new UnparsedLine('in.ndjson', i + 1, i + 1, block, at, at + Buffer.byteLength(texts[i]!)));
  }
  // Lines 1, 2 and 5, 6: a blank line inside the first run, a long line skipped before the second.
  const call = callOf([lines[0]!, lines[1]!, lines[4]!, lines[5]!], 7, chunkContext());
  const records = [...call.starts].map((start, i) => Buffer.from(call.bytes.subarray(start, call.ends[i])).toString());
  assert.deepEqual(records, ['{"n":1}', '{"n":2}', '{"n":5}', '{"n":6}']);
  assert.equal(Buffer.from(call.bytes).toString(), '{"n":1}\n{"n":2}{"n":5}\n{"n":6}', 'each run copied whole, the skipped line left out');
  assert.deepEqual([...call.lines!.numbers], [1, 2, 5, 6]);
  // A blank line between two lines of a write stays in its run: a few bytes, not worth a cut.
  const blank = callOf([lines[1]!, lines[3]!], 8, chunkContext());
  assert.equal(Buffer.from(blank.bytes).toString(), `{"n":2}\n\n${texts[3]}`);
  assert.equal(Buffer.from(blank.bytes.subarray(blank.starts[1], blank.ends[1])).toString(), texts[3]);
});
