import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../../src/api/group-commit.js';
import { systemClock } from '../../../src/core/clock.js';
import { openSqliteStore } from '../../../src/index.js';
import type { IngestRequest, Store } from '../../../src/store/types.js';
import { tempDir } from '../../support/tmp.js';

/** A real SQLite store whose ingestRequests calls (the commits) are recorded, and can be held open. */
async function recordedStore(depth = 1): Promise<{ store: Store; groups: number[][]; hold: () => () => void }> {
  const store = await openSqliteStore(join(tempDir(), 'lading.db'));
  Object.defineProperty(store, 'ingestDepth', { value: depth });
  const groups: number[][] = [];
  let gate: Promise<void> | undefined;
  const ingestRequests = store.ingestRequests.bind(store);
  store.ingestRequests = async (requests: readonly IngestRequest[], at: Date) => {
    groups.push(requests.map((r) => r.records[0]!.data!.n as number));
    await gate;
    return ingestRequests(requests, at);
  };
  const hold = () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    return () => {
      gate = undefined;
      release();
    };
  };
  return { store, groups, hold };
}

const one = (n: number): IngestRequest => ({ pipeline: 'p', records: [{ data: { n } }] });

test('requests submitted in one turn of the event loop share one commit, and each is answered after it', async () => {
  const { store, groups } = await recordedStore();
  const commits = new GroupCommit(store, systemClock);
  const outcomes = await Promise.all([1, 2, 3].map((n) => commits.submit(one(n))));
  assert.deepEqual(groups, [[1, 2, 3]]);
  assert.deepEqual(outcomes.map((o) => o.accepted), [1, 1, 1]);
  assert.equal((await store.inboxStats('p')).pending, 3, 'answered means committed');
  await store.close();
});

test('what arrives while a commit runs waits for it and goes together into the next one', async () => {
  const { store, groups, hold } = await recordedStore();
  const commits = new GroupCommit(store, systemClock);
  const release = hold();
  const first = commits.submit(one(1));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(groups, [[1]], 'the first commit started without waiting for company');
  const later = [commits.submit(one(2)), new Promise((resolve) => setImmediate(resolve)).then(() => commits.submit(one(3)))];
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(groups, [[1]], 'no second commit while the first is open');
  release();
  await Promise.all([first, ...later]);
  assert.deepEqual(groups, [[1], [2, 3]]);
  await store.close();
});

test('with a window, the first request waits that long for others', async () => {
  const { store, groups } = await recordedStore();
  const commits = new GroupCommit(store, systemClock, 30);
  const first = commits.submit(one(1));
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = commits.submit(one(2));
  await Promise.all([first, second]);
  assert.deepEqual(groups, [[1, 2]]);
  await store.close();
});

test('a store that keeps the order of calls in flight gets the next group while the first is still committing, up to its depth', async () => {
  const { store, groups, hold } = await recordedStore(2);
  const commits = new GroupCommit(store, systemClock);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const release = hold();
  const answered: number[] = [];
  const submit = (n: number) => commits.submit(one(n)).then(() => void answered.push(n));
  const all = [submit(1)];
  await turn();
  all.push(submit(2));
  await turn();
  assert.deepEqual(groups, [[1], [2]], 'two groups in flight');
  all.push(submit(3), submit(4));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(groups, [[1], [2]], 'no third while two are open');
  assert.deepEqual(answered, []);
  release();
  await Promise.all(all);
  assert.deepEqual(groups, [[1], [2], [3, 4]]);
  assert.deepEqual(answered, [1, 2, 3, 4]);
  assert.equal((await store.inboxStats('p')).pending, 4);
  await store.close();
});

test('drain commits what waits and returns once every request is answered', async () => {
  const { store, groups, hold } = await recordedStore(2);
  const commits = new GroupCommit(store, systemClock, 60_000);
  const release = hold();
  const waiting = [1, 2].map((n) => commits.submit(one(n)));
  setTimeout(release, 10);
  await commits.drain();
  assert.deepEqual(groups, [[1, 2]]);
  assert.deepEqual((await Promise.all(waiting)).map((o) => o.accepted), [1, 1]);
  await store.close();
});
