/**
 * Scale-out on PostgreSQL: several `lading worker` processes share one database. Each test has a
 * database of its own. Workers are killed with SIGKILL, as a machine that dies would be.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { batchOfRecord } from '../../src/store/batch-ranges.js';
import { lading, ladingBin } from '../support/cli.js';
import { postgresSkip, scratchDatabase } from '../support/postgres.js';
import { startRecordingServer } from '../support/servers/http.js';
import { tempDir } from '../support/tmp.js';

interface Event { readonly type: string; readonly worker?: string; readonly chunk_index?: number; readonly run_id?: string; readonly holder?: string; readonly taken_over_from?: string | null }

interface Process {
  readonly child: ChildProcess;
  readonly events: Event[];
  readonly exited: Promise<number | null>;
}

/** A lading process whose stderr JSON lines (worker events, and scheduler events unwrapped) are collected. */
function start(args: readonly string[], cwd: string, url: string): Process {
  const child = spawn(process.execPath, [ladingBin, ...args], { cwd, env: { ...process.env, LADING_DATABASE_URL: url }, stdio: ['ignore', 'ignore', 'pipe'] });
  const events: Event[] = [];
  let buffer = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    buffer += text;
    for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as Event & { scheduler?: Event };
        events.push(parsed.scheduler ?? parsed);
      } catch {
        events.push({ type: 'text', run_id: line });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, events, exited };
}

