/** `lading serve` and `lading keys` as a user runs them: the built CLI in child processes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lading, ladingBin } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

test('lading serve on port 0 prints its URL, answers with a key from lading keys create, and exits cleanly on SIGTERM', async () => {
  const dir = tempDir('lading-serve-cli-');
  writeFileSync(join(dir, 'leads.yaml'), 'name: leads\nsource: { type: inbox }\noutput: { type: file, format: ndjson, destination: { type: local, path: out } }\n');
  const data = ['--data-dir', join(dir, '.lading')];

  const created = await lading(['keys', 'create', '--owner', 'ops', '--scope', 'ingest:leads,jobs:read', ...data], { cwd: dir });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^lading_[0-9a-z]{16}_[A-Za-z0-9_-]{43}$/, 'the key alone on stdout');
  const listed = await lading(['keys', 'list', '--json', ...data], { cwd: dir });
  assert.equal(listed.code, 0, listed.stderr);
  const [row] = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; owner: string; scopes: string[] });
  assert.deepEqual({ owner: row!.owner, scopes: row!.scopes }, { owner: 'ops', scopes: ['ingest:leads', 'jobs:read'] });
  assert.ok(!listed.stdout.includes(key.split('_')[2]!), 'the secret is never listed');

  const child = spawn(process.execPath, [ladingBin, 'serve', 'leads.yaml', '--port', '0', ...data], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) resolve(match[1]!);
      });
      child.on('close', (code) => reject(new Error(`lading serve exited ${code} before listening: ${stderr}`)));
    });
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
    const ingested = await fetch(`${url}/v1/pipelines/leads/records`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"id":1}' });
    assert.equal(ingested.status, 202);
    assert.ok(!stderr.includes(key), 'the key is not logged');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);

  const revoked = await lading(['keys', 'revoke', row!.id, ...data], { cwd: dir });
  assert.equal(revoked.code, 0, revoked.stderr);
  const again = await lading(['keys', 'revoke', row!.id, ...data], { cwd: dir });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /API_KEY_NOT_FOUND/);
});
