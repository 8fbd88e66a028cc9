import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gzip } from '../../../src/codecs/gzip.js';
import { fixedClock } from '../../../src/core/clock.js';
import type { BuildContext } from '../../../src/core/component.js';
import { sequentialIds } from '../../../src/core/ids.js';
import type { Item } from '../../../src/core/item.js';
import { local } from '../../../src/destinations/local.js';
import { csv } from '../../../src/formats/csv.js';
import { json } from '../../../src/formats/json.js';
import { ndjson } from '../../../src/formats/ndjson.js';
import { fileSink } from '../../../src/sinks/file/file.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import type { RunContext, SinkEvent } from '../../../src/sinks/types.js';
import type { FileArtifact } from '../../../src/core/report.js';
import { tempDir } from '../../support/tmp.js';
import { chunkContext } from '../../support/chunk-context.js';

const def = fileSink({ formats: [csv, ndjson, json], codecs: [gzip], destinations: [local] });

async function setup(output: Record<string, unknown>) {
  const dir = tempDir();
  const config = def.schema.parse({ type: 'file', destination: { type: 'local', path: 'out' }, ...output });
  const build = { pipeline: 'p', baseDir: dir, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(), store: await openSqliteStore(join(dir, 'lading.db')) } as unknown as BuildContext;
  const sink = def.create(config, build);
  const events: SinkEvent[] = [];
  const ctx: RunContext = { runId: 'run_0001', pipeline: 'p', batchId: 'batch_0001', mode: 'full', createdAt: new Date('2026-01-02T03:04:05Z'), signal: new AbortController().signal, emit: (e) => events.push(e) };
  return { dir, out: join(dir, 'out'), sink, ctx, events };
}

const items = (rows: readonly Record<string, unknown>[], from = 1): Item[] => rows.map((data, i) => ({ id: `r:${from + i}`, seq: from + i, data }));

/** Opens the sink, writes `all` in chunks of `chunkSize`, closes it: the ids that failed, and the files. */
async function writeAll(sink: Awaited<ReturnType<typeof setup>>['sink'], ctx: RunContext, all: Item[], chunkSize: number) {
  await sink.open(ctx);
  const failed = new Set<string>();
  for (let i = 0; i < all.length; i += chunkSize) {
    const r = await sink.write({ runId: 'run_0001', index: i, items: all.slice(i, i + chunkSize) }, chunkContext({ signal: ctx.signal }));
    for (const id of r.failures.keys()) failed.add(id);
  }
  const { files } = await sink.close(ctx, 'completed');
  return { failed, files };
}

test('split by max_bytes: every gzip part is within the limit as delivered, and the parts hold every record in order', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ k: fc.string({ maxLength: 60 }), n: fc.integer() }), { minLength: 0, maxLength: 400 }),
    fc.integer({ min: 300, max: 3000 }),
    fc.integer({ min: 1, max: 50 }),
    async (rows, maxBytes, chunkSize) => {
      const { sink, ctx, out } = await setup({ format: 'ndjson', compression: { type: 'gzip', level: 1 }, split: { max_bytes: maxBytes }, naming: '{part:4}.{ext}' });
      const all = items(rows);
      const { failed, files } = await writeAll(sink, ctx, all, chunkSize);
      const decoded: unknown[] = [];
      for (const f of files) {
        const bytes = readFileSync(join(out, f.name));
        assert.ok(bytes.length <= maxBytes, `${f.name} is ${bytes.length} bytes > ${maxBytes}`);
        const lines = gunzipSync(bytes).toString('utf8').split('\n').filter(Boolean);
        assert.equal(lines.length, f.records);
        decoded.push(...lines.map((l) => JSON.parse(l)));
      }
      const expected = all.filter((it) => !failed.has(it.id)).map((it) => JSON.parse(JSON.stringify(it.data)) as unknown);
      assert.deepEqual(decoded, expected);
      for (const id of failed) assert.ok(Buffer.byteLength(JSON.stringify(all.find((it) => it.id === id)!.data)) + 40 > maxBytes / 2, 'only records near the limit may be refused');
    },
  ), { numRuns: 40 });
});

