import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RestartingThread, ThreadCalls, workerEntry } from '../../../src/core/threads.js';

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

/**
 * A worker answering with answerWaitingCalls (the compiled module: workers run no TypeScript): a
 * `block` call keeps it busy that many ms, so the calls posted meanwhile wait for it together;
 * a batch holding a `fail` call throws.
 */
const batcher = `
  const { workerData } = require('node:worker_threads');
  import(workerData.threads).then(({ answerWaitingCalls }) => answerWaitingCalls((calls) => {
    for (const { block } of calls) for (const end = Date.now() + (block ?? 0); Date.now() < end;);
    if (calls.some((c) => c.fail)) throw Object.assign(new Error('the batch was refused'), { code: 'E_REFUSED' });
    return calls.map(({ n }) => ({ n, batch: calls.length }));
  }));
`;

describe('answerWaitingCalls', () => {
  const threads = workerEntry(new URL('../../../src/core/threads.ts', import.meta.url)).href;
  const start = () => new RestartingThread<{ n?: number; block?: number; fail?: boolean }, { n: number; batch: number }>(
    'the batcher', () => new Worker(batcher, { eval: true, workerData: { threads } }), { eager: true });

  test('the calls waiting behind the one read are answered together, each with its own answer, in order', async () => {
    const thread = start();
    try {
      const answers = await Promise.all([thread.call({ n: 0, block: 200 }), thread.call({ n: 1 }), thread.call({ n: 2 }), thread.call({ n: 3 })]);
      assert.deepEqual(answers.map((a) => a.n), [0, 1, 2, 3]);
      // Posted while the first call held the worker, the last three were read together.
      const batch = answers[3]!.batch;
      assert.ok(batch >= 3, `the last calls came one by one: ${JSON.stringify(answers)}`);
      assert.deepEqual(answers.slice(1).map((a) => a.batch), [batch, batch, batch]);
    } finally {
      await thread.close();
    }
  });

  test('when the batch\'s answer throws, every call of it fails with the message and code, and the worker goes on', async () => {
    const thread = start();
    try {
      const outcome = (call: Promise<unknown>) => call.then(() => 'answered', (error: Error & { code?: string }) => `${error.code}: ${error.message}`);
      const answers = await Promise.all([thread.call({ n: 0, block: 200 }), thread.call({ n: 1 }), thread.call({ n: 2, fail: true })].map(outcome));
      // The first call may have been read alone or with the others; the last two were read together.
      assert.deepEqual(answers.slice(1), ['E_REFUSED: the batch was refused', 'E_REFUSED: the batch was refused']);
      assert.equal((await thread.call({ n: 4 })).n, 4);
    } finally {
      await thread.close();
    }
  });
});
