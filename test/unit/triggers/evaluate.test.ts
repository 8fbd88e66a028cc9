import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../../src/core/clock.js';
import type { InboxStats } from '../../../src/store/types.js';
import { batchConfig } from '../../../src/triggers/config.js';
import { evaluate } from '../../../src/triggers/evaluate.js';

const stats = (s: Partial<InboxStats> = {}): InboxStats => ({ pending: 0, bytes: 0, oldest: null, priorities: [], ...s });
const config = (input: unknown) => batchConfig.parse(input);

test('each trigger cuts with its own reason once met, and not before', () => {
  const now = new Date('2024-06-01T12:00:00Z');
  const c = config({ triggers: [{ type: 'record_count', value: 100 }, { type: 'bytes', value: '1KB' }, { type: 'age', value: '4h' }, { type: 'priority_count', value: 2, min_priority: 5 }] });
  assert.deepEqual(evaluate(c, stats({ pending: 99, bytes: 999, oldest: new Date('2024-06-01T08:00:01Z'), priorities: [{ priority: 9, count: 1 }, { priority: 4, count: 5 }] }), now, false), { reason: null, held: false });
  assert.equal(evaluate(c, stats({ pending: 100 }), now, false).reason, 'count');
  assert.equal(evaluate(c, stats({ pending: 3, bytes: 1000 }), now, false).reason, 'bytes');
  assert.equal(evaluate(c, stats({ pending: 1, oldest: new Date('2024-06-01T08:00:00Z') }), now, false).reason, 'age');
  assert.equal(evaluate(c, stats({ pending: 2, priorities: [{ priority: 7, count: 1 }, { priority: 5, count: 1 }] }), now, false).reason, 'priority');
  assert.equal(evaluate(c, stats(), now, false).reason, null, 'an empty inbox cuts nothing');
});

test('when several are met the first declared wins; a due schedule cuts even with nothing pending', () => {
  const now = new Date('2024-06-01T12:00:00Z');
  const c = config({ triggers: [{ type: 'schedule', cron: '0 2 * * *' }, { type: 'record_count', value: 1 }] });
  assert.equal(evaluate(c, stats({ pending: 5 }), now, true).reason, 'schedule');
  assert.equal(evaluate(c, stats({ pending: 5 }), now, false).reason, 'count');
  assert.equal(evaluate(c, stats(), now, true).reason, 'schedule');
});

test('rules: a hold window across midnight in its time zone stops automatic cuts; a busy window cuts at min_pending', async () => {
  const c = config({
    triggers: [{ type: 'record_count', value: 10_000 }, { type: 'schedule', cron: '0 * * * *' }],
    rules: [
      { between: ['10:00', '14:00'], timezone: 'America/New_York', min_pending: 1000 },
      { between: ['22:00', '06:00'], timezone: 'America/New_York', hold: true },
    ],
  });
  const clock = manualClock('2024-06-01T13:59:00Z'); // 09:59 EDT
  const busy = stats({ pending: 1000 });
  assert.deepEqual(evaluate(c, busy, clock.now(), false), { reason: null, held: false });
  await clock.advance(60_000); // 10:00 EDT
  assert.deepEqual(evaluate(c, busy, clock.now(), false), { reason: 'rule', held: false });
  assert.equal(evaluate(c, stats({ pending: 10_000 }), clock.now(), false).reason, 'rule', 'an active rule comes before the triggers');
  assert.equal(evaluate(c, stats({ pending: 999 }), clock.now(), true).reason, 'schedule', 'triggers still apply in a min_pending window');
  await clock.advance(12 * 3600_000); // 22:00 EDT
  assert.deepEqual(evaluate(c, stats({ pending: 50_000 }), clock.now(), true), { reason: null, held: true });
  await clock.advance(7 * 3600_000 + 59 * 60_000); // 05:59 EDT the next day
  assert.equal(evaluate(c, stats({ pending: 50_000 }), clock.now(), false).held, true);
  await clock.advance(60_000); // 06:00: the hold ends
  assert.deepEqual(evaluate(c, stats({ pending: 50_000 }), clock.now(), false), { reason: 'count', held: false });
});
