// `lading alerts` as a user runs it: two failing runs in separate processes, one webhook alert
// sent and one held back by min_interval, both listed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lading } from '../support/cli.js';
import { startRecordingServer } from '../support/servers/http.js';
import { tempDir } from '../support/tmp.js';

test('lading alerts lists the notifications of separate runs: one sent, the repeat held back', async () => {
  const hook = await startRecordingServer();
  after(() => hook.stop());
  const dir = tempDir();
  writeFileSync(join(dir, 'pipeline.yaml'), [
    'name: alerting',
    'source: { type: inline, items: [{ id: 1 }] }',
    'validate: { required: [email] }',
    'output: { type: file, format: csv, naming: "{batch_id}.{ext}", destination: { type: local, path: out } }',
    'notify:',
    '  on_failure: [{ type: webhook, url: "${env:HOOK_URL}", secret: "${env:HOOK_SECRET}" }]',
  ].join('\n'));
  const env = { HOOK_URL: `${hook.url}/alerts`, HOOK_SECRET: 'cli-hook-secret-0123456' };
  const data = ['--data-dir', join(dir, '.lading')];
  for (let i = 0; i < 2; i++) assert.equal((await lading(['run', 'pipeline.yaml', '--quiet', ...data], { cwd: dir, env })).code, 1);
  assert.equal(hook.requests.length, 1);

  const json = await lading(['alerts', '-p', 'alerting', '--json', ...data], { cwd: dir });
  assert.equal(json.code, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as { notifications: { event: string; rule: string; channel: string; target: string; status: string }[] };
  assert.deepEqual(listed.notifications.map((n) => [n.event, n.rule, n.channel, n.target, n.status]), [
    ['alert', 'batch_failed', 'webhook', `${hook.url}/alerts`, 'suppressed'],
    ['alert', 'batch_failed', 'webhook', `${hook.url}/alerts`, 'sent'],
  ]);
  assert.doesNotMatch(json.stdout, /cli-hook-secret/);

  const text = await lading(['alerts', ...data], { cwd: dir });
  assert.match(text.stdout, /✔ .* alerting {2}alert batch_failed → webhook .*: sent/);
});
