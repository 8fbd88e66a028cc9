/**
 * NDJSON prepared in worker threads (engine/parallel.ts) must be indistinguishable from NDJSON
 * read on the main thread: the same records in the file, byte for byte, and the same failures
 * and warnings with the same ids, seqs, lines, messages and payloads. Each test runs one input
 * both ways and compares everything.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { registry } from '../../../src/core/registry.js';
import { sequentialIds } from '../../../src/core/ids.js';
import type { BuildContext } from '../../../src/core/component.js';
import { parallelPlan, preparedBatches, type ParallelPlan } from '../../../src/engine/parallel.js';
import { runPipeline } from '../../../src/engine/run.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { fileSource } from '../../../src/sources/file.js';
import { MAX_LINE_BYTES } from '../../../src/sources/file/ndjson.js';
import { openPostgresStore } from '../../../src/store/postgres/store.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { Store } from '../../../src/store/types.js';
import { postgresSkip, scratchDatabase } from '../../support/postgres.js';
import { leadStages } from '../../support/lead-stages.js';
import { tempDir } from '../../support/tmp.js';

/** ISO-8859-1 with unencodable: block, so that a record can fail in the format. */
const latin1Csv = { type: 'csv', encoding: 'iso-8859-1', unencodable: 'block' };

const pipeline = (threads: number, format: object = latin1Csv) => ({
  name: 'threads',
  source: { type: 'file', path: 'input.ndjson' },
  ...leadStages,
  output: {
    type: 'file', format, compression: 'gzip',
    naming: '{pipeline}.{ext}', destination: { type: 'local', path: 'out' },
  },
  execution: { chunk_size: 700, success_threshold: 0.5, parse_threads: threads },
});

/** Runs the pipeline over `input` in a folder of its own; everything a user could look at comes back. */
async function run(input: Buffer, threads: number, opts: { readonly cancelAfterChunks?: number; readonly format?: object } = {}) {
  const dir = tempDir();
  writeFileSync(join(dir, 'input.ndjson'), input);
  const store = await openSqliteStore(join(dir, 'lading.db'));
  try {
    const loaded = { ...parsePipeline(pipeline(threads, opts.format), { env: {} }), baseDir: dir, origin: '<test>' };
    const controller = new AbortController();
    let chunks = 0;
    const report = await runPipeline(loaded, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'progress' && ++chunks === opts.cancelAfterChunks) controller.abort();
      },
    });
    const errors = await store.listItemErrors(report.job_id, { limit: 100_000 });
    const files = readdirSync(join(dir, 'out'));
    const bytes = files.length === 1 ? gunzipSync(readFileSync(join(dir, 'out', files[0]!))) : Buffer.alloc(0);
    return { status: report.status, failure: report.failure, summary: report.summary, reported: report.errors, errors, files, csv: bytes.toString('latin1'), bytes };
  } finally {
    await store.close();
  }
}

