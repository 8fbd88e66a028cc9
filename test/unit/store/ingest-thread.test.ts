import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commitTogether, outcomesOf, pack } from '../../../src/store/sqlite/ingest-thread.js';
import { inboxText, type IngestOutcome, type IngestRequest } from '../../../src/store/types.js';

/** The requests as the writer sees them: JSON as text, and what each carries besides. */
const seen = (requests: readonly IngestRequest[]) => requests.map(({ pipeline, requestKey, extra, records }) => ({
  pipeline, requestKey, extra, records: records.map((r) => [inboxText(r), r.key, r.priority]),
}));

test('groups handed over together are written in one call, stamped with the latest receive time, and each answered as its own', () => {
  const first: IngestRequest[] = [
    { pipeline: 'a', records: [{ json: '{"n":1}' }] },
    { pipeline: 'b', records: [{ json: Buffer.from(' {"n":"ö"} ') }, { data: { n: 3 } }] },
  ];
  const second: IngestRequest[] = [
    { pipeline: 'a', requestKey: 'k', extra: [{ index: 2 }], records: [{ json: '{"n":4}', key: 'x', priority: 5 }, { json: '{"n":5}' }] },
    { pipeline: 'a', records: [{ json: '{"n":6}', key: 'x' }] },
  ];
  const calls = [{ group: pack(first), receivedAt: '2026-01-01T00:00:00.000Z' }, { group: pack(second), receivedAt: '2026-01-01T00:00:00.001Z' }];
  const writes: { requests: unknown; receivedAt: string }[] = [];
  // As the store would answer: the first group stored whole; the keyed request a replay, the last a duplicate.
  const outcomes: IngestOutcome[] = [
    { accepted: 1, duplicates: 0, replayed: false },
    { accepted: 2, duplicates: 0, replayed: false },
    { accepted: 1, duplicates: 1, replayed: true, extra: [{ index: 9 }] },
    { accepted: 0, duplicates: 1, replayed: false },
  ];
  const answers = commitTogether(calls, (requests, receivedAt) => {
    writes.push({ requests: seen(requests), receivedAt });
    return outcomes;
  });
  assert.deepEqual(writes, [{
    requests: [
      { pipeline: 'a', requestKey: undefined, extra: undefined, records: [['{"n":1}', undefined, undefined]] },
      { pipeline: 'b', requestKey: undefined, extra: undefined, records: [['{"n":"ö"}', undefined, undefined], ['{"n":3}', undefined, undefined]] },
      { pipeline: 'a', requestKey: 'k', extra: [{ index: 2 }], records: [['{"n":4}', 'x', 5], ['{"n":5}', undefined, undefined]] },
      { pipeline: 'a', requestKey: undefined, extra: undefined, records: [['{"n":6}', 'x', undefined]] },
    ],
    receivedAt: '2026-01-01T00:00:00.001Z',
  }]);
  assert.deepEqual(answers[0], {}, 'a group that stored everything says no more');
  assert.deepEqual(outcomesOf(first, answers[0]!), outcomes.slice(0, 2));
  assert.deepEqual(outcomesOf(second, answers[1]!), outcomes.slice(2));
});

test('a request that is not replayed keeps its own extra', () => {
  const requests: IngestRequest[] = [{ pipeline: 'a', requestKey: 'k', extra: ['mine'], records: [{ json: '{}' }, { json: '{}', key: 'x' }] }];
  const [answer] = commitTogether([{ group: pack(requests), receivedAt: 't' }], () => [{ accepted: 1, duplicates: 1, replayed: false, extra: ['mine'] }]);
  assert.deepEqual(outcomesOf(requests, answer!), [{ accepted: 1, duplicates: 1, replayed: false, extra: ['mine'] }]);
});
