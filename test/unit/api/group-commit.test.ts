import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { GroupCommit } from '../../../src/api/group-commit.js';
import { systemClock } from '../../../src/core/clock.js';
import { openSqliteStore } from '../../../src/index.js';
import type { IngestRequest, Store } from '../../../src/store/types.js';
import { tempDir } from '../../support/tmp.js';

/** A real SQLite store whose ingestRequests calls (the commits) are recorded, and can be held open. */
async function recordedStore(): Promise<{ store: Store; groups: number[][]; hold: () => () => void }> {
  const store = await openSqliteStore(join(tempDir(), 'lading.db'));
  const groups: number[][] = [];
  let gate: Promise<void> | undefined;
  const ingestRequests = store.ingestRequests.bind(store);
  store.ingestRequests = async (requests: readonly IngestRequest[], at: Date) => {
    groups.push(requests.map((r) => r.records[0]!.data.n as number));
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
