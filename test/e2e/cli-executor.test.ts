import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunReport } from '../../src/core/report.js';
import type { DryRunReport } from '../../src/engine/dry-run.js';
import { lading, lastJsonLine } from '../support/cli.js';
import { startRecordingServer } from '../support/servers/http.js';
import { tempDir } from '../support/tmp.js';

const leads = ['{"id":1,"email":"a@example.com"}', '{"id":2,"email":"broken@"}', 'not json', '{"id":4,"email":"d@example.com"}', '{"id":5,"email":"e@example.com"}'];

function project(output: string) {
  const dir = tempDir();
  writeFileSync(join(dir, 'leads.ndjson'), `${leads.join('\n')}\n`);
  writeFileSync(join(dir, 'pipeline.yaml'), `name: cli-exec
source: { type: file, path: leads.ndjson }
validate: { required: [email], rules: { email: { format: email } } }
output: ${output}
execution: { success_threshold: 0.4, retry: { attempts: 2, base_delay: 10ms } }
`);
  return { dir, data: ['--data-dir', join(dir, '.lading')] };
}

test('--dry-run reports passed, warnings and blocked with fixes, and stores nothing', async () => {
  const { dir, data } = project('{ type: file, format: csv, destination: { type: local, path: out } }');
  const result = await lading(['run', 'pipeline.yaml', '--dry-run', '--json', ...data], { cwd: dir });
  assert.equal(result.code, 3);
  const report = lastJsonLine<DryRunReport>(result.stdout);
  assert.deepEqual([report.status, report.summary.total_items, report.summary.passed, report.summary.blocked], ['blocked', 5, 3, 2]);
  assert.deepEqual(report.blocked.map((b) => [b.item_id, b.code]), [['leads.ndjson:2', 'VALIDATE_FORMAT'], ['leads.ndjson:3', 'SOURCE_MALFORMED_JSON']]);
  assert.ok(report.blocked.every((b) => b.fix.length > 0));
  assert.equal(existsSync(join(dir, 'out')), false, 'nothing delivered');
  const runs = await lading(['runs', '--json', ...data], { cwd: dir });
  assert.deepEqual(lastJsonLine(runs.stdout), [], 'nothing stored');
});

