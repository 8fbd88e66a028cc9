/**
 * "202 means durable", tested the hard way: `lading serve` (the built CLI, a child process) takes
 * concurrent ingest requests from several clients, single records and NDJSON batches, each record
 * with a unique id; the process is SIGKILLed while requests are in flight. Every record of every
 * request answered 202 must then be in the store exactly once (requests without an answer may or
 * may not have landed), and a restarted server must come up on the same store and count them.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/store/open.js';
import { lading, startServe } from '../support/cli.js';
import { postgresSkip, scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';

const clients = 6;
/** Acknowledged requests after which the server is killed: enough for group commits to overlap. */
const killAfter = 60;

async function ingestUntilKilled(dir: string, db: string): Promise<void> {
  writeFileSync(join(dir, 'crash.yaml'), 'name: crash\nsource: { type: inbox }\noutput: { type: file, format: ndjson, destination: { type: local, path: out } }\n');
  const created = await lading(['keys', 'create', '--owner', 'crash', '--scope', 'ingest:crash', '--db', db], { cwd: dir });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  const headers = (ndjson: boolean) => ({ authorization: `Bearer ${key}`, 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' });

  const server = await startServe(['crash.yaml', '--db', db, '--no-scheduler'], { cwd: dir });
  const acknowledged: string[] = [];
  let acknowledgedRequests = 0;
  let sent = 0;
  const client = async (c: number) => {
    for (let n = 0; ; n++) {
      // Every third request is an NDJSON batch of up to 40 records, every ninth one of 300 (a
      // group that large commits on the ingest thread), the others one JSON record.
      const size = n % 9 === 8 ? 300 : n % 3 === 2 ? 1 + ((n * 7 + c) % 40) : 1;
      const ids = Array.from({ length: size }, (_, k) => `c${c}-${n}-${k}`);
      const ndjson = ids.length > 1;
      const body = ndjson ? `${ids.map((id) => JSON.stringify({ id, client: c })).join('\n')}\n` : JSON.stringify({ id: ids[0], client: c });
      sent++;
      let status: number;
      try {
        const response = await fetch(`${server.url}/v1/pipelines/crash/records`, { method: 'POST', headers: headers(ndjson), body });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        return; // the server is gone: this request has no answer
      }
      assert.equal(status, 202, server.stderr());
      acknowledged.push(...ids);
      if (++acknowledgedRequests === killAfter) server.child.kill('SIGKILL');
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  } finally {
    server.child.kill('SIGKILL'); // also when a client failed before the planned kill
  }
  assert.equal(await server.exited, null, 'the server died of the signal');
  assert.ok(sent > acknowledgedRequests, 'some requests were in flight when the server was killed');

  const store = await openStore(db);
  let stored: string[];
  try {
    stored = (await store.readPending('crash', 0, 1_000_000)).map((r) => r.data.id as string);
  } finally {
    await store.close();
  }
  const count = new Map<string, number>();
  for (const id of stored) count.set(id, (count.get(id) ?? 0) + 1);
  const missing = acknowledged.filter((id) => !count.has(id));
  assert.deepEqual(missing, [], 'every record of a 202-acknowledged request is in the store');
  assert.deepEqual([...count].filter(([, n]) => n > 1), [], 'no record is stored twice');

  const restarted = await startServe(['crash.yaml', '--db', db, '--no-scheduler'], { cwd: dir });
  try {
    const pipeline = (await (await fetch(`${restarted.url}/v1/pipelines/crash`, { headers: headers(false) })).json()) as { queue: { pending: number } };
    assert.equal(pipeline.queue.pending, stored.length, 'the restarted server counts the same records');
  } finally {
    restarted.child.kill('SIGTERM');
  }
  assert.equal(await restarted.exited, 0, restarted.stderr());
}

test('SQLite: every record acknowledged with 202 survives a SIGKILL during concurrent ingest, exactly once', async () => {
  const dir = tempDir('lading-serve-crash-');
  await ingestUntilKilled(dir, join(dir, 'lading.db'));
});

describe('PostgreSQL', { skip: postgresSkip }, () => {
  let db: ScratchDatabase;
  before(async () => (db = await scratchDatabase()));
  after(async () => db.drop());

  test('every record acknowledged with 202 survives a SIGKILL during concurrent ingest, exactly once', async () => {
    await ingestUntilKilled(tempDir('lading-serve-crash-pg-'), db.url);
  });
});
