import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import type { RunReport } from '../../src/core/report.js';
import { generateLeads } from '../../src/demo/leads.js';
import { demoPipelineYaml } from '../../src/demo/pipeline.js';
import { lading, ladingBin, lastJsonLine } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('lading run over 100k leads: counts, checksums, decoded files and exit code', async () => {
  const dir = tempDir();
  const leads = [...generateLeads(100_000, { seed: 7, invalidRatio: 0.01 })];
  writeFileSync(join(dir, 'leads.ndjson'), leads.map((l) => JSON.stringify(l)).join('\n') + '\n');
  writeFileSync(join(dir, 'pipeline.yaml'), demoPipelineYaml);
  const invalid = leads.filter((l) => String(l.email).trim().endsWith('@')).length;
  assert.ok(invalid > 500 && invalid < 1500, `generator should plant ~1% invalid emails, got ${invalid}`);

  const result = await lading(['run', 'pipeline.yaml', '--json', '--data-dir', join(dir, '.lading')], { cwd: dir });
  assert.equal(result.code, 3, result.stderr);
  const report = lastJsonLine<RunReport>(result.stdout);
  assert.equal(report.status, 'completed_with_errors');
  assert.deepEqual([report.summary.total_items, report.summary.processed, report.summary.failed, report.summary.succeeded], [100_000, 100_000, invalid, 100_000 - invalid]);
  assert.deepEqual(report.error_categories, { ValidationError: invalid });
  assert.ok(report.summary.warnings > 0, 'lowercase states trip the warn-level pattern');
  assert.equal(report.errors.length, 100);
  assert.equal(report.errors_truncated, invalid - 100);
  assert.match(report.errors[0]!.message, /leads\.ndjson line [\d,]+, field "email"/);

  // stderr is not a TTY here: one JSON line per progress event.
  const events = result.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  assert.equal(events[0]!.type, 'run_started');
  assert.ok(events.filter((e) => e.type === 'progress').length >= 100);
  assert.equal(events.at(-1)!.type, 'run_finished');

  // Files: split at 50,000 records, sha256 as reported, sidecars, manifest; decoded rows equal the mapped leads.
  const files = report.artifacts.files;
  assert.deepEqual(files.map((f) => f.records), [50_000, 100_000 - invalid - 50_000]);
  const out = join(dir, 'out');
  const rows: Record<string, string>[] = [];
  for (const f of files) {
    const bytes = readFileSync(join(out, f.name));
    assert.equal(sha256(bytes), f.sha256);
    assert.equal(bytes.length, f.bytes);
    assert.equal(readFileSync(join(out, `${f.name}.sha256`), 'utf8'), `${f.sha256}  ${f.name}\n`);
    const text = gunzipSync(bytes).toString('utf8');
    assert.ok(text.startsWith('lead_id,email,phone,state,first_name,last_name,created_at\r\n'));
    rows.push(...(parse(text, { columns: true }) as Record<string, string>[]));
  }
  const valid = leads.filter((l) => !String(l.email).trim().endsWith('@'));
  assert.equal(rows.length, valid.length);
  for (const i of [0, 1, 4_999, rows.length - 1]) {
    const lead = valid[i]!;
    assert.deepEqual(rows[i], {
      lead_id: lead.id, email: String(lead.email).trim().toLowerCase(), phone: String(lead.phone).replace(/\D/g, ''),
      state: String(lead.state).toUpperCase(), first_name: lead.first_name, last_name: lead.last_name, created_at: lead.created_at,
    });
  }
  const manifestName = readdirSync(out).find((n) => n.endsWith('.manifest.json'))!;
  const manifest = JSON.parse(readFileSync(join(out, manifestName), 'utf8')) as { record_count: number; files: { sha256: string }[] };
  assert.equal(manifest.record_count, valid.length);
  assert.deepEqual(manifest.files.map((f) => f.sha256), files.map((f) => f.sha256));
  assert.ok(readdirSync(out).every((n) => !n.endsWith('.tmp')));

  // The store kept the run: list and show give the same report.
  const shown = await lading(['runs', 'show', report.job_id, '--json', '--data-dir', join(dir, '.lading')], { cwd: dir });
  assert.deepEqual(lastJsonLine(shown.stdout), report);
  const listed = await lading(['runs', '--json', '--data-dir', join(dir, '.lading')], { cwd: dir });
  assert.deepEqual(lastJsonLine<{ id: string; status: string }[]>(listed.stdout).map((r) => [r.id, r.status]), [[report.job_id, 'completed_with_errors']]);
  const errors = await lading(['runs', 'show', report.job_id, '--errors', '--data-dir', join(dir, '.lading')], { cwd: dir });
  const errorLines = errors.stdout.trim().split('\n').map((l) => JSON.parse(l) as { severity: string });
  assert.equal(errorLines.filter((e) => e.severity === 'block').length, invalid);
});