test('--sample delivers a few items under sample/ and marks the run as a sample', async () => {
  const { dir, data } = project('{ type: file, format: ndjson, naming: "leads.{ext}", destination: { type: local, path: out } }');
  const result = await lading(['run', 'pipeline.yaml', '--sample', '2', '--json', '--quiet', ...data], { cwd: dir });
  const report = lastJsonLine<RunReport>(result.stdout);
  assert.equal(report.mode, 'sample');
  assert.equal(report.summary.processed, 2);
  assert.deepEqual(readdirSync(join(dir, 'out')), ['sample']);
  assert.deepEqual(readFileSync(join(dir, 'out', 'sample', 'leads.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: number }).id), [1, 5]);
});

test('dead letters: listed with data, exported, retried as a linked run with the same idempotency keys, skipped', async () => {
  let reject = true;
  const server = await startRecordingServer((req) => ((req.body as { id: number }).id === 4 && reject ? { status: 422, body: { error: 'unknown sku' } } : { status: 201 }));
  try {
    const { dir, data } = project(`{ type: http, url: "${server.url}/leads" }`);
    const first = lastJsonLine<RunReport>((await lading(['run', 'pipeline.yaml', '--json', '--quiet', ...data], { cwd: dir })).stdout);
    assert.equal(first.status, 'completed_with_errors');
    assert.deepEqual(first.error_categories, { DestinationError: 1, SourceError: 1, ValidationError: 1 });

    const listed = (await lading(['dlq', 'list', '--run', first.job_id, '--json', ...data], { cwd: dir })).stdout.trim().split('\n').map((l) => JSON.parse(l) as { item_id: string; code: string });
    assert.deepEqual(listed.map((l) => [l.item_id, l.code]), [['leads.ndjson:2', 'VALIDATE_FORMAT'], ['leads.ndjson:3', 'SOURCE_MALFORMED_JSON'], ['leads.ndjson:4', 'SINK_HTTP_REJECTED']]);
    const shown = JSON.parse((await lading(['dlq', 'show', first.job_id, 'leads.ndjson:4', ...data], { cwd: dir })).stdout) as { data: unknown; fix: string; message: string };
    assert.deepEqual(shown.data, { id: 4, email: 'd@example.com' });
    assert.match(shown.message, /unknown sku/);
    const exported = (await lading(['dlq', 'export', first.job_id, '--format', 'csv', ...data], { cwd: dir })).stdout;
    assert.match(exported.split('\n')[0]!, /^item_id,code,error,id,email$/);

    const firstKey = server.requests.find((r) => (r.body as { id: number }).id === 4)!.headers['idempotency-key'];
    reject = false;
    const retry = await lading(['dlq', 'retry', first.job_id, '--error-type', 'SINK_HTTP_REJECTED', '--json', '--quiet', ...data], { cwd: dir });
    const second = lastJsonLine<RunReport>(retry.stdout);
    assert.deepEqual([second.status, second.parent_run_id, second.summary.processed], ['completed', first.job_id, 1]);
    const retried = server.requests.filter((r) => (r.body as { id: number }).id === 4);
    assert.equal(retried.length, 2);
    assert.equal(retried[1]!.headers['idempotency-key'], firstKey, 'a retry carries the first attempt\'s key');

    const remaining = (await lading(['dlq', 'list', '--run', first.job_id, '--json', ...data], { cwd: dir })).stdout.trim().split('\n');
    assert.equal(remaining.length, 2);
    const skipped = await lading(['dlq', 'skip', first.job_id, '--error-type', 'ValidationError', ...data], { cwd: dir });
    assert.match(skipped.stdout, /skipped 1 dead letters/);
  } finally {
    await server.stop();
  }
});

test('runs pause and cancel from another terminal take effect at a chunk boundary', async () => {
  const server = await startRecordingServer(() => ({ status: 200, delayMs: 20 }));
  try {
    const dir = tempDir();
    writeFileSync(join(dir, 'items.ndjson'), Array.from({ length: 400 }, (_, i) => `{"id":${i + 1}}`).join('\n') + '\n');
    writeFileSync(join(dir, 'pipeline.yaml'), `name: slow\nsource: { type: file, path: items.ndjson }\noutput: { type: http, url: "${server.url}/x" }\nexecution: { chunk_size: 10 }\n`);
    const data = ['--data-dir', join(dir, '.lading')];
    const running = lading(['run', 'pipeline.yaml', '--json', ...data], { cwd: dir });
    let runId = '';
    for (let i = 0; i < 100 && !runId; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const listed = lastJsonLine<{ id: string; status: string }[]>((await lading(['runs', '--json', ...data], { cwd: dir })).stdout);
      if (listed[0]?.status === 'running') runId = listed[0].id;
    }
    assert.ok(runId, 'the run should show as running');
    assert.equal((await lading(['runs', 'pause', runId, ...data], { cwd: dir })).code, 0);
    await new Promise((r) => setTimeout(r, 1200));
    const paused = lastJsonLine<{ status: string; processed: number }[]>((await lading(['runs', '--json', ...data], { cwd: dir })).stdout)[0]!;
    assert.equal(paused.status, 'paused');
    await new Promise((r) => setTimeout(r, 800));
    const still = lastJsonLine<{ processed: number }[]>((await lading(['runs', '--json', ...data], { cwd: dir })).stdout)[0]!;
    assert.equal(still.processed, paused.processed, 'no chunk commits while paused');
    assert.equal((await lading(['runs', 'cancel', runId, ...data], { cwd: dir })).code, 0);
    const result = await running;
    assert.equal(result.code, 1);
    const report = lastJsonLine<RunReport>(result.stdout);
    assert.equal(report.status, 'cancelled');
    assert.ok(report.summary.processed < 400);
  } finally {
    await server.stop();
  }
});
