import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Batch } from '../../src/store/types.js';
import { lading, ladingBin } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const pipeline = (records: number, chunk = 1000) => `name: leads
source: { type: inbox }
output: { type: file, format: ndjson, naming: "leads_{batch_id}.ndjson", destination: { type: local, path: ./out } }
execution: { chunk_size: ${chunk} }
batch:
  triggers:
    - { type: record_count, value: ${records} }
`;

async function batches(dir: string): Promise<Batch[]> {
  const store = await openSqliteStore(join(dir, '.lading', 'lading.db'));
  try {
    const found: Batch[] = [];
    for (const name of readdirSync(join(dir, 'out'))) {
      const batch = await store.getBatch(name.replace(/^leads_/, '').replace(/\.ndjson$/, ''));
      if (batch) found.push(batch);
    }
    return found;
  } finally {
    await store.close();
  }
}

const events = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; batch_id?: string; reason?: string; status?: string });

test('`lading ingest` refuses a pipeline file that does not read from an inbox, naming it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'files.yaml'), 'name: files\nsource: { type: file, path: in.ndjson }\noutput: { type: file, format: ndjson, destination: { type: local, path: ./out } }\n');
  writeFileSync(join(dir, 'a.ndjson'), '{"n":1}\n');
  const refused = await lading(['ingest', 'files.yaml', 'a.ndjson', '--data-dir', join(dir, '.lading')], { cwd: dir });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /files\.yaml: pipeline files reads from file, not an inbox/);
  const missing = await lading(['ingest', 'nowhere.yaml', 'a.ndjson', '--data-dir', join(dir, '.lading')], { cwd: dir });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read pipeline file nowhere\.yaml/);
});

test('records ingested with `lading ingest` (by pipeline name or file) are cut by record_count and delivered by `lading triggers`, reason count', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'pipeline.yaml'), pipeline(5));
  writeFileSync(join(dir, 'a.ndjson'), [1, 2, 3].map((n) => JSON.stringify({ n })).join('\n') + '\n');
  writeFileSync(join(dir, 'b.ndjson'), [4, 5].map((n) => JSON.stringify({ n })).join('\n') + '\n');
  const data = ['--data-dir', join(dir, '.lading')];

  assert.equal((await lading(['ingest', 'leads', 'a.ndjson', ...data], { cwd: dir })).code, 0);
  const below = await lading(['triggers', 'pipeline.yaml', '--once', ...data], { cwd: dir });
  assert.equal(below.code, 0, below.stderr);
  assert.deepEqual(events(below.stdout), [], 'three records do not meet record_count 5');

  // The pipeline's file names its inbox as well as its name does.
  assert.equal((await lading(['ingest', 'pipeline.yaml', 'b.ndjson', ...data], { cwd: dir })).code, 0);
  const met = await lading(['triggers', 'pipeline.yaml', '--once', ...data], { cwd: dir });
  assert.equal(met.code, 0, met.stderr);
  assert.deepEqual(events(met.stdout).map((e) => [e.type, e.reason ?? e.status]), [['batch_cut', 'count'], ['batch_finished', 'completed']]);
  const [batch] = await batches(dir);
  assert.deepEqual([batch?.reason, batch?.records, batch?.status], ['count', 5, 'delivered']);
  const lines = readFileSync(join(dir, 'out', `leads_${batch!.id}.ndjson`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { n: number });
  assert.deepEqual(lines.map((l) => l.n), [1, 2, 3, 4, 5]);

  const nothing = await lading(['flush', 'pipeline.yaml', ...data], { cwd: dir });
  assert.deepEqual([nothing.code, nothing.stdout.trim()], [0, 'nothing pending in the inbox of leads']);
});

test('a scheduler killed between cut and delivery: the restarted one delivers the same batch and cuts no other', async () => {
  const dir = tempDir();
  const records = 30_000;
  writeFileSync(join(dir, 'pipeline.yaml'), pipeline(records, 50));
  writeFileSync(join(dir, 'in.ndjson'), Array.from({ length: records }, (_, n) => JSON.stringify({ n })).join('\n') + '\n');
  const data = ['--data-dir', join(dir, '.lading')];
  assert.equal((await lading(['ingest', 'leads', 'in.ndjson', ...data], { cwd: dir })).code, 0);

  // The loop cuts the batch at its first tick; it is killed as soon as it says so.
  const cutId = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [ladingBin, 'triggers', 'pipeline.yaml', ...data], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let id = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffer += text;
      const cut = events(buffer.slice(0, buffer.lastIndexOf('\n') + 1)).find((e) => e.type === 'batch_cut');
      if (cut && !id) {
        id = cut.batch_id!;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', () => (id ? resolve(id) : reject(new Error('the scheduler exited without cutting'))));
  });
  const store = await openSqliteStore(join(dir, '.lading', 'lading.db'));
  try {
    assert.equal((await store.getBatch(cutId))?.status, 'open', 'killed before the batch was delivered');
  } finally {
    await store.close();
  }

  const restarted = await lading(['triggers', 'pipeline.yaml', '--once', ...data], { cwd: dir });
  assert.equal(restarted.code, 0, restarted.stderr);
  assert.deepEqual(events(restarted.stdout).map((e) => [e.type, e.batch_id]), [['batch_resumed', cutId], ['batch_finished', cutId]]);
  const delivered = await batches(dir);
  assert.deepEqual(delivered.map((b) => [b.id, b.reason, b.records, b.status]), [[cutId, 'count', records, 'delivered']]);
  const ns = readFileSync(join(dir, 'out', `leads_${cutId}.ndjson`), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { n: number }).n);
  assert.deepEqual(ns, Array.from({ length: records }, (_, n) => n), 'every record once, in order');
});