test('exit codes: 0 clean, 1 failed (missing input), 2 config error', async () => {
  const dir = tempDir();
  const pipeline = (source: string, extra = '') => `name: t\nsource: ${source}\n${extra}output: { type: file, format: ndjson, destination: { type: local, path: out } }\n`;
  writeFileSync(join(dir, 'ok.yaml'), pipeline('{ type: inline, items: [{ a: 1 }, { a: 2 }] }'));
  writeFileSync(join(dir, 'missing.yaml'), pipeline('{ type: file, path: nope.ndjson }'));
  writeFileSync(join(dir, 'bad.yaml'), pipeline('{ type: inline, items: [] }', 'execution: { chunk_sise: 5 }\n'));
  const data = ['--data-dir', join(dir, '.lading')];

  const ok = await lading(['run', 'ok.yaml', '--json', ...data], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  const okReport = lastJsonLine<RunReport>(ok.stdout);
  assert.equal(okReport.status, 'completed');
  assert.equal(readFileSync(okReport.artifacts.files[0]!.uri.replace('file://', ''), 'utf8'), '{"a":1}\n{"a":2}\n');

  const missing = await lading(['run', 'missing.yaml', '--json', ...data], { cwd: dir });
  assert.equal(missing.code, 1);
  const failed = lastJsonLine<RunReport>(missing.stdout);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.failure?.code, 'SOURCE_NOT_FOUND');

  const bad = await lading(['run', 'bad.yaml', ...data], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad\.yaml:3:14 execution\.chunk_sise: unknown key "chunk_sise"/);

  const usage = await lading(['run'], { cwd: dir });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /give a pipeline file, or --resume <run-id>/);
});

test('validate names every problem; ingest then an inbox run delivers the batch once', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  writeFileSync(join(dir, 'bad.yaml'), 'name: t\nsource: { type: file }\noutput: { type: file, format: { type: csv, delimiter: 7 }, destination: { type: local, path: out } }\n');
  const invalid = await lading(['validate', 'bad.yaml', '--json', ...data], { cwd: dir });
  assert.equal(invalid.code, 2);
  const verdict = lastJsonLine<{ valid: boolean; issues: { path: string; location: string }[] }>(invalid.stdout);
  assert.equal(verdict.valid, false);
  assert.deepEqual(verdict.issues.map((i) => i.path).sort(), ['output.format.delimiter', 'source.path']);

  writeFileSync(join(dir, 'inbox.yaml'), 'name: partner\nsource: { type: inbox }\noutput: { type: file, format: csv, naming: "{pipeline}_{batch_id}.{ext}", destination: { type: local, path: out } }\n');
  const valid = await lading(['validate', 'inbox.yaml', ...data], { cwd: dir });
  assert.equal(valid.code, 0, valid.stderr);

  const input = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: i + 1, email: `u${i}@example.com` })).join('\n') + '\n{broken\n';
  const ingested = await lading(['ingest', 'partner', '-', '--format', 'ndjson', '--key-field', 'id', '--json', ...data], { cwd: dir, input });
  assert.equal(ingested.code, 3, ingested.stderr);
  assert.deepEqual(lastJsonLine(ingested.stdout), { pipeline: 'partner', accepted: 1000, duplicates: 0, rejected: 1, pending: 1000 });
  assert.match(ingested.stderr, /stdin line 1,001/);
  const again = await lading(['ingest', 'partner', '-', '--format', 'ndjson', '--key-field', 'id', '--json', ...data], { cwd: dir, input: input.split('\n').slice(0, 10).join('\n') });
  assert.deepEqual(lastJsonLine(again.stdout), { pipeline: 'partner', accepted: 0, duplicates: 10, rejected: 0, pending: 1000 });

  const first = await lading(['run', 'inbox.yaml', '--json', ...data], { cwd: dir });
  assert.equal(first.code, 0, first.stderr);
  const report = lastJsonLine<RunReport>(first.stdout);
  assert.equal(report.summary.succeeded, 1000);
  assert.ok(report.batch_id);
  assert.equal(report.artifacts.files[0]!.name, `partner_${report.batch_id}.csv`);
  const second = await lading(['run', 'inbox.yaml', '--json', ...data], { cwd: dir });
  const empty = lastJsonLine<RunReport>(second.stdout);
  assert.deepEqual([empty.status, empty.summary.processed, empty.artifacts.files.length], ['completed', 0, 0]);
  assert.deepEqual(readdirSync(join(dir, 'out')), [`partner_${report.batch_id}.csv`]);
});