/** 40,000 lines, about 3.5 MB (several blocks), with every kind of trouble a line can carry. */
function troubledInput(): Buffer {
  const parts: Buffer[] = [Buffer.from('\ufeff')];
  for (let i = 1; i <= 40_000; i++) {
    const record: Record<string, unknown> = { id: i, email: ` User${i}@Example.com `, state: 'ny', name: ` Zoë ${i} ` };
    if (i % 499 === 0) record.email = `user${i}-at-example.com`; // validation failure
    if (i % 401 === 0) record.state = 'California'; // warning, still delivered
    if (i % 503 === 0) record.name = { first: 'x' }; // map failure: trim of an object
    if (i % 607 === 0) record.name = `smile ${i} \u{1F600}`; // format failure: not in ISO-8859-1
    let line = Buffer.from(JSON.stringify(record));
    if (i % 997 === 0) line = Buffer.from(`{"id": ${i}, "email": }`);
    if (i % 1013 === 0) line = Buffer.from('[1, 2]');
    if (i % 1019 === 0) line = Buffer.concat([Buffer.from('{"id": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    if (i % 1009 === 0) parts.push(Buffer.from('   \n'));
    parts.push(line, Buffer.from(i % 10 === 0 ? '\r\n' : '\n'));
  }
  parts.push(Buffer.from('{"id": 40001, "email": "last@example.com", "state": "tx", "name": "no line feed"}'));
  return Buffer.concat(parts);
}

test('NDJSON prepared by worker threads gives the same file and the same failures as on the main thread', async () => {
  const input = troubledInput();
  const [serial, threaded] = [await run(input, 0), await run(input, 3)];
  assert.equal(serial.status, 'completed_with_errors');
  assert.ok(serial.summary.failed > 300 && serial.summary.warnings > 90, 'the input has failures and warnings to compare');
  const codes = new Set(serial.errors.map((e) => e.code));
  for (const code of ['VALIDATE_FORMAT', 'VALIDATE_PATTERN', 'MAP_TRANSFORM_FAILED', 'FORMAT_INVALID_CHARACTER', 'SOURCE_MALFORMED_JSON', 'SOURCE_NOT_A_RECORD', 'SOURCE_BAD_ENCODING']) {
    assert.ok(codes.has(code), `the input produces ${code}`);
  }
  assert.deepEqual(threaded.summary, serial.summary);
  assert.deepEqual(threaded.reported, serial.reported);
  assert.deepEqual(threaded.errors, serial.errors, 'every failure and warning: id, seq, chunk, code, line, message, payload');
  assert.deepEqual(threaded.files, serial.files);
  assert.equal(threaded.csv, serial.csv);
  assert.match(serial.csv, /^lead_id,email,state,name\n1,user1@example.com,NY,Zoë 1\n/);
  assert.ok(serial.csv.endsWith('40001,last@example.com,TX,no line feed\n'));
});

test('UTF-8 CSV and NDJSON, which workers write as text into their blocks, come out byte for byte as on the main thread', async () => {
  // Non-ASCII names, an emoji, and a lone surrogate (written as U+FFFD in CSV, escaped in NDJSON).
  const input = Buffer.concat([troubledInput(), Buffer.from('\n{"id": 40002, "email": "lone@example.com", "state": "tx", "name": "half \\ud83d"}\n')]);
  for (const format of [{ type: 'csv' }, { type: 'csv', quote_all: true, line_ending: '\r\n' }, { type: 'ndjson' }]) {
    const [serial, threaded] = [await run(input, 0, { format }), await run(input, 2, { format })];
    assert.deepEqual([threaded.status, threaded.failure], [serial.status, serial.failure]);
    assert.equal(serial.summary.succeeded, threaded.summary.succeeded);
    assert.ok(serial.summary.succeeded > 38_000, `${format.type}: most records are delivered`);
    assert.deepEqual(threaded.errors, serial.errors, `${format.type}: the same failures`);
    assert.ok(threaded.bytes.equals(serial.bytes), `${format.type}: the same bytes`);
    const text = serial.bytes.toString('utf8');
    assert.ok(text.includes('Zoë 1') && text.includes('\u{1F600}'), `${format.type}: non-ASCII text as UTF-8`);
    assert.ok(format.type === 'ndjson' ? text.includes('half \\ud83d') : text.includes('half \ufffd'), `${format.type}: the lone surrogate`);
  }
});

test('XML, fixed-width and JSON records prepared by workers come out byte for byte as on the main thread, failures included', async () => {
  const input = troubledInput();
  const fixed = {
    type: 'fixed_width', encoding: 'windows-1252', line_ending: '\r\n', overflow: 'truncate', gaps: 'spaces', unencodable: 'block',
    fields: [{ name: 'lead_id', start: 1, length: 6, align: 'right', fill: '0' }, { name: 'email', start: 7, length: 30 }, { name: 'state', start: 38, length: 2 }, { name: 'name', start: 41, length: 12 }],
  };
  for (const format of [{ type: 'xml', root: 'leads', record: 'lead', attributes: ['lead_id'], pretty: true }, fixed, { type: 'json' }, { type: 'json', pretty: true }]) {
    // Workers do prepare these formats' records (else both runs below would be on the main thread).
    const config = parsePipeline(pipeline(2, format), { env: {} }).config;
    const source = fileSource.create(fileSource.schema.parse(config.source), { baseDir: tempDir(), pipeline: 'threads' } as unknown as BuildContext);
    const encoder = { pipeline: 'threads', runId: 'r', batchId: 'r', createdAt: new Date(0), columns: ['lead_id', 'email', 'state', 'name'] };
    assert.equal(parallelPlan({ config, source, formats: registry.formats, fromStart: true, encoder })?.threads, 2, `${format.type}: prepared by workers`);
    const [serial, threaded] = [await run(input, 0, { format }), await run(input, 2, { format })];
    assert.deepEqual([threaded.status, threaded.failure, threaded.summary], [serial.status, serial.failure, serial.summary]);
    assert.ok(serial.summary.succeeded > 38_000, `${format.type}: most records are delivered`);
    assert.deepEqual(threaded.errors, serial.errors, `${format.type}: the same failures`);
    assert.ok(threaded.bytes.equals(serial.bytes), `${format.type}: the same bytes`);
    // Windows-1252 cannot hold the emoji: with unencodable: block those records fail in the format, both ways.
    if (format === fixed) assert.ok(serial.errors.some((e) => e.code.startsWith('FORMAT_')), 'the format fails some records');
  }
});

test('a line longer than the limit fails with its line number both ways, wherever it falls', async () => {
  const line = (i: number) => `{"id": ${i}, "email": "u${i}@example.com", "state": "ny", "name": "n${i}"}\n`;
  // Over the limit by more than a read (256 KiB): the reader judges a line by the bytes it holds before the last read.
  const huge = (i: number) => `{"id": ${i}, "pad": "${'x'.repeat(MAX_LINE_BYTES + 600_000)}"}`;
  // Lines, an overlong line, more lines, and an overlong last line without a line feed.
  const input = Buffer.from([
    ...Array.from({ length: 30_000 }, (_, i) => line(i + 1)), `${huge(30_001)}\n`,
    ...Array.from({ length: 100 }, (_, i) => line(30_002 + i)), huge(30_102),
  ].join(''));
  const [serial, threaded] = [await run(input, 0), await run(input, 2)];
  assert.deepEqual(serial.errors.map((e) => [e.itemId, e.code]), [['input.ndjson:30001', 'SOURCE_MALFORMED_JSON'], ['input.ndjson:30102', 'SOURCE_MALFORMED_JSON']]);
  assert.deepEqual(threaded.errors, serial.errors);
  assert.deepEqual(threaded.summary, serial.summary);
  assert.equal(threaded.csv, serial.csv);
  assert.equal(serial.csv.split('\n').length - 2, 30_100, 'every other line delivered');
});

test('a line a little over the limit is read, or not, exactly as the reader on the main thread reads it', async () => {
  // The reader judges a line by the bytes it held before the read (256 KiB) that brought its line
  // feed. This line is 100,000 bytes over the limit, and line 1 is padded so that its last read
  // brings 200,000 of its bytes: the reader holds less than the limit before it and reads it.
  const read = 256 * 1024;
  const line = (i: number, pad = '') => `{"id": ${i}, "email": "u${i}@example.com", "state": "ny", "name": "n${i}"${pad}}\n`;
  const total = MAX_LINE_BYTES + 100_000;
  const long = `{"id": 30001, "pad": "${'x'.repeat(total - '{"id": 30001, "pad": ""}\n'.length)}"}\n`;
  const before = Array.from({ length: 29_999 }, (_, i) => line(i + 2)).join('');
  const unpadded = Buffer.byteLength(line(1)) + Buffer.byteLength(before);
  const pad = ' '.repeat((((200_000 - unpadded - total) % read) + read) % read);
  const input = Buffer.from(line(1, pad) + before + long + Array.from({ length: 10 }, (_, i) => line(30_002 + i)).join(''));
  const [serial, threaded] = [await run(input, 0), await run(input, 2)];
  assert.deepEqual(serial.errors.map((e) => [e.itemId, e.code]), [['input.ndjson:30001', 'VALIDATE_REQUIRED']], 'read, and failed only for its missing email');
  assert.deepEqual(threaded.errors, serial.errors);
  assert.equal(threaded.csv, serial.csv);
});

test('a run cancelled while workers prepare its blocks stops, delivers nothing, and leaves no worker behind', async () => {
  const cancelled = await run(troubledInput(), 2, { cancelAfterChunks: 3 });
  assert.equal(cancelled.status, 'cancelled');
  const { processed } = cancelled.summary;
  assert.ok(processed >= 3 * 700 && processed < 40_000, `stopped part way (${processed} processed)`);
  assert.deepEqual(cancelled.files, [], 'no file reaches the destination');
  // The test process exits on its own only if every worker thread was terminated.
});

test('gzip-compressed NDJSON is prepared by workers from its decompressed lines, as on the main thread', async () => {
  const input = gzipSync(troubledInput());
  const [serial, threaded] = [await run(input, 0), await run(input, 2)];
  assert.equal(serial.summary.processed, 40_001);
  assert.deepEqual(threaded.errors, serial.errors);
  assert.equal(threaded.csv, serial.csv);
});

test('a worker that fails on a block (a bug, not a bad record) stops the read with its error, stack included', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'input.ndjson'), Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: i })).join('\n'));
  const source = fileSource.create(fileSource.schema.parse({ type: 'file', path: 'input.ndjson' }), { baseDir: dir, pipeline: 'crash' } as unknown as BuildContext);
  const signal = new AbortController().signal;
  await source.open(signal);
  const { config } = parsePipeline({ ...pipeline(1), validate: undefined, map: [{ name: 'id' }] }, { env: {} });
  const plan: ParallelPlan = {
    threads: 1,
    setup: {
      file: '', stages: { validate: config.validate, map: config.map },
      format: { module: new URL('../../support/formats/broken.mjs', import.meta.url).href, name: 'broken', config: {} },
      encoder: { pipeline: 'crash', runId: 'run_1', batchId: 'run_1', createdAt: new Date(0), columns: ['id'] },
    },
  };
  const read = async () => {
    for await (const items of preparedBatches(source, plan, signal)) assert.fail(`no items should come from a failed block (got ${items.length})`);
  };
  await assert.rejects(read, (error: unknown) => {
    assert.ok(error instanceof LadingError);
    assert.equal(error.code, 'UNCLASSIFIED');
    assert.match(error.message, /the encoder broke on its third record/);
    assert.match(error.stack ?? '', /broken\.mjs/, 'the worker\'s stack comes along');
    return true;
  });
});

