/**
 * What an operator sees of `lading serve`: /metrics parsed as Prometheus text after ingest, a job
 * and a flush; and the JSON log, which never carries an API key or a password, even when a
 * partner's refusal echoes one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { secretValues } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import type { RunReport } from '../../src/core/report.js';
import { accessLog, createLogger, redactText } from '../../src/observe/log.js';
import { Metrics } from '../../src/observe/metrics.js';
import { observer } from '../../src/observe/observer.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { Scheduler, type SchedulerEvent } from '../../src/triggers/scheduler.js';
import { tempDir } from '../support/tmp.js';

/** Samples of a Prometheus text exposition: `name{a="x",b="y"}` (labels sorted) → value. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort();
    samples.set(`${match[1]}${labels.length > 0 ? `{${labels.join(',')}}` : ''}`, Number(match[3]));
  }
  return samples;
}

const pipelines: Record<string, string> = {
  'leads.yaml': `
name: leads
source: { type: inbox }
batch:
  triggers:
    - { type: schedule, cron: "0 2 * * *", timezone: UTC }
output:
  type: file
  format: ndjson
  compression: gzip
  destination: { type: local, path: out }
`,
  'products.yaml': `
name: products
source: { type: inline, items: [] }
validate: { required: [sku] }
output: { type: file, format: ndjson, destination: { type: local, path: out-products } }
`,
  'partner.yaml': `
name: partner
source: { type: inbox }
output:
  type: file
  format: ndjson
  destination:
    type: http_upload
    url: "\${env:LADING_TEST_UPLOAD_URL}/{name}"
    auth: { type: basic, username: batch_user, password: "\${env:LADING_TEST_UPLOAD_PASSWORD}" }
delivery: { retry: { attempts: 1 } }
`,
};

const password = 'hunter2-correct-horse';
const echoedToken = 'srv-internal-9f8e7d6c';

describe('observability of lading serve', () => {
  const dir = tempDir('lading-observe-');
  const lines: string[] = [];
  let store: SqliteStore;
  let server: LadingServer;
  let partner: Server;
  let admin: string;

  const inject = (method: 'GET' | 'POST', url: string, payload?: unknown, key = admin) =>
    server.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const scrape = async () => {
    const response = await server.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    return parsePrometheus(response.body);
  };

  before(async () => {
    // The partner refuses every upload, and its answer repeats the password and an internal token.
    partner = createServer((request, response) => {
      request.resume();
      if (request.method === 'OPTIONS') return void response.end();
      response.writeHead(401).end(`login refused for batch_user with password ${password}; token=${echoedToken}`);
    });
    await new Promise<void>((resolve) => partner.listen(0, '127.0.0.1', resolve));
    const env = { ...process.env, LADING_TEST_UPLOAD_URL: `http://127.0.0.1:${(partner.address() as AddressInfo).port}`, LADING_TEST_UPLOAD_PASSWORD: password };
    for (const [name, text] of Object.entries(pipelines)) writeFileSync(join(dir, name), text);
    store = await openSqliteStore(join(dir, 'data', 'lading.db'));
    const catalog = await loadCatalog([dir], env);
    const secrets = catalog.list().flatMap((p) => secretValues(p.config));
    const logger = createLogger({ level: 'debug', destination: { write: (text: string) => void lines.push(...text.split('\n').filter((line) => line !== '')) }, secrets: () => secrets });
    server = await buildServer({ store, catalog, dataDir: join(dir, 'data'), observer: observer(new Metrics(systemClock), logger) });
    admin = (await createApiKey(store, { owner: 'ops', scopes: ['admin'], clock: systemClock })).key;
  });
  after(async () => {
    await server.close();
    await store.close();
    await new Promise((resolve) => partner.close(resolve));
  });

  test('/metrics counts ingest, job and flush, and reads queue and breaker state from the store', async () => {
    const records = Array.from({ length: 50 }, (_, i) => ({ id: i, email: `lead${i}@example.com`, note: 'the same words again and again' }));
    assert.equal((await inject('POST', '/v1/pipelines/leads/records', records)).statusCode, 202);

    const queued = await scrape();
    assert.equal(queued.get('lading_records_ingested_total{pipeline="leads"}'), 50);
    assert.equal(queued.get('lading_queue_depth{pipeline="leads",priority="none"}'), 50);
    assert.ok(queued.get('lading_queue_bytes{pipeline="leads"}')! > 0);
    assert.ok(queued.get('lading_oldest_pending_age_seconds{pipeline="leads"}')! >= 0);
    const next = queued.get('lading_next_batch_seconds{pipeline="leads"}')!;
    assert.ok(next > 0 && next <= 86_400, `next batch within a day: ${next}`);
    assert.equal(queued.has('lading_next_batch_seconds{pipeline="products"}'), false, 'no time-based trigger, no estimate');

    const flushed = await inject('POST', '/v1/pipelines/leads/flush');
    assert.equal(flushed.statusCode, 200);
    const report = (flushed.json() as { report: RunReport }).report;
    assert.equal(report.status, 'completed');

    const job = await inject('POST', '/v1/jobs', { pipeline: 'products', items: [...Array.from({ length: 9 }, (_, i) => ({ sku: `s${i}` })), { name: 'no sku' }] });
    assert.equal(job.statusCode, 202);
    const jobId = (job.json() as { job_id: string }).job_id;
    await inject('GET', `/v1/jobs/${jobId}/events`);

    const m = await scrape();
    assert.equal(m.get('lading_batches_cut_total{flush_reason="manual",pipeline="leads"}'), 1);
    assert.equal(m.get('lading_queue_depth{pipeline="leads",priority="none"}'), 0);
    assert.equal(m.has('lading_oldest_pending_age_seconds{pipeline="leads"}'), false);
    assert.equal(m.get('lading_records_delivered_total{pipeline="leads"}'), 50);
    assert.equal(m.get('lading_records_delivered_total{pipeline="products"}'), 9);
    assert.equal(m.get('lading_records_failed_total{error_type="ValidationError",pipeline="products"}'), 1);
    assert.equal(m.get('lading_run_duration_seconds_count{pipeline="leads",status="completed"}'), 1);
    assert.equal(m.get('lading_run_duration_seconds_count{pipeline="products",status="completed_with_errors"}'), 1);
    assert.equal(m.get('lading_file_generation_duration_seconds_count{pipeline="leads"}'), 1);
    assert.equal(m.get('lading_delivery_duration_seconds_count{pipeline="leads"}'), 1);
    assert.equal(m.get('lading_delivery_duration_seconds_bucket{le="+Inf",pipeline="leads"}'), 1);
    assert.equal(m.get('lading_transfer_bytes_total{pipeline="leads"}'), report.artifacts.files[0]!.bytes);
    assert.equal(m.get('lading_compression_ratio_count{pipeline="leads"}'), 1);
    assert.ok(m.get('lading_compression_ratio_sum{pipeline="leads"}')! > 2, 'gzip shrinks 50 similar records');
    for (const pipeline of ['leads', 'products', 'partner']) {
      assert.equal(m.get(`lading_delivery_breaker_open{pipeline="${pipeline}"}`), 0);
      assert.equal(m.get(`lading_deliveries_suspended{pipeline="${pipeline}"}`), 0);
      assert.equal(m.get(`lading_active_runs{pipeline="${pipeline}"}`), 0);
    }
  });

  test('the log has requests and runs as JSON lines, never the API key nor a password a failing delivery echoed', async () => {
    assert.equal((await inject('POST', '/v1/pipelines/partner/records', [{ id: 1 }])).statusCode, 202);
    const flushed = await inject('POST', '/v1/pipelines/partner/flush');
    assert.equal((flushed.json() as { report: RunReport }).report.status, 'failed');
    // A key pasted into a path, or into a query, must not reach the access line either.
    assert.equal((await inject('GET', `/v1/jobs/${admin}?api_key=${admin}`)).statusCode, 404);

    const m = await scrape();
    assert.equal(m.get('lading_deliveries_suspended{pipeline="partner"}'), 1, 'refused credentials suspend deliveries');

    // Access lines are written at the end of the event loop's turn (observe/log.ts, accessLog).
    await new Promise((resolve) => setImmediate(resolve));
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = entries.filter((e) => e.msg === 'request completed');
    const flushLine = access.filter((e) => (e.req as { url?: string }).url === '/v1/pipelines/partner/flush');
    assert.equal(flushLine.length, 1, 'one access line per request');
    assert.deepEqual([flushLine[0]!.req, flushLine[0]!.res, typeof flushLine[0]!.responseTime, flushLine[0]!.key],
      [{ method: 'POST', url: '/v1/pipelines/partner/flush' }, { statusCode: 200 }, 'number', admin.split('_')[1]]);
    assert.ok(access.some((e) => (e.req as { url: string }).url.startsWith('/v1/jobs/lading_') && (e.res as { statusCode: number }).statusCode === 404), 'the pasted key\'s request is logged, masked');
    const failed = entries.find((e) => e.event === 'run_finished' && e.pipeline === 'partner');
    assert.ok(failed, 'the failed run is logged');
    assert.equal(failed.level, 50);
    assert.equal((failed.failure as { code: string }).code, 'DEST_AUTH_FAILED');
    assert.match(String(failed.msg), /login refused for batch_user/, 'the partner\'s answer is kept, its secrets masked');
    const output = lines.join('');
    const keySecret = admin.split('_').slice(2).join('_');
    assert.ok(!output.includes(keySecret), 'the API key is not logged');
    assert.ok(!output.includes(password), 'the password is not logged');
    assert.ok(!output.includes(echoedToken), 'a token the partner echoed is not logged');
  });

  test('operator actions through the API are in the audit log with the key\'s owner and id, readable by admin keys only', async () => {
    const [productsRun] = await store.listRuns({ pipeline: 'products' });
    const retried = await inject('POST', `/v1/jobs/${productsRun!.id}/retry`);
    assert.equal(retried.statusCode, 202);
    await inject('GET', `/v1/jobs/${(retried.json() as { job_id: string }).job_id}/events`);

    const adminId = admin.split('_')[1];
    const listed = await inject('GET', `/v1/audit?actor=${adminId}`);
    assert.equal(listed.statusCode, 200);
    const entries = (listed.json() as { entries: { actor: string; key_id: string; action: string; target: string; pipeline: string; details: Record<string, unknown> }[] }).entries;
    assert.deepEqual(entries.map((e) => `${e.action} ${e.target}`), [`run.retry ${productsRun!.id}`, 'pipeline.flush partner', 'pipeline.flush leads']);
    assert.deepEqual(entries.map((e) => [e.actor, e.key_id]), Array(3).fill(['ops', adminId]));
    assert.equal(entries[0]!.details.job_id, (retried.json() as { job_id: string }).job_id);
    assert.equal(entries[2]!.details.records, 50);
    assert.ok(!listed.body.includes(admin.split('_').slice(2).join('_')), 'never the key itself');
    assert.equal((await inject('GET', '/v1/audit?action=run.retry')).json<{ entries: unknown[] }>().entries.length, 1);

    const reader = (await createApiKey(store, { owner: 'ops', scopes: ['jobs:write'], clock: systemClock })).key;
    assert.equal((await inject('GET', '/v1/audit', undefined, reader)).statusCode, 403);
    assert.ok(lines.some((line) => line.includes('"audit"') && line.includes('run.retry')), 'the log has a line per action too');
  });

  test('/metrics has the work leases held in the store, whether this process leads the scheduling, and the process metrics', async () => {
    const before = await scrape();
    assert.equal(before.get('lading_scheduler_leader'), 0, 'no scheduler runs in this server');
    assert.ok(before.has('process_cpu_user_seconds_total'), 'prom-client default process metrics');
    assert.ok(before.has('nodejs_heap_size_used_bytes'));

    await store.enqueueJob({
      id: 'run_leased', createdAt: new Date(), batchId: null, pipeline: 'sync', mode: 'full', source: 'inline', config: { name: 'sync' },
      priority: 0, kind: 'chunks', chunks: [[{ id: 'inline:0', seq: 1, data: { n: 0 } }], [{ id: 'inline:1', seq: 2, data: { n: 1 } }]],
    });
    const lease = await store.claimChunk('worker-1', 60_000, new Date());
    assert.ok(lease);
    const held = await scrape();
    assert.equal(held.get('lading_active_leases{kind="chunks",pipeline="sync"}'), 1, 'one chunk leased, the other pending');
    await store.releaseChunk(lease.token);
    assert.equal((await scrape()).has('lading_active_leases{kind="chunks",pipeline="sync"}'), false, 'a released lease is gone');

    const catalog = await loadCatalog([join(dir, 'leads.yaml')]);
    let acquired!: () => void;
    const leading = new Promise<void>((resolve) => { acquired = resolve; });
    const scheduler = new Scheduler({
      store, dataDir: join(dir, 'data'), pipelines: catalog.list(), lease: { leaseMs: 30_000 },
      onEvent: (e: SchedulerEvent) => { if (e.type === 'scheduler_lease_acquired') acquired(); },
    });
    const led = await buildServer({
      store, catalog, dataDir: join(dir, 'data'),
      triggers: { nextTrigger: (p) => scheduler.nextTrigger(p.config.name), flush: (p) => scheduler.flush(p.config.name), leader: () => scheduler.leader },
    });
    try {
      scheduler.start();
      await leading;
      const metrics = async () => parsePrometheus((await led.app.inject({ method: 'GET', url: '/metrics' })).body);
      assert.equal((await metrics()).get('lading_scheduler_leader'), 1);
      await scheduler.stop();
      assert.equal((await metrics()).get('lading_scheduler_leader'), 0, 'the lease is given back at stop');
    } finally {
      await scheduler.stop();
      await led.close();
    }
  });

  test('metrics can require an API key', async () => {
    const guarded = await buildServer({ store, catalog: await loadCatalog([join(dir, 'products.yaml')]), dataDir: join(dir, 'data'), metricsAccess: 'key' });
    try {
      assert.equal((await guarded.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
      const ok = await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${admin}` } });
      assert.equal(ok.statusCode, 200);
      assert.ok(parsePrometheus(ok.body).has('lading_active_runs{pipeline="products"}'));
    } finally {
      await guarded.close();
    }
  });
});

describe('access lines', () => {
  test('the lines of one turn of the event loop go out in one write, one JSON line a request; flush writes what is held', async () => {
    const writes: string[] = [];
    const access = accessLog(createLogger({ destination: { write: (text: string) => void writes.push(text) } }));
    const entry = (reqId: string) => ({ reqId, method: 'POST', path: '/v1/pipelines/leads/records', statusCode: 202, responseTimeMs: 1.5, keyId: 'k1' });
    access(entry('r1'));
    access(entry('r2'));
    assert.equal(writes.length, 0, 'held until the turn ends');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
    const lines = writes[0]!.split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a line feed');
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as { reqId: string; msg: string; key: string }).reqId), ['r1', 'r2']);
    access(entry('r3'));
    access.flush();
    assert.equal(writes.length, 2);
    assert.equal((JSON.parse(writes[1]!) as { reqId: string }).reqId, 'r3');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 2, 'nothing is written twice, and an empty turn writes nothing');
    const quiet = accessLog(createLogger({ level: 'warn', destination: { write: (text: string) => void writes.push(text) } }));
    quiet(entry('r4'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 2, 'below info, no line');
  });

  test('closing the server writes the lines it still holds', async () => {
    const dir = tempDir();
    const store = await openSqliteStore(join(dir, 'lading.db'));
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (text: string) => void lines.push(...text.split('\n').filter((line) => line !== '')) } });
    const server = await buildServer({ store, catalog: await loadCatalog([], {}), dataDir: dir, observer: observer(new Metrics(systemClock), logger) });
    try {
      assert.equal((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      await server.close();
      assert.equal(lines.filter((line) => line.includes('"url":"/healthz"')).length, 1);
    } finally {
      await store.close();
    }
  });
});

describe('log redaction', () => {
  test('credentials in text are masked: known secrets, API keys, bearer tokens, URL passwords, password=', () => {
    const key = `lading_0123456789abcdef_${'A'.repeat(43)}`;
    const text = `key ${key}; Authorization: Bearer abc.def.ghi; sftp://u:p4ss@host/x; password=s3cret&user=x; the value opensesame`;
    const out = redactText(text, ['opensesame']);
    assert.equal(out, 'key lading_0123456789abcdef_***; Authorization: Bearer ***; sftp://u:***@host/x; password=***&user=x; the value ***');
  });

  test('credential fields and headers are replaced at any of the first levels', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    logger.info({ req: { headers: { authorization: 'Bearer x1', 'x-api-key': 'k2' } }, config: { destination: { password: 'p3' } }, token: 't4' }, 'hello');
    logger.error({ err: new Error('connect to postgres://u:p5@db failed') }, 'failed');
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, any>) as [Record<string, any>, Record<string, any>];
    assert.equal(first.req.headers.authorization, '[Redacted]');
    assert.equal(first.req.headers['x-api-key'], '[Redacted]');
    assert.equal(first.config.destination.password, '[Redacted]');
    assert.equal(first.token, '[Redacted]');
    assert.equal(second.err.message, 'connect to postgres://u:***@db failed');
    assert.ok(!lines.join('').includes('p5'));
  });
});
