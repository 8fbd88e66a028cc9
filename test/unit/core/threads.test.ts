import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ThreadCalls } from '../../../src/core/threads.js';

/** A worker that doubles `n`, answers `slow` calls after 50 ms, and exits on `exit`. */
const doubler = `
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', ({ id, n, slow, exit }) => {
    if (exit) process.exit(exit);
    const answer = () => parentPort.postMessage({ id, doubled: n * 2 });
    slow ? setTimeout(answer, 50) : answer();
  });
`;
type Call = { n?: number; slow?: boolean; exit?: number };
const calls = () => new ThreadCalls<Call, { doubled: number }>(new Worker(doubler, { eval: true }), 'the doubler', (message) => new Error(message));

describe('ThreadCalls', () => {
  test('each call gets its own answer, whatever order the answers come in', async () => {
    const thread = calls();
    try {
      const [slow, fast] = await Promise.all([thread.call({ n: 1, slow: true }), thread.call({ n: 5 })]);
      assert.equal(slow.doubled, 2);
      assert.equal(fast.doubled, 10);
      assert.equal(thread.alive, true);
    } finally {
      await thread.close();
    }
  });

  test('a thread that exits fails the calls it held and every later call, naming itself', async () => {
    const thread = calls();
    const held = assert.rejects(thread.call({ n: 1, slow: true }), /the doubler exited with code 3/);
    const exit = assert.rejects(thread.call({ exit: 3 }), /the doubler exited with code 3/);
    await Promise.all([held, exit]);
    assert.equal(thread.alive, false);
    await assert.rejects(thread.call({ n: 2 }), /the doubler exited with code 3/);
    await thread.close();
  });

  test('close fails the calls still waiting', async () => {
    const thread = calls();
    const waiting = assert.rejects(thread.call({ n: 1, slow: true }), /the doubler was closed/);
    await thread.close();
    await waiting;
    assert.equal(thread.alive, false);
  });
});