test('a run reading standard input that stops early ends at once, though its input stays open', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'stdin.yaml'), 'name: from-stdin\nsource: { type: file, path: "-", format: ndjson }\n'
    + 'output: { type: file, format: csv, destination: { type: local, path: out } }\nexecution: { chunk_size: 10, failure_threshold: 0.5 }\n');
  const child = spawn(process.execPath, [ladingBin, 'run', 'stdin.yaml', '--json', '--data-dir', join(dir, '.lading')], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.resume();
  // 25 records that fail, and no end of input: the first chunk's failures stop the run while a
  // later chunk still waits for lines 26 to 30, which never come; standard input stays open.
  child.stdin.write(Array.from({ length: 25 }, (_, i) => `{broken ${i}`).join('\n') + '\n');
  let guard: NodeJS.Timeout | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const waited = new Promise<'waiting'>((resolve) => (guard = setTimeout(() => resolve('waiting'), 30_000)));
  try {
    const code = await Promise.race([exited, waited]);
    assert.notEqual(code, 'waiting', 'the run stopped but went on waiting for standard input');
    const report = lastJsonLine<RunReport>(stdout);
    assert.equal(report.status, 'failed');
    assert.match(JSON.stringify(report), /RUN_FAILURE_THRESHOLD/);
  } finally {
    clearTimeout(guard);
    child.stdin.destroy();
    child.kill();
  }
});

test('a reader that goes away ends the command quietly, without an EPIPE stack trace', async () => {
  const child = spawn(process.execPath, [ladingBin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // as `lading --help | head -0` does: nobody reads what comes
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.doesNotMatch(stderr, /EPIPE|Error/);
});

test('lading ingest commits slice after slice in input order; a key seen in an earlier slice is a duplicate', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  // 10,000 lines in slices of 700 (each large enough for the store's ingest thread); ids repeat after 9,000.
  writeFileSync(join(dir, 'in.ndjson'), Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ id: i % 9000, line: i + 1 })).join('\n'));
  const ingested = await lading(['ingest', 'sliced', 'in.ndjson', '--key-field', 'id', '--commit-size', '700', '--json', ...data], { cwd: dir });
  assert.equal(ingested.code, 0, ingested.stderr);
  assert.deepEqual(lastJsonLine(ingested.stdout), { pipeline: 'sliced', accepted: 9000, duplicates: 1000, rejected: 0, pending: 9000 });
  const db = new Database(join(dir, '.lading', 'lading.db'), { readonly: true });
  try {
    const lines = (db.prepare('SELECT data FROM inbox_records ORDER BY id').pluck().all() as string[]).map((text) => (JSON.parse(text) as { line: number }).line);
    assert.deepEqual(lines, Array.from({ length: 9000 }, (_, i) => i + 1), 'the first of each key, in the order read');
  } finally {
    db.close();
  }
});

