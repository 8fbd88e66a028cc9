// `lading deliveries check` as a user runs it: a delivered file waits for the partner's ack file;
// once it is there the delivery is acknowledged and `deliveries show` says how. A second pipeline
// with a timeout already past reports DEST_ACK_TIMEOUT and exits 3, alerting once.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lading } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const pipeline = (name: string, timeout: string) => [
  `name: ${name}`,
  'source: { type: inline, items: [{ id: 1 }, { id: 2 }] }',
  `output: { type: file, format: csv, naming: "${name}_{batch_id}.{ext}", destination: { type: local, path: out } }`,
  `delivery: { acknowledgment: { require: true, ack_pattern: "{name}.ok", timeout: ${timeout} } }`,
].join('\n');

test('lading deliveries check acknowledges a file once its ack file appears; a timed-out one exits 3 with DEST_ACK_TIMEOUT', async () => {
  const dir = tempDir();
  const data = ['--data-dir', join(dir, '.lading')];
  writeFileSync(join(dir, 'acked.yaml'), pipeline('acked', '24h'));
  writeFileSync(join(dir, 'late.yaml'), pipeline('late', '1ms'));
  for (const file of ['acked.yaml', 'late.yaml']) assert.equal((await lading(['run', file, '--quiet', ...data], { cwd: dir })).code, 0);

  const waiting = await lading(['deliveries', 'check', '--pipeline', 'acked', '--json', ...data], { cwd: dir });
  assert.equal(waiting.code, 0, waiting.stderr);
  const [first] = JSON.parse(waiting.stdout) as { delivery_id: string; name: string; outcome: string }[];
  assert.equal(first?.outcome, 'waiting');

  writeFileSync(join(dir, 'out', `${first!.name}.ok`), '');
  const acked = await lading(['deliveries', 'check', '--pipeline', 'acked', ...data], { cwd: dir });
  assert.match(acked.stdout, new RegExp(`✔ ${first!.delivery_id} ${first!.name} acknowledged \\(ack_file ${first!.name}\\.ok\\)`));
  const shown = await lading(['deliveries', 'show', first!.delivery_id, ...data], { cwd: dir });
  assert.match(shown.stdout, /acknowledged {2}\(ack_file .*\.ok\)/);

  for (let i = 0; i < 2; i++) {
    const late = await lading(['deliveries', 'check', '--pipeline', 'late', ...data], { cwd: dir });
    assert.equal(late.code, 3);
    assert.match(late.stdout, /✖ .* DEST_ACK_TIMEOUT: .* was not acknowledged by the partner/);
  }
  const status = await lading(['deliveries', 'status', 'late', '--json', ...data], { cwd: dir });
  assert.deepEqual((JSON.parse(status.stdout) as { alerts: { kind: string }[] }).alerts.map((a) => a.kind), ['ack_timeout'], 'alerted once');
});