/** Polls until `check` returns a value (not undefined); fails after `bound` ms with `what`. No timing is asserted. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, bound = 300_000): Promise<T> {
  const deadline = Date.now() + bound;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('lading worker on a shared PostgreSQL', { skip: postgresSkip }, () => {
  test('three workers, one SIGKILLed mid-run: the job completes, every item arrives, repeats only from the killed worker\'s chunks with equal keys', async () => {
    const ITEMS = 200_000;
    const CHUNK = 500;
    const db = await scratchDatabase();
    // Each answer waits a little, so the run outlasts the slowest worker's start and the victim is mid-chunk when killed.
    const server = await startRecordingServer(() => ({ status: 200, body: { ok: true }, delayMs: 5 }));
    const client = new pg.Client({ connectionString: db.url });
    const workers: Process[] = [];
    try {
      const dir = tempDir();
      writeFileSync(join(dir, 'items.ndjson'), Array.from({ length: ITEMS }, (_, i) => `{"id":${i + 1}}`).join('\n') + '\n');
      writeFileSync(join(dir, 'pipeline.yaml'), `name: spread
source: { type: file, path: items.ndjson }
output: { type: http, url: "${server.url}/items", batch_size: 100 }
execution: { chunk_size: ${CHUNK}, concurrency: 2 }
`);
      const queued = await lading(['run', '--queue', 'pipeline.yaml', '--json'], { cwd: dir, env: { LADING_DATABASE_URL: db.url } });
      assert.equal(queued.code, 0, queued.stderr);
      const { job_id: runId, status } = JSON.parse(queued.stdout) as { job_id: string; status: string };
      assert.equal(status, 'queued');

      for (const id of ['w1', 'w2', 'w3']) workers.push(start(['worker', '--id', id, '--concurrency', '2', '--lease', '4s'], dir, db.url));
      const [victim] = workers;
      const committed = () => workers.reduce((n, w) => n + w.events.filter((e) => e.type === 'chunk_committed').length, 0);
      const inFlight = (w: Process) => {
        const open = new Set(w.events.filter((e) => e.type === 'chunk_claimed').map((e) => e.chunk_index!));
        for (const e of w.events) if (e.type === 'chunk_committed') open.delete(e.chunk_index!);
        return open;
      };
      // A victim that started last may first commit when the others have finished the job; it must be killed holding a chunk.
      await until('40 chunks committed with the victim mid-chunk', () =>
        (committed() >= 40 && victim!.events.some((e) => e.type === 'chunk_committed') && inFlight(victim!).size > 0 ? true : undefined));
      victim!.child.kill('SIGKILL');
      await victim!.exited;
      // What the victim held when it died, as far as it printed: claimed and not committed.
      const claimed = inFlight(victim!);
      // At most its 2 in flight, plus up to 2 it committed without having printed so before the kill.
      assert.ok(claimed.size <= 4, `the victim held ${claimed.size} chunks`);

      await client.connect();
      const run = await until('the job to finish', async () => {
        const { rows } = await client.query<{ status: string; processed: string; report: { status: string; summary: { processed: number } } | null }>(
          'SELECT status, processed, report FROM runs WHERE id = $1', [runId]);
        return rows[0]!.status === 'running' || rows[0]!.status === 'queued' ? undefined : rows[0]!;
      });
      assert.equal(run.status, 'completed');
      assert.equal(Number(run.processed), ITEMS, 'each chunk counted once');
      assert.equal(run.report?.summary.processed, ITEMS);
      const reclaimed = (await client.query<{ chunk_index: number }>('SELECT chunk_index FROM job_chunks WHERE run_id = $1 AND attempts > 1', [runId])).rows.map((r) => r.chunk_index);
      // Chunks another live worker lost to a lease expiry (a starved machine) are taken over too: they are named by lease_lost.
      const lost = new Set(workers.flatMap((w) => w.events.filter((e) => e.type === 'lease_lost').map((e) => e.chunk_index!)));
      // Each takeover names whose expired lease it took; the victim may have died before printing its claim, so this, not its own output, is the record.
      const takeovers = new Map(workers.flatMap((w) => w.events.filter((e) => e.type === 'chunk_claimed' && e.taken_over_from).map((e) => [e.chunk_index!, e.taken_over_from!] as const)));
      const victimHeld = new Set([...claimed, ...[...takeovers].filter(([, from]) => from === 'w1').map(([chunk]) => chunk)]);
      assert.ok(victimHeld.size > 0, 'the victim died holding work');
      for (const chunk of reclaimed) {
        assert.ok(takeovers.has(chunk), `chunk ${chunk} was claimed again without a takeover event`);
        assert.ok(takeovers.get(chunk) === 'w1' || lost.has(chunk), `chunk ${chunk} was taken over from ${takeovers.get(chunk)}, which neither died nor lost it`);
      }
      const seen = new Map<number, string[]>();
      for (const request of server.requests) {
        const key = request.headers['idempotency-key'] as string;
        for (const item of request.body as { id: number }[]) seen.set(item.id, [...(seen.get(item.id) ?? []), key]);
      }
      assert.equal(seen.size, ITEMS, 'every item was received');
      for (const [id, keys] of seen) {
        if (keys.length === 1) continue;
        const chunk = Math.floor((id - 1) / CHUNK);
        assert.ok(victimHeld.has(chunk) || lost.has(chunk), `item ${id} (chunk ${chunk}) repeated outside the killed worker's in-flight chunks`);
        assert.equal(new Set(keys).size, 1, `item ${id} came again with another idempotency key`);
      }
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
      await client.end().catch(() => {});
      await server.stop();
      await db.drop();
    }
  });

  test('scheduler failover: the lease holder is SIGKILLed, the other process takes over, and no record lands in two batches', async () => {
    const db = await scratchDatabase();
    const procs: Process[] = [];
    const client = new pg.Client({ connectionString: db.url });
    try {
      const dir = tempDir();
      writeFileSync(join(dir, 'pipeline.yaml'), `name: leads
source: { type: inbox }
batch:
  triggers:
    - { type: record_count, value: 50 }
output:
  type: file
  format: { type: ndjson }
  naming: "leads_{batch_id}.ndjson"
  destination: { type: local, path: ./out }
`);
      const ingest = async (from: number) => {
        writeFileSync(join(dir, `records-${from}.ndjson`), Array.from({ length: 100 }, (_, i) => `{"n":${from + i}}`).join('\n') + '\n');
        const result = await lading(['ingest', 'leads', `records-${from}.ndjson`], { cwd: dir, env: { LADING_DATABASE_URL: db.url } });
        assert.equal(result.code, 0, result.stderr);
      };
      await client.connect();
      const batched = async () => Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM inbox_records r JOIN batches b ON b.id = ${batchOfRecord('r')} WHERE b.status = 'delivered'`)).rows[0]!.n);

      for (const id of ['a', 'b']) procs.push(start(['worker', '--id', id, '--lease', '2s', 'pipeline.yaml'], dir, db.url));
      const holderOf = (p: Process) => p.events.filter((e) => e.type === 'scheduler_lease_acquired').length > 0;
      const first = await until('one process to hold the scheduler lease', () => procs.find(holderOf));
      const other = procs.find((p) => p !== first)!;
      await ingest(0);
      await until('the first 100 records delivered', async () => ((await batched()) === 100 ? true : undefined));
      assert.ok(!holderOf(other), 'only one process held the lease');

      first.child.kill('SIGKILL');
      await first.exited;
      await ingest(100);
      await until('the other process to take the lease over', () => (holderOf(other) ? true : undefined), 60_000);
      await until('the next 100 records delivered', async () => ((await batched()) === 200 ? true : undefined));

      const { rows } = await client.query<{ batch_id: string | null; n: number }>(`SELECT ${batchOfRecord('r')} AS batch_id, (data->>'n')::int AS n FROM inbox_records r`);
      assert.equal(rows.length, 200);
      assert.ok(rows.every((r) => r.batch_id !== null), 'every record is in a batch');
      const delivered = readdirSync(join(dir, 'out')).flatMap((name) =>
        readFileSync(join(dir, 'out', name), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { n: number }).n));
      assert.equal(delivered.length, 200, 'no record delivered in two batches');
      assert.deepEqual(delivered.sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
    } finally {
      for (const p of procs) p.child.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
      await client.end().catch(() => {});
      await db.drop();
    }
  });
});
