import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchConfig } from '../../../src/triggers/config.js';
import { Schedule, scheduleAction } from '../../../src/triggers/schedule.js';

type Dst = { nonexistent?: 'shift' | 'skip'; ambiguous?: 'first' | 'last' | 'both' };

function schedule(cron: string, timezone: string, dst: Dst = {}, missed?: 'skip' | 'once' | 'all') {
  const { triggers: [trigger] } = batchConfig.parse({ triggers: [{ type: 'schedule', cron, timezone, dst, ...(missed ? { missed } : {}) }] });
  if (trigger?.type !== 'schedule') throw new Error('expected a schedule');
  return { trigger, schedule: new Schedule(trigger) };
}

const iso = (dates: readonly Date[]) => dates.map((d) => d.toISOString());
const d = (text: string) => new Date(text);

// America/New_York 2024: clocks jump 02:00 EST → 03:00 EDT on March 10 (07:00Z), and fall back
// 02:00 EDT → 01:00 EST on November 3 (06:00Z).
describe('schedule fire times in America/New_York across DST', () => {
  test('spring forward: a local time that does not exist shifts to when the clocks jump past it', () => {
    const { schedule: s } = schedule('30 2 * * *', 'America/New_York', { nonexistent: 'shift' });
    assert.deepEqual(iso(s.next(d('2024-03-09T00:00:00Z'), 3)), [
      '2024-03-09T07:30:00.000Z', // 02:30 EST
      '2024-03-10T07:00:00.000Z', // 02:30 does not exist: 03:00 EDT
      '2024-03-11T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  test('spring forward: with nonexistent skip, that day has no fire', () => {
    const { schedule: s } = schedule('30 2 * * *', 'America/New_York', { nonexistent: 'skip' });
    assert.deepEqual(iso(s.next(d('2024-03-09T00:00:00Z'), 3)), ['2024-03-09T07:30:00.000Z', '2024-03-11T06:30:00.000Z', '2024-03-12T06:30:00.000Z']);
  });

  test('spring forward: several fires inside the gap shift to one instant and fire once', () => {
    const { schedule: s } = schedule('*/20 2 * * *', 'America/New_York', { nonexistent: 'shift' });
    assert.deepEqual(iso(s.next(d('2024-03-10T06:00:00Z'), 2)), ['2024-03-10T07:00:00.000Z', '2024-03-11T06:00:00.000Z']);
  });

  test('fall back: a local time that occurs twice fires at its first, its last, or both occurrences', () => {
    const after = d('2024-11-02T12:00:00Z');
    assert.deepEqual(iso(schedule('30 1 * * *', 'America/New_York', { ambiguous: 'first' }).schedule.next(after, 2)),
      ['2024-11-03T05:30:00.000Z', '2024-11-04T06:30:00.000Z']); // 01:30 EDT, then 01:30 EST the next day
    assert.deepEqual(iso(schedule('30 1 * * *', 'America/New_York', { ambiguous: 'last' }).schedule.next(after, 2)),
      ['2024-11-03T06:30:00.000Z', '2024-11-04T06:30:00.000Z']);
    assert.deepEqual(iso(schedule('30 1 * * *', 'America/New_York', { ambiguous: 'both' }).schedule.next(after, 3)),
      ['2024-11-03T05:30:00.000Z', '2024-11-03T06:30:00.000Z', '2024-11-04T06:30:00.000Z']);
  });

  test('fall back with both: an interval schedule runs through the repeated hour in time order', () => {
    const { schedule: s } = schedule('*/30 * * * *', 'America/New_York', { ambiguous: 'both' });
    assert.deepEqual(iso(s.next(d('2024-11-03T04:45:00Z'), 6)), [
      '2024-11-03T05:00:00.000Z', '2024-11-03T05:30:00.000Z', // 01:00, 01:30 EDT
      '2024-11-03T06:00:00.000Z', '2024-11-03T06:30:00.000Z', // 01:00, 01:30 EST
      '2024-11-03T07:00:00.000Z', '2024-11-03T07:30:00.000Z', // 02:00, 02:30 EST
    ]);
    // Asked from inside the first pass, the second pass is still ahead.
    assert.deepEqual(iso(s.next(d('2024-11-03T05:40:00Z'), 2)), ['2024-11-03T06:00:00.000Z', '2024-11-03T06:30:00.000Z']);
  });

  test('weekdays only: MON-FRI at 02:00 skips the weekend (and the DST Sunday)', () => {
    const { schedule: s } = schedule('0 2 * * MON-FRI', 'America/New_York');
    assert.deepEqual(iso(s.next(d('2024-03-08T12:00:00Z'), 3)), [
      '2024-03-11T06:00:00.000Z', '2024-03-12T06:00:00.000Z', '2024-03-13T06:00:00.000Z', // 02:00 EDT Mon–Wed
    ]);
    assert.deepEqual(iso(s.next(d('2024-03-07T12:00:00Z'), 1)), ['2024-03-08T07:00:00.000Z']); // Friday 02:00 EST
  });

  test('a leading seconds field fires within the minute', () => {
    const { schedule: s } = schedule('*/15 * * * * *', 'UTC');
    assert.deepEqual(iso(s.next(d('2024-06-01T10:00:07.250Z'), 3)), ['2024-06-01T10:00:15.000Z', '2024-06-01T10:00:30.000Z', '2024-06-01T10:00:45.000Z']);
  });

  test('latest finds the last fire in a window, or null', () => {
    const { schedule: s } = schedule('0 2 * * MON-FRI', 'America/New_York');
    assert.deepEqual(s.latest(d('2024-03-01T00:00:00Z'), d('2024-03-10T23:00:00Z')), d('2024-03-08T07:00:00Z'));
    assert.equal(s.latest(d('2024-03-09T00:00:00Z'), d('2024-03-10T23:00:00Z')), null);
  });
});

describe('missed fires (the scheduler was down)', () => {
  // Hourly; the last fire acted on was 00:00; the scheduler came back at 05:30 and ticks at 05:30:10.
  const last = d('2024-06-01T00:00:00Z');
  const upSince = d('2024-06-01T05:30:00Z');
  const now = d('2024-06-01T05:30:10Z');

  test('skip consumes the missed fires without a cut', () => {
    const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, 'skip');
    assert.deepEqual(scheduleAction(s, trigger, last, now, upSince), { fire: d('2024-06-01T05:00:00Z'), cut: false });
  });

  test('once makes one catch-up cut for all of them', () => {
    const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, 'once');
    assert.deepEqual(scheduleAction(s, trigger, last, now, upSince), { fire: d('2024-06-01T05:00:00Z'), cut: true });
  });

  test('all replays each missed fire in order, each with the records up to it', () => {
    const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, 'all');
    const fires: string[] = [];
    for (let at = last; ;) {
      const action = scheduleAction(s, trigger, at, now, upSince);
      if (action === null) break;
      assert.ok(action.cut && action.until?.getTime() === action.fire.getTime());
      fires.push(action.fire.toISOString().slice(11, 16));
      at = action.fire;
    }
    assert.deepEqual(fires, ['01:00', '02:00', '03:00', '04:00', '05:00']);
  });

  test('fires while the scheduler was up are on time whatever the policy, folded into one cut', () => {
    for (const missed of ['skip', 'once', 'all'] as const) {
      const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, missed);
      assert.deepEqual(scheduleAction(s, trigger, last, d('2024-06-01T02:00:05Z'), d('2024-06-01T00:30:00Z')), { fire: d('2024-06-01T02:00:00Z'), cut: true });
    }
  });

  test('a fire within grace before the start is on time; nothing due is null', () => {
    const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, 'skip');
    assert.deepEqual(scheduleAction(s, trigger, d('2024-06-01T04:00:00Z'), d('2024-06-01T05:00:40Z'), d('2024-06-01T05:00:30Z')), { fire: d('2024-06-01T05:00:00Z'), cut: true });
    assert.equal(scheduleAction(s, trigger, d('2024-06-01T05:00:00Z'), d('2024-06-01T05:59:59Z'), upSince), null);
  });

  test('skip still cuts for an on-time fire that follows missed ones', () => {
    const { trigger, schedule: s } = schedule('0 * * * *', 'UTC', {}, 'skip');
    assert.deepEqual(scheduleAction(s, trigger, last, d('2024-06-01T03:00:01Z'), d('2024-06-01T02:30:00Z')), { fire: d('2024-06-01T03:00:00Z'), cut: true });
  });
});
