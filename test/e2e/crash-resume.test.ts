import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { RunReport } from '../../src/core/report.js';
import { ladingBin, lading, lastJsonLine } from '../support/cli.js';
import { startRecordingServer } from '../support/servers/http.js';
import { tempDir } from '../support/tmp.js';

const ITEMS = 100_000;
const CHUNK = 1000;

/** Starts `lading run`, SIGKILLs it once `killAfter` chunks were committed, and returns the run id. */
function runAndKill(dir: string, killAfter: number): Promise<{ runId: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ladingBin, 'run', 'pipeline.yaml', '--data-dir', join(dir, '.lading')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let runId = '';
    let buffer = '';
    let killed = false;
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      buffer += text;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const event = JSON.parse(buffer.slice(0, nl)) as { type: string; run_id?: string; chunk_index?: number };
        buffer = buffer.slice(nl + 1);
        if (event.type === 'run_started') runId = event.run_id!;
        if (event.type === 'progress' && event.chunk_index! + 1 >= killAfter && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', () => resolve({ runId, killed }));
  });
}

test('SIGKILL at random points, then --resume: every item arrives; repeats only within one chunk and with equal idempotency keys', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'items.ndjson'), Array.from({ length: ITEMS }, (_, i) => `{"id":${i + 1},"sku":"S-${i + 1}"}`).join('\n') + '\n');
  const killPoints = fc.sample(fc.integer({ min: 3, max: 95 }), { numRuns: 3, seed: Date.now() % 100000 });
  for (const killAfter of killPoints) {
    const server = await startRecordingServer(() => ({ status: 200, body: { ok: true } }));
    try {
      writeFileSync(join(dir, 'pipeline.yaml'), `name: crash-${killAfter}
source: { type: file, path: items.ndjson }
output: { type: http, url: "${server.url}/items", batch_size: 100 }
execution: { chunk_size: ${CHUNK}, concurrency: 1 }
`);
      const { runId, killed } = await runAndKill(dir, killAfter);
      assert.ok(killed && runId, `the run should have been killed after chunk ${killAfter}`);
      const resumed = await lading(['run', '--resume', runId, '--json', '--quiet', '--data-dir', join(dir, '.lading')], { cwd: dir });
      assert.equal(resumed.code, 0, resumed.stderr);
      const report = lastJsonLine<RunReport>(resumed.stdout);
      assert.deepEqual([report.job_id, report.status, report.summary.processed, report.summary.succeeded], [runId, 'completed', ITEMS, ITEMS]);

      // What the partner received: each item at least once; an item seen twice was in the chunk
      // in flight at the kill, and came again under the same idempotency key.
      const seen = new Map<number, string[]>();
      for (const request of server.requests) {
        const key = request.headers['idempotency-key'] as string;
        for (const item of request.body as { id: number }[]) seen.set(item.id, [...(seen.get(item.id) ?? []), key]);
      }
      assert.equal(seen.size, ITEMS, `trial ${killAfter}: every item was received`);
      const repeated = [...seen].filter(([, keys]) => keys.length > 1);
      const chunks = new Set(repeated.map(([id]) => Math.floor((id - 1) / CHUNK)));
      assert.ok(chunks.size <= 1, `trial ${killAfter}: repeats span ${chunks.size} chunks`);
      for (const [id, keys] of repeated) assert.equal(new Set(keys).size, 1, `item ${id} came back with a different idempotency key`);
    } finally {
      await server.stop();
    }
  }
});
