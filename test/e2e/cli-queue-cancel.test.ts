/** A job queued for workers and cancelled before any worker took it, as an operator does it: the built CLI. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lading } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

test('lading runs cancel ends a queued job at once, and a worker started afterwards finds nothing to do', async () => {
  const dir = tempDir('lading-queue-cancel-');
  const run = (...args: string[]) => lading([...args, '--data-dir', join(dir, '.lading')], { cwd: dir });
  writeFileSync(join(dir, 'sync.yaml'), [
    'name: sync', 'source: { type: inline, items: [{ n: 1 }, { n: 2 }, { n: 3 }] }',
    'output: { type: http, url: "http://127.0.0.1:9/never", batch_size: 1 }', '',
  ].join('\n'));

  const queued = await run('run', '--queue', 'sync.yaml', '--json');
  assert.equal(queued.code, 0, queued.stderr);
  const { job_id: id } = JSON.parse(queued.stdout) as { job_id: string };

  const cancelled = await run('runs', 'cancel', id);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /cancelled while queued/);
  const shown = await run('runs', 'show', id, '--json');
  const report = JSON.parse(shown.stdout.trim().split('\n').at(-1)!) as { status: string; summary: { processed: number } };
  assert.deepEqual([report.status, report.summary.processed], ['cancelled', 0]);

  const again = await run('runs', 'cancel', id);
  assert.equal(again.code, 1, 'a cancelled job is not cancelled twice');
  const audited = JSON.parse((await run('audit', '--json')).stdout.trim().split('\n')[0]!) as { action: string; target: string; details: { was: string } };
  assert.deepEqual([audited.action, audited.target, audited.details.was], ['run.cancel', id, 'queued']);
});
