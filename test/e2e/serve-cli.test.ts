/** `lading serve` and `lading keys` as a user runs them: the built CLI in child processes. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lading, startServe } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

/** Polls until `probe` yields a value (the scheduler works on its own tick); fails after a generous bound. */
async function waitFor<T>(probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the scheduler did not deliver within 30 s');
}

test('lading serve on port 0 prints its URL, answers with a key from lading keys create, flushes and runs triggers, and exits cleanly on SIGTERM', async () => {
  const dir = tempDir('lading-serve-cli-');
  writeFileSync(join(dir, 'leads.yaml'), [
    'name: leads', 'source: { type: inbox }', 'output: { type: file, format: ndjson, naming: "{batch_id}.ndjson", destination: { type: local, path: out } }',
    'batch: { triggers: [{ type: record_count, value: 2 }, { type: schedule, cron: "0 2 * * *", timezone: UTC }] }', '',
  ].join('\n'));
  const data = ['--data-dir', join(dir, '.lading')];

  const created = await lading(['keys', 'create', '--owner', 'ops', '--scope', 'ingest:leads,jobs:write', ...data], { cwd: dir });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  const secret = /^lading_[0-9a-z]{16}_([A-Za-z0-9_-]{43})$/.exec(key)?.[1];
  assert.ok(secret !== undefined, `the key alone on stdout: ${key}`);
  const listed = await lading(['keys', 'list', '--json', ...data], { cwd: dir });
  assert.equal(listed.code, 0, listed.stderr);
  const [row] = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; owner: string; scopes: string[] });
  assert.deepEqual({ owner: row!.owner, scopes: row!.scopes }, { owner: 'ops', scopes: ['ingest:leads', 'jobs:write'] });
  // The whole secret: it may hold '_' itself, and a piece of it before one could turn up by chance.
  assert.ok(!listed.stdout.includes(secret), 'the secret is never listed');

  const { child, url, exited, stderr: stderrOf } = await startServe(['leads.yaml', ...data], { cwd: dir });
  try {
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const ingest = (body: string) => fetch(`${url}/v1/pipelines/leads/records`, { method: 'POST', headers, body });
    assert.equal((await ingest('{"id":1}')).status, 202);

    // One record stays below the count trigger: a manual flush cuts it and answers once it is delivered.
    const flushed = await (await fetch(`${url}/v1/pipelines/leads/flush`, { method: 'POST', headers: { authorization: headers.authorization } })).json() as
      { batch: { id: string; records: number; flush_reason: string }; report: { status: string } };
    assert.deepEqual([flushed.batch.records, flushed.batch.flush_reason, flushed.report.status], [1, 'manual', 'completed']);
    assert.equal(readFileSync(join(dir, 'out', `${flushed.batch.id}.ndjson`), 'utf8'), '{"id":1}\n');

    // Two more reach the count trigger: the embedded scheduler cuts and delivers them without being asked.
    assert.equal((await ingest('[{"id":2},{"id":3}]')).status, 202);
    // Only a delivered name: the local destination writes <name>.tmp in the folder first, then renames it.
    const second = await waitFor(() => readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.ndjson') && f !== `${flushed.batch.id}.ndjson`).at(0));
    assert.equal(readFileSync(join(dir, 'out', second), 'utf8'), '{"id":2}\n{"id":3}\n');

    const described = await (await fetch(`${url}/v1/pipelines/leads`, { headers: { authorization: headers.authorization } })).json() as { next_trigger: string; queue: { pending: number } };
    assert.match(described.next_trigger, /T02:00:00\.000Z$/, 'the next schedule fire, at 02:00 UTC');
    assert.equal(described.queue.pending, 0);
    assert.ok(!stderrOf().includes(key), 'the key is not logged');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderrOf());

  const revoked = await lading(['keys', 'revoke', row!.id, ...data], { cwd: dir });
  assert.equal(revoked.code, 0, revoked.stderr);
  const again = await lading(['keys', 'revoke', row!.id, ...data], { cwd: dir });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /API_KEY_NOT_FOUND/);
});