test('parse_threads auto: workers for an input of 4 MiB or more on a machine with 2 CPUs or more, none below', async () => {
  const dir = tempDir();
  const line = `${JSON.stringify({ id: 1, email: 'a@example.com', name: 'x'.repeat(200) })}\n`;
  writeFileSync(join(dir, 'small.ndjson'), line.repeat(100));
  writeFileSync(join(dir, 'large.ndjson'), line.repeat(Math.ceil((4 * 1024 * 1024) / line.length)));
  const planFor = async (file: string, threads: number | 'auto') => {
    const config = parsePipeline({ ...pipeline(0), source: { type: 'file', path: file }, execution: { ...pipeline(0).execution, parse_threads: threads } }, { env: {} }).config;
    const source = fileSource.create(fileSource.schema.parse(config.source), { baseDir: dir, pipeline: 'auto' } as unknown as BuildContext);
    await source.open(new AbortController().signal);
    return parallelPlan({ config, source, formats: registry.formats, fromStart: true, encoder: { pipeline: 'auto', runId: 'r', batchId: 'r', createdAt: new Date(0), columns: ['lead_id'] } });
  };
  const cpus = availableParallelism();
  assert.equal(await planFor('small.ndjson', 'auto'), undefined, 'under 4 MiB the workers would cost more than they save');
  assert.equal((await planFor('large.ndjson', 'auto'))?.threads, cpus > 1 ? Math.min(4, cpus) : undefined);
  assert.equal((await planFor('small.ndjson', 2))?.threads, 2, 'a number is taken as asked, whatever the size');
  assert.equal(await planFor('large.ndjson', 0), undefined);
});

