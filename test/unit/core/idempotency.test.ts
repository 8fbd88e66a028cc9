import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idempotencyKey } from '../../../src/core/idempotency.js';

// Keys reach partners and must not change between versions: a run resumed after an upgrade sends
// its chunks again with the keys the partner already saw. The group value below was computed with
// the first implementation (one hash update per id, then one per line feed).
test('idempotency keys keep their format: run and id for one item, run, count and digest for a group', () => {
  assert.equal(idempotencyKey('run_7', [{ id: 'leads.ndjson:4' }]), 'run_7:leads.ndjson:4');
  const group = ['leads.ndjson:1', 'leads.ndjson:2', 'leads.ndjson:4'].map((id) => ({ id }));
  assert.equal(idempotencyKey('run_7', group), 'run_7:3:63aa2d56e32a3ead05ca78b72ec2a5b9');
  assert.notEqual(idempotencyKey('run_7', group.slice(0, 2)), idempotencyKey('run_7', group), 'another group, another key');
});