test('lading ingest stores each NDJSON record as the text it was read from, without serialising it again', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  writeFileSync(join(dir, 'inbox.yaml'), 'name: texts\nsource: { type: inbox }\noutput: { type: file, format: csv, destination: { type: local, path: out } }\n');
  const lines = ['{"id":1,"note":"caf\\u00e9", "n":1.50}', '  {"id":2,"note":"plain"}\t'];
  writeFileSync(join(dir, 'in.ndjson'), lines.join('\r\n') + '\r\n');
  const ingested = await lading(['ingest', 'texts', 'in.ndjson', '--key-field', 'id', ...data], { cwd: dir });
  assert.equal(ingested.code, 0, ingested.stderr);
  const db = new Database(join(dir, '.lading', 'lading.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT data, bytes, idempotency_key AS key FROM inbox_records ORDER BY id').all() as { data: string; bytes: number; key: string }[];
    // As read, ends trimmed: the escape and the number's spelling kept, the key taken from the parsed record.
    assert.deepEqual(rows, [
      { data: '{"id":1,"note":"caf\\u00e9", "n":1.50}', bytes: 37, key: '1' },
      { data: '{"id":2,"note":"plain"}', bytes: 23, key: '2' },
    ]);
  } finally {
    db.close();
  }
});

test('lading ingest keeps each record\'s bytes, key and priority through a commit larger than its first buffer', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  // Non-ASCII text of 2, 3 and 4 bytes a character, and records of 600 KB: one commit outgrows 1 MiB twice.
  const big = (n: number) => 'x'.repeat(600_000 + n);
  const records = [
    { id: 'a', name: 'Zoë', prio: 2 },
    { id: 'b', blob: big(1), prio: 'high' },
    { id: 'c', name: '✓ 😀 日本', blob: big(2) },
    { id: 'd', blob: big(3), prio: 7 },
  ];
  const lines = records.map((record) => JSON.stringify(record));
  writeFileSync(join(dir, 'in.ndjson'), `${lines.join('\n')}\n`);
  const ingested = await lading(['ingest', 'sized', 'in.ndjson', '--key-field', 'id', '--priority-field', 'prio', '--json', ...data], { cwd: dir });
  assert.equal(ingested.code, 0, ingested.stderr);
  assert.deepEqual(lastJsonLine(ingested.stdout), { pipeline: 'sized', accepted: 4, duplicates: 0, rejected: 0, pending: 4 });
  const db = new Database(join(dir, '.lading', 'lading.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT data, bytes, idempotency_key AS key, priority FROM inbox_records ORDER BY id').all() as { data: string; bytes: number; key: string; priority: number | null }[];
    // A priority that is not an integer ("high", none) is no priority.
    assert.deepEqual(rows, lines.map((line, i) => ({ data: line, bytes: Buffer.byteLength(line), key: records[i]!.id, priority: [2, null, null, 7][i] })));
  } finally {
    db.close();
  }
});

test('lading ingest stores a JSON array\'s elements as their text, and a CSV\'s rows as the JSON of their fields', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  writeFileSync(join(dir, 'in.json'), '[\n  {"id": 1, "note": "caf\\u00e9",\n   "n": 1.50},\n  {"id":2}\n]\n');
  writeFileSync(join(dir, 'in.csv'), 'id,note\n3,"a, ""quoted"" note"\n');
  for (const file of ['in.json', 'in.csv']) {
    const ingested = await lading(['ingest', 'texts', file, '--key-field', 'id', ...data], { cwd: dir });
    assert.equal(ingested.code, 0, ingested.stderr);
  }
  const db = new Database(join(dir, '.lading', 'lading.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT data, idempotency_key AS key FROM inbox_records ORDER BY id').all() as { data: string; key: string }[];
    assert.deepEqual(rows, [
      { data: '{"id": 1, "note": "caf\\u00e9",\n   "n": 1.50}', key: '1' },
      { data: '{"id":2}', key: '2' },
      { data: '{"id":"3","note":"a, \\"quoted\\" note"}', key: '3' },
    ]);
  } finally {
    db.close();
  }
});