/**
 * An inbox batch of 12,000 stored records with the troubles a record can still carry once stored,
 * delivered by `threads` workers from a new store (SQLite in the run's folder by default).
 */
async function runInbox(threads: number, open: (dir: string) => Promise<Store> = (dir) => openSqliteStore(join(dir, 'lading.db'))) {
  const dir = tempDir();
  const store = await open(dir);
  try {
    const records = Array.from({ length: 12_000 }, (_, n) => {
      const i = n + 1;
      const record: Record<string, unknown> = { id: i, email: ` User${i}@Example.com `, state: 'ny', name: ` Zoë ${i} ` };
      if (i % 499 === 0) record.email = `user${i}-at-example.com`; // validation failure
      if (i % 401 === 0) record.state = 'California'; // warning, still delivered
      if (i % 503 === 0) record.name = { first: 'x' }; // map failure: trim of an object
      if (i % 607 === 0) record.name = `smile ${i} \u{1F600}`; // format failure: not in ISO-8859-1
      // A JSON body is stored as it was sent: its text may hold line feeds between its tokens.
      return i % 97 === 0 ? { json: JSON.stringify(record, null, 2) } : { data: record };
    });
    await store.ingest('threads', records, new Date('2026-01-02T00:00:00Z'));
    const loaded = { ...parsePipeline({ ...pipeline(threads), source: { type: 'inbox', page_size: 700 } }, { env: {} }), baseDir: dir, origin: '<test>' };
    const report = await runPipeline(loaded, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), signal: new AbortController().signal,
    });
    const errors = await store.listItemErrors(report.job_id, { limit: 100_000 });
    const csv = gunzipSync(readFileSync(join(dir, 'out', 'threads.csv.gz'))).toString('latin1');
    return { status: report.status, summary: report.summary, reported: report.errors, errors, csv, batch: await store.openBatch('threads') };
  } finally {
    await store.close();
  }
}

