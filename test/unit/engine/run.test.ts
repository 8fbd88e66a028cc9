import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePipeline } from '../../../src/config/load.js';
import { fixedClock } from '../../../src/core/clock.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline, type RunEvent } from '../../../src/engine/run.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { assertGolden } from '../../support/golden.js';
import { tempDir } from '../../support/tmp.js';

async function run(pipeline: Record<string, unknown>, opts: { signal?: AbortSignal } = {}) {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const loaded = { ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' };
  const events: RunEvent[] = [];
  try {
    const report = await runPipeline(loaded, {
      store, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds(),
      onEvent: (e) => events.push(e), ...opts,
    });
    return { report, events, dir, store: { runs: await store.listRuns(), errors: await store.listItemErrors(report.job_id) } };
  } finally {
    await store.close();
  }
}

const leads = [
  { id: 1, email: ' Ann@Example.com ', state: 'ny' },
  { id: 2, email: 'not-an-email', state: 'CA' },
  { id: 3, email: 'bob@example.com', state: 'California' },
  { id: 4, state: 'TX' },
];

const pipeline = {
  name: 'golden',
  source: { type: 'inline', items: leads },
  validate: { required: ['email'], rules: { email: { format: 'email' }, state: { pattern: '^[A-Za-z]{2}$', severity: 'warn' } } },
  map: [{ name: 'lead_id', source: 'id' }, { name: 'email', transform: ['trim', 'lowercase'] }, { name: 'state', transform: 'uppercase' }],
  output: { type: 'file', format: 'csv', naming: '{pipeline}_{batch_id}.{ext}', destination: { type: 'local', path: 'out' } },
  execution: { chunk_size: 2, success_threshold: 0.5 },
};

test('a run validates, maps, delivers and reports: golden report with a fixed clock and ids', async () => {
  const { report, events, dir, store } = await run(pipeline);
  assertGolden('reports/inline-csv.json', Buffer.from(`${JSON.stringify({ ...report, artifacts: { files: report.artifacts.files.map((f) => ({ ...f, uri: f.uri.replace(dir, '<dir>'), duration_ms: 0 })) } }, null, 2)}\n`));
  assert.equal(readFileSync(join(dir, 'out', 'golden_run_0001.csv'), 'utf8'), 'lead_id,email,state\n1,ann@example.com,NY\n3,bob@example.com,CALIFORNIA\n');
  assert.deepEqual(events.map((e) => e.type), ['run_started', 'progress', 'progress', 'file_rendered', 'file_delivered', 'run_finished']);
  assert.deepEqual(store.runs.map((r) => [r.id, r.status, r.processed, r.failed, r.lastCheckpoint?.chunkIndex]), [['run_0001', 'completed_with_errors', 4, 2, 1]]);
  assert.deepEqual(store.errors.map((e) => [e.itemId, e.severity, e.code, e.field]), [
    ['inline:2', 'block', 'VALIDATE_FORMAT', 'email'],
    ['inline:3', 'warn', 'VALIDATE_PATTERN', 'state'],
    ['inline:4', 'block', 'VALIDATE_REQUIRED', 'email'],
  ]);
});

test('below success_threshold the run fails and delivers nothing', async () => {
  const { report, dir } = await run({ ...pipeline, execution: { chunk_size: 2, success_threshold: 0.75 } });
  assert.equal(report.status, 'failed');
  assert.deepEqual(report.artifacts.files, []);
  assert.throws(() => readFileSync(join(dir, 'out', 'golden_run_0001.csv')));
});

test('the config snapshot stored with the run keeps ${env:…} references, never their values', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const loaded = { ...parsePipeline({ ...pipeline, output: { ...pipeline.output, destination: { type: 'local', path: '${env:OUT}' } } }, { env: { OUT: 'secret-out' } }), baseDir: dir, origin: '<test>' };
  const report = await runPipeline(loaded, { store, dataDir: join(dir, '.lading') });
  const stored = JSON.stringify((await store.getRun(report.job_id))!.config);
  await store.close();
  assert.ok(stored.includes('${env:OUT}'));
  assert.ok(!stored.includes('secret-out'));
});

test('an aborted run ends cancelled and delivers nothing', async () => {
  const dir = tempDir();
  const controller = new AbortController();
  const many = Array.from({ length: 50 }, (_, i) => ({ id: i, email: `u${i}@example.com` }));
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const cancelled = await runPipeline({ ...parsePipeline({ ...pipeline, source: { type: 'inline', items: many } }, { env: {} }), baseDir: dir, origin: '<test>' }, {
    store, dataDir: join(dir, '.lading'), signal: controller.signal,
    onEvent: (e) => { if (e.type === 'progress') controller.abort(); },
  });
  await store.close();
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.failure?.code, 'RUN_CANCELLED');
  assert.deepEqual(cancelled.artifacts.files, []);
  assert.ok(cancelled.summary.processed < 50);
});
