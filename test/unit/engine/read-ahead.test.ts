import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { readAhead } from '../../../src/engine/read-ahead.js';

/** A source that records what was asked of it. */
function recorded(values: readonly number[], failAt?: number) {
  const log: string[] = [];
  async function* source(): AsyncGenerator<number> {
    try {
      for (const value of values) {
        if (value === failAt) throw new Error(`cannot read ${value}`);
        log.push(`read ${value}`);
        yield value;
      }
    } finally {
      log.push('closed');
    }
  }
  return { log, source: source() };
}

test('every chunk comes out once, in order, and the source is read to its end', async () => {
  const { log, source } = recorded([1, 2, 3, 4]);
  const out: number[] = [];
  for await (const value of readAhead(source)) out.push(value);
  assert.deepEqual(out, [1, 2, 3, 4]);
  assert.deepEqual(log, ['read 1', 'read 2', 'read 3', 'read 4', 'closed']);
});

test('the next chunk is read after the microtasks queued when one is handed out, and never more than one ahead', async () => {
  const { log, source } = recorded([1, 2, 3]);
  const chunks = readAhead(source);
  assert.deepEqual(await chunks.next(), { value: 1, done: false });
  // What the consumer does with chunk 1 in microtasks (its sink write, its commit) comes first.
  await Promise.resolve();
  log.push('chunk 1 handled');
  assert.deepEqual(log, ['read 1', 'chunk 1 handled']);
  // Then, in a macrotask, chunk 2 is read while the consumer waits (on its commit's fsync) —
  // and nothing further until chunk 2 is taken.
  await nextMacrotask();
  await nextMacrotask();
  assert.deepEqual(log, ['read 1', 'chunk 1 handled', 'read 2']);
  assert.deepEqual(await chunks.next(), { value: 2, done: false });
  await chunks.return();
});

test('a consumer that stops before the next read begins closes the source without reading on', async () => {
  const { log, source } = recorded([1, 2, 3, 4]);
  for await (const value of readAhead(source)) if (value === 2) break;
  await nextMacrotask();
  await nextMacrotask();
  assert.deepEqual(log, ['read 1', 'read 2', 'closed']);
});

test('a consumer that stops while the next read is under way closes the source once it ends', async () => {
  const { log, source } = recorded([1, 2, 3, 4]);
  for await (const value of readAhead(source)) {
    if (value !== 2) continue;
    await nextMacrotask();
    await nextMacrotask();
    break;
  }
  await nextMacrotask();
  assert.deepEqual(log, ['read 1', 'read 2', 'read 3', 'closed']);
});

test('a failing source fails the consumer with its error, and one that fails ahead of an early stop goes unheard', async () => {
  const failing = recorded([1, 2, 3], 3);
  const out: number[] = [];
  await assert.rejects(async () => {
    for await (const value of readAhead(failing.source)) out.push(value);
  }, /cannot read 3/);
  assert.deepEqual(out, [1, 2]);

  const stopped = recorded([1, 2, 3], 2);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    for await (const value of readAhead(stopped.source)) {
      // The next read begins (and fails) before the consumer stops.
      await nextMacrotask();
      await nextMacrotask();
      if (value === 1) break;
    }
    await nextMacrotask();
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
  assert.deepEqual(stopped.log, ['read 1', 'closed']);
});
