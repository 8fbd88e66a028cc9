/** The audit log as an operator at a terminal makes and reads it: the built CLI in child processes. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lading } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

interface Row { at: string; actor: string; key_id: string | null; action: string; target: string; pipeline: string | null; details: Record<string, unknown> | null }

test('keys, dead-letter skips and flushes from the CLI are audited as cli:<user>@<host>; lading audit filters by actor and time', async () => {
  const dir = tempDir('lading-cli-audit-');
  const data = ['--data-dir', join(dir, '.lading')];
  const run = (...args: string[]) => lading([...args, ...data], { cwd: dir });
  writeFileSync(join(dir, 'products.yaml'), [
    'name: products', 'source: { type: inline, items: [{ sku: a }, { name: no-sku }] }', 'validate: { required: [sku] }',
    'output: { type: file, format: ndjson, destination: { type: local, path: out } }', 'execution: { success_threshold: 0.5 }', '',
  ].join('\n'));
  writeFileSync(join(dir, 'leads.yaml'), 'name: leads\nsource: { type: inbox }\noutput: { type: file, format: ndjson, destination: { type: local, path: out-leads } }\n');

  const created = await run('keys', 'create', '--owner', 'partner', '--scope', 'jobs:read', '--json');
  assert.equal(created.code, 0, created.stderr);
  const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
  assert.equal((await run('keys', 'revoke', id)).code, 0);
  const runResult = await run('run', 'products.yaml', '--json', '--quiet');
  const runId = (JSON.parse(runResult.stdout) as { job_id: string }).job_id;
  assert.equal((await run('dlq', 'skip', runId)).code, 0);
  assert.equal((await run('flush', 'leads.yaml')).code, 0);

  const audited = await run('audit', '--json');
  assert.equal(audited.code, 0, audited.stderr);
  const rows = audited.stdout.trim().split('\n').map((line) => JSON.parse(line) as Row);
  assert.deepEqual(rows.map((r) => `${r.action} ${r.target}`), ['pipeline.flush leads', `dead_letters.skip ${runId}`, `key.revoke ${id}`, `key.create ${id}`]);
  const actor = rows[0]!.actor;
  assert.match(actor, /^cli:[^@]+@.+$/);
  assert.ok(rows.every((r) => r.actor === actor && r.key_id === null));
  assert.deepEqual(rows[1]!.details, { error_type: null, item_id: null, skipped: 1 });
  assert.equal(rows[1]!.pipeline, 'products');
  assert.deepEqual(rows[3]!.details, { owner: 'partner', scopes: ['jobs:read'] });
  // The whole secret (it may hold '_' itself: a piece of it could turn up by chance).
  assert.ok(!audited.stdout.includes(key.split('_').slice(2).join('_')), 'the key is never recorded');

  assert.equal((await run('audit', '--json', '--actor', 'cli:nobody@nowhere')).stdout, '');
  assert.equal((await run('audit', '--json', '--since', new Date(Date.now() + 3_600_000).toISOString())).stdout, '');
  assert.equal((await run('audit', '--json', '--since', '1h')).stdout.trim().split('\n').length, 4);
  const text = await run('audit');
  assert.match(text.stdout, new RegExp(`key\\.create ${id}`));
  assert.equal((await run('audit', '--since', 'yesterday-ish')).code, 2, 'a bad --since is a usage error');
});