test('an inbox batch prepared by worker threads gives the same file and the same failures, named inbox:<id>, as on the main thread', async () => {
  const [serial, threaded] = [await runInbox(0), await runInbox(3)];
  assert.equal(serial.status, 'completed_with_errors');
  assert.equal(serial.summary.processed, 12_000);
  const codes = new Set(serial.errors.map((e) => e.code));
  for (const code of ['VALIDATE_FORMAT', 'VALIDATE_PATTERN', 'MAP_TRANSFORM_FAILED', 'FORMAT_INVALID_CHARACTER']) assert.ok(codes.has(code), `the batch produces ${code}`);
  assert.ok(serial.errors.every((e) => /^inbox:\d+$/.test(e.itemId ?? "")), 'items are named by their inbox ids');
  assert.deepEqual(threaded.summary, serial.summary);
  assert.deepEqual(threaded.reported, serial.reported);
  assert.deepEqual(threaded.errors, serial.errors, 'every failure and warning: id, seq, chunk, code, message, payload');
  assert.equal(threaded.csv, serial.csv);
  assert.match(serial.csv, /^lead_id,email,state,name\n1,user1@example.com,NY,Zoë 1\n/);
  assert.ok(serial.csv.includes('\n97,user97@example.com,NY,Zoë 97\n'), 'a record stored with line feeds in its JSON is one record');
  assert.equal(threaded.batch, null, 'the batch was delivered');
});

test('on the PostgreSQL store an inbox batch prepared by worker threads gives what SQLite gives on the main thread', { skip: postgresSkip }, async () => {
  const scratch = await scratchDatabase();
  try {
    const [serial, threaded] = [await runInbox(0), await runInbox(3, () => openPostgresStore(scratch.url))];
    assert.equal(threaded.summary.processed, 12_000);
    assert.deepEqual(threaded.summary, serial.summary);
    assert.deepEqual(threaded.reported, serial.reported);
    assert.deepEqual(threaded.errors, serial.errors, 'every failure and warning: id, seq, chunk, code, message, payload');
    assert.equal(threaded.csv, serial.csv);
    assert.equal(threaded.batch, null, 'the batch was delivered');
  } finally {
    await scratch.drop();
  }
});

test('parse_threads auto on an inbox: workers for a batch of 10,000 records or more, none below', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const ids = sequentialIds();
  try {
    const planFor = async (pipelineName: string, records: number) => {
      await store.ingest(pipelineName, Array.from({ length: records }, (_, i) => ({ data: { id: i, email: 'a@example.com' } })), new Date(0));
      const config = parsePipeline({ ...pipeline(0), name: pipelineName, source: { type: 'inbox' }, execution: { ...pipeline(0).execution, parse_threads: 'auto' } }, { env: {} }).config;
      const ctx = { baseDir: dir, pipeline: pipelineName, store, clock: fixedClock('2026-01-02T03:04:05Z'), ids } as unknown as BuildContext;
      const source = registry.sources.find((s) => s.type === 'inbox')!.create(config.source, ctx);
      await source.open(new AbortController().signal);
      return parallelPlan({ config, source, formats: registry.formats, fromStart: true, encoder: { pipeline: pipelineName, runId: 'r', batchId: 'r', createdAt: new Date(0), columns: ['lead_id'] } });
    };
    const cpus = availableParallelism();
    assert.equal(await planFor('few', 100), undefined);
    assert.equal((await planFor('many', 10_000))?.threads, cpus > 1 ? Math.min(4, cpus) : undefined);
  } finally {
    await store.close();
  }
});
