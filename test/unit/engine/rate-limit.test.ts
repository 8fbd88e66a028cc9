import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manualClock } from '../../../src/core/clock.js';
import { TokenBucket } from '../../../src/engine/rate-limit.js';

const signal = new AbortController().signal;
const settle = () => new Promise<void>((r) => setImmediate(r));

test('a burst goes out at once, then requests flow at the rate', async () => {
  const clock = manualClock();
  const gate = new TokenBucket(clock, 10, 5);
  let granted = 0;
  for (let i = 0; i < 12; i++) void gate.acquire(signal).then(() => granted++);
  await settle();
  assert.equal(granted, 5);
  await clock.advance(100);
  assert.equal(granted, 6);
  await clock.advance(600);
  assert.equal(granted, 12);
});

test('pauseFor holds every request until the pause ends (Retry-After)', async () => {
  const clock = manualClock();
  const gate = new TokenBucket(clock, undefined);
  await gate.acquire(signal);
  gate.pauseFor(2000);
  let granted = false;
  void gate.acquire(signal).then(() => (granted = true));
  await clock.advance(1999);
  assert.equal(granted, false);
  await clock.advance(1);
  assert.equal(granted, true);
});

test('the shared pause flag is set by a pause and cleared by the first acquire that finds none in force', async () => {
  const clock = manualClock();
  const gate = new TokenBucket(clock, undefined);
  assert.equal(Atomics.load(gate.paused, 0), 0);
  gate.pauseFor(500);
  assert.equal(Atomics.load(gate.paused, 0), 1, 'threads must ask while the pause is in force');
  const waiting = gate.acquire(signal);
  await clock.advance(499);
  assert.equal(Atomics.load(gate.paused, 0), 1);
  await clock.advance(1);
  await waiting;
  assert.equal(Atomics.load(gate.paused, 0), 0, 'the pause is over: threads go without asking');
  gate.pauseFor(100);
  await clock.advance(200);
  assert.equal(Atomics.load(gate.paused, 0), 1, 'stays set until someone asks after the pause');
  await gate.acquire(signal);
  assert.equal(Atomics.load(gate.paused, 0), 0);
});

test('an aborted waiter does not block the ones behind it', async () => {
  const clock = manualClock();
  const gate = new TokenBucket(clock, 1, 1);
  await gate.acquire(signal);
  const controller = new AbortController();
  const first = gate.acquire(controller.signal);
  let second = false;
  void gate.acquire(signal).then(() => (second = true));
  controller.abort();
  await assert.rejects(first);
  await clock.advance(1000);
  assert.equal(second, true);
});

test('without a rate or a pause a request goes at once; one arriving while others wait on a pause queues behind them', async () => {
  const clock = manualClock();
  const gate = new TokenBucket(clock, undefined);
  await gate.acquire(signal);
  const aborted = new AbortController();
  aborted.abort(new Error('cancelled'));
  await assert.rejects(gate.acquire(aborted.signal), /cancelled/);

  const order: string[] = [];
  gate.pauseFor(100);
  void gate.acquire(signal).then(() => {
    order.push('a');
    // b still waits its turn: c comes after it, though the pause is over.
    void gate.acquire(signal).then(() => order.push('c'));
  });
  void gate.acquire(signal).then(() => order.push('b'));
  await clock.advance(100);
  await settle();
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.equal(gate.pausedFor(), 0);
});