test('JSON parts, split by max_bytes or max_records, are each a valid document within the limit, their first record without a comma', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ k: fc.string({ maxLength: 40 }), n: fc.integer() }), { minLength: 0, maxLength: 120 }),
    fc.oneof(fc.record({ max_bytes: fc.integer({ min: 250, max: 1500 }) }), fc.record({ max_records: fc.integer({ min: 1, max: 7 }) })),
    fc.boolean(),
    fc.integer({ min: 1, max: 30 }),
    async (rows, split, pretty, chunkSize) => {
      const { sink, ctx, out } = await setup({ format: { type: 'json', pretty }, split, naming: '{part:4}.{ext}' });
      const all = items(rows);
      const { failed, files } = await writeAll(sink, ctx, all, chunkSize);
      const decoded: unknown[] = [];
      for (const f of files) {
        const text = readFileSync(join(out, f.name), 'utf8');
        if ('max_bytes' in split) assert.ok(Buffer.byteLength(text) <= split.max_bytes, `${f.name} is over ${split.max_bytes} bytes`);
        const doc = JSON.parse(text) as { records: unknown[]; batch_info: { record_count: number } };
        assert.equal(doc.records.length, f.records);
        assert.equal(doc.batch_info.record_count, f.records);
        decoded.push(...doc.records);
      }
      assert.deepEqual(decoded, all.filter((it) => !failed.has(it.id)).map((it) => JSON.parse(JSON.stringify(it.data)) as unknown));
    },
  ), { numRuns: 60 });
});

test('a record larger than max_bytes fails alone with FORMAT_RECORD_TOO_LARGE; the others are delivered', async () => {
  const { sink, ctx } = await setup({ format: 'ndjson', split: { max_bytes: 100 }, naming: '{part}.{ext}' });
  await sink.open(ctx);
  const r = await sink.write({ runId: 'run_0001', index: 0, items: items([{ a: 1 }, { a: 'x'.repeat(200) }, { a: 3 }]) }, chunkContext({ signal: ctx.signal }));
  assert.deepEqual([...r.failures].map(([id, e]) => [id, e.code]), [['r:2', 'FORMAT_RECORD_TOO_LARGE']]);
  const { files } = await sink.close(ctx, 'completed');
  assert.deepEqual(files.map((f) => f.records), [2]);
});

test('split by max_records numbers the parts; CSV parts share the header taken from the first record', async () => {
  const { sink, ctx, out, events } = await setup({ format: 'csv', split: { max_records: 2 }, checksum: 'sha256', manifest: true, naming: 'leads_{date}_{part:3}_{records}.{ext}' });
  await sink.open(ctx);
  await sink.write({ runId: 'run_0001', index: 0, items: items([{ a: 1, b: 'x' }, { a: 2, b: 'y' }, { a: 3, b: 'z' }]) }, chunkContext({ signal: ctx.signal }));
  const { files } = await sink.close(ctx, 'completed');
  assert.deepEqual(files.map((f) => f.name), ['leads_20260102_001_2.csv', 'leads_20260102_002_1.csv']);
  assert.equal(readFileSync(join(out, files[1]!.name), 'utf8'), 'a,b\n3,z\n');
  assert.deepEqual(readdirSync(out).sort(), ['leads_20260102_001_2.csv', 'leads_20260102_001_2.csv.sha256', 'leads_20260102_002_1.csv', 'leads_20260102_002_1.csv.sha256', 'p_20260102_030405_batch_0001.manifest.json']);
  const manifest = JSON.parse(readFileSync(join(out, 'p_20260102_030405_batch_0001.manifest.json'), 'utf8')) as { record_count: number; files: FileArtifact[] };
  assert.equal(manifest.record_count, 3);
  assert.deepEqual(manifest.files.map((f) => f.sha256), files.map((f) => f.sha256));
  assert.deepEqual(events.map((e) => e.type), ['file_rendered', 'file_rendered', 'file_delivered', 'file_delivered']);
});

test('the same records render byte-identical files (a retry re-sends the same content)', async () => {
  const render = async () => {
    const { sink, ctx } = await setup({ format: 'json', compression: 'gzip' });
    await sink.open(ctx);
    await sink.write({ runId: 'run_0001', index: 0, items: items([{ a: 'é', b: null }, { a: '"q"' }]) }, chunkContext({ signal: ctx.signal }));
    return (await sink.close(ctx, 'completed')).files.map((f) => [f.name, f.sha256, f.bytes]);
  };
  assert.deepEqual(await render(), await render());
});

