import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPattern, renderName } from '../../../src/sinks/file/naming.js';

const values = {
  pipeline: 'partner a/b', batchId: 'batch_0001', runId: 'run_0001', createdAt: new Date('2026-03-08T06:30:00Z'),
  timezone: 'America/New_York', part: 7, records: 1234, ext: 'csv.gz', partition: 'NY',
};

test('tokens render in the configured timezone', () => {
  assert.equal(renderName('leads_{date}_{time}_{batch_id}_{part:3}.{ext}', values), 'leads_20260308_013000_batch_0001_007.csv.gz');
  assert.equal(renderName('{year}/{month}/{day}/{pipeline}-{part}-{records}.{ext}', values), '2026/03/08/partner_a_b-7-1234.csv.gz');
  assert.equal(renderName('{timestamp}', values), String(Date.parse('2026-03-08T06:30:00Z') / 1000));
  assert.equal(renderName('{run_id}', values), 'run_0001');
});

test('patterns that could escape the destination are refused', () => {
  for (const bad of ['../x.csv', 'a/../../x', '/etc/x', 'a//b', 'x\0y', './x', 'C:x']) {
    assert.ok(checkPattern(bad), `${JSON.stringify(bad)} should be refused`);
  }
  assert.match(checkPattern('{nope}.csv')!, /unknown token \{nope\}/);
  assert.equal(checkPattern('{year}/{month}/leads_{part:3}.{ext}'), undefined);
});