test('an empty run delivers nothing, unless send_on_empty asks for a header-only file', async () => {
  const quiet = await setup({ format: 'csv' });
  await quiet.sink.open(quiet.ctx);
  assert.deepEqual((await quiet.sink.close(quiet.ctx, 'completed')).files, []);
  const loud = await setup({ format: { type: 'csv', columns: ['id', 'email'] }, send_on_empty: true });
  await loud.sink.open(loud.ctx);
  const { files } = await loud.sink.close(loud.ctx, 'completed');
  assert.equal(readFileSync(join(loud.out, files[0]!.name), 'utf8'), 'id,email\n');
});

test('an aborted run delivers nothing and leaves no staging files', async () => {
  const { sink, ctx, out, dir } = await setup({ format: 'ndjson' });
  await sink.open(ctx);
  await sink.write({ runId: 'run_0001', index: 0, items: items([{ a: 1 }]) }, chunkContext({ signal: ctx.signal }));
  assert.deepEqual((await sink.close(ctx, 'aborted')).files, []);
  assert.deepEqual(readdirSync(out), []);
  assert.deepEqual(readdirSync(join(dir, '.lading', 'staging')), []);
});

test('partition by a field: one file set per value, each with its own parts; the manifest lists them all', async () => {
  const { sink, ctx, out } = await setup({
    format: 'csv', naming: 'leads_{partition}_{part}.{ext}', split: { max_records: 2 }, partition: { field: 'state' },
    manifest: { naming: 'leads.ctl', format: 'csv' },
  });
  await sink.open(ctx);
  await sink.write({ runId: 'run_0001', index: 0, items: items([{ id: 1, state: 'NY' }, { id: 2, state: 'CA' }, { id: 3, state: 'NY' }, { id: 4, state: 'NY' }, { id: 5, state: null }, { id: 6, state: 'a/b' }]) }, chunkContext({ signal: ctx.signal }));
  const { files } = await sink.close(ctx, 'completed');
  assert.deepEqual(files.map((f) => [f.name, f.partition, f.part, f.records]), [
    ['leads_NY_1.csv', 'NY', 1, 2], ['leads_NY_2.csv', 'NY', 2, 1], ['leads_CA_1.csv', 'CA', 1, 1],
    ['leads_unknown_1.csv', 'unknown', 1, 1], ['leads_a_b_1.csv', 'a_b', 1, 1],
  ]);
  assert.equal(readFileSync(join(out, 'leads_NY_2.csv'), 'utf8'), 'id,state\n4,NY\n');
  const control = readFileSync(join(out, 'leads.ctl'), 'utf8').split('\r\n');
  assert.equal(control[0], 'file,records,bytes,sha256');
  assert.equal(control[1], `leads_NY_1.csv,2,${files[0]!.bytes},${files[0]!.sha256}`);
  assert.match(control[6]!, /^TOTAL,6,\d+,$/);
});

test('partitions beyond max_partitions fail their records, not the run', async () => {
  const { sink, ctx } = await setup({ format: 'ndjson', naming: '{partition}.{ext}', partition: { field: 'k', max_partitions: 2 } });
  await sink.open(ctx);
  const r = await sink.write({ runId: 'run_0001', index: 0, items: items([{ k: 'a' }, { k: 'b' }, { k: 'c' }, { k: 'a' }]) }, chunkContext({ signal: ctx.signal }));
  assert.deepEqual([...r.failures].map(([id, e]) => [id, e.code]), [['r:3', 'FORMAT_TOO_MANY_PARTITIONS']]);
  assert.deepEqual((await sink.close(ctx, 'completed')).files.map((f) => [f.name, f.records]), [['a.ndjson', 2], ['b.ndjson', 1]]);
});

test('a text control file lists each file with its count and checksum, then a total', async () => {
  const { sink, ctx, out } = await setup({ format: 'ndjson', naming: 'x_{part}.{ext}', split: { max_records: 1 }, manifest: { naming: 'x.trl', format: 'text' } });
  await sink.open(ctx);
  await sink.write({ runId: 'run_0001', index: 0, items: items([{ a: 1 }, { a: 2 }]) }, chunkContext({ signal: ctx.signal }));
  const { files } = await sink.close(ctx, 'completed');
  assert.equal(readFileSync(join(out, 'x.trl'), 'utf8'), `x_1.ndjson 1 ${files[0]!.sha256}\nx_2.ndjson 1 ${files[1]!.sha256}\nTOTAL 2 files 2 records batch batch_0001\n`);
});

test('partition without {partition} in the naming pattern is a config error', () => {
  assert.throws(() => def.schema.parse({ type: 'file', format: 'csv', naming: 'x.csv', partition: { field: 'state' }, destination: { type: 'local', path: 'o' } }), /must contain \{partition\}/);
});
