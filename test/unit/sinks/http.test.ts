import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import type { BuildContext } from '../../../src/core/component.js';
import { idempotencyKey } from '../../../src/core/idempotency.js';
import type { Item } from '../../../src/core/item.js';
import { parseRetryAfter } from '../../../src/errors/classify.js';
import type { LadingError } from '../../../src/errors/lading-error.js';
import { httpSink, httpSinkConfig } from '../../../src/sinks/http.js';
import type { ChunkContext, RunContext } from '../../../src/sinks/types.js';
import { chunkContext, recordingContext } from '../../support/chunk-context.js';
import { sequence, startRecordingServer, type Answer, type RecordingServer, type Script } from '../../support/servers/http.js';

const now = '2026-01-02T03:04:05Z';
const runCtx: RunContext = {
  runId: 'run_0001', pipeline: 'sync', batchId: 'batch_0001', createdAt: new Date(now), signal: new AbortController().signal, mode: 'full', emit: () => {},
};

async function server(script?: Script): Promise<RecordingServer> {
  const s = await startRecordingServer(script);
  after(() => s.stop());
  return s;
}

async function openSink(output: Record<string, unknown>) {
  const config = httpSinkConfig.parse({ type: 'http', ...output });
  const sink = httpSink.create(config, { pipeline: 'sync', clock: fixedClock(now) } as unknown as BuildContext);
  await sink.open(runCtx);
  after(() => sink.close(runCtx, 'aborted'));
  return sink;
}

const items = (rows: readonly Record<string, unknown>[]): Item[] => rows.map((data, i) => ({ id: `r:${i + 1}`, seq: i + 1, data }));

async function writeOne(output: Record<string, unknown>, answer: Answer, overrides: Partial<ChunkContext> = {}) {
  const s = await server(() => answer);
  const sink = await openSink({ url: `${s.url}/products/{sku}`, ...output });
  const rec = recordingContext(overrides);
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: items([{ sku: 'A-1' }]) }, rec.ctx);
  return { failures, error: failures.get('r:1'), pauses: rec.pauses, server: s };
}

const summary = (e: LadingError | undefined) => e && { code: e.code, category: e.category, type: e.errorType, itemId: e.itemId, retryAfterMs: e.retryAfterMs };

test('each record is POSTed to its templated URL with templated headers and its idempotency key', async () => {
  const s = await server(() => ({ status: 201 }));
  const sink = await openSink({ url: `${s.url}/v1/{pipeline}/products/{sku}?src=lading`, headers: { 'X-Run': '{run_id}', 'X-Sku': 'sku-{sku}', 'X-Static': 'yes' } });
  const rec = recordingContext();
  const chunk = items([{ sku: 'A 1', name: 'Widget', price: 9.99 }, { sku: 'B/2', name: 'Gadget', price: 24.5 }]);
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: chunk }, rec.ctx);
  assert.equal(failures.size, 0);
  assert.equal(rec.acquired, 2, 'the gate is asked before each request');
  assert.deepEqual(s.requests.map((r) => [r.method, r.path]), [['POST', '/v1/sync/products/A%201?src=lading'], ['POST', '/v1/sync/products/B%2F2?src=lading']]);
  for (const [i, r] of s.requests.entries()) {
    assert.deepEqual(r.body, chunk[i]!.data);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['idempotency-key'], idempotencyKey('run_0001', [chunk[i]!]));
    assert.equal(r.headers['x-run'], 'run_0001');
    assert.equal(r.headers['x-sku'], `sku-${String(chunk[i]!.data.sku)}`);
    assert.equal(r.headers['x-static'], 'yes');
  }
});

test('batch_size 3 sends JSON arrays of up to three records, each request with the key of its items', async () => {
  const s = await server();
  const sink = await openSink({ url: `${s.url}/bulk/{batch_id}`, method: 'PUT', batch_size: 3, idempotency_header: 'X-Request-Key' });
  const chunk = items([1, 2, 3, 4, 5, 6, 7].map((n) => ({ n })));
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: chunk }, chunkContext());
  assert.equal(failures.size, 0);
  assert.deepEqual(s.requests.map((r) => [r.method, r.path]), [['PUT', '/bulk/batch_0001'], ['PUT', '/bulk/batch_0001'], ['PUT', '/bulk/batch_0001']]);
  assert.deepEqual(s.requests.map((r) => r.body), [[{ n: 1 }, { n: 2 }, { n: 3 }], [{ n: 4 }, { n: 5 }, { n: 6 }], [{ n: 7 }]]);
  assert.deepEqual(s.requests.map((r) => r.headers['x-request-key']), [chunk.slice(0, 3), chunk.slice(3, 6), chunk.slice(6)].map((g) => idempotencyKey('run_0001', g)));
});

test('batch_size 3 with body ndjson sends one line per record', async () => {
  const s = await server();
  const sink = await openSink({ url: `${s.url}/bulk`, batch_size: 3, body: 'ndjson' });
  await sink.write({ runId: 'run_0001', index: 0, items: items([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]) }, chunkContext());
  assert.deepEqual(s.requests.map((r) => r.headers['content-type']), ['application/x-ndjson', 'application/x-ndjson']);
  assert.deepEqual(s.requests.map((r) => r.text), ['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n']);
});

test('body_template: a lone {field} keeps its type, other strings interpolate, run tokens work', async () => {
  const s = await server();
  const sink = await openSink({ url: `${s.url}/p`, body_template: { id: '{sku}', price: '{price}', tags: '{tags}', label: '{name} ({sku})', meta: { run: '{run_id}', fixed: 1 } } });
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: items([{ sku: 'A-1', name: 'Widget', price: 9.5, tags: ['x'] }, { sku: 'A-2', price: 1 }]) }, chunkContext());
  assert.deepEqual(s.requests.map((r) => r.body), [{ id: 'A-1', price: 9.5, tags: ['x'], label: 'Widget (A-1)', meta: { run: 'run_0001', fixed: 1 } }]);
  assert.deepEqual([...failures].map(([id, e]) => [id, e.code, e.category, e.field]), [['r:2', 'SINK_HTTP_TEMPLATE', 'permanent', 'tags']]);
});

test('a record the URL template cannot render fails alone, permanently; the others are sent', async () => {
  const s = await server();
  const sink = await openSink({ url: `${s.url}/products/{sku}` });
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: items([{ sku: 'A' }, { name: 'no sku' }, { sku: '' }, { sku: { nested: true } }, { sku: 'D' }]) }, chunkContext());
  assert.deepEqual(s.requests.map((r) => r.path), ['/products/A', '/products/D']);
  assert.deepEqual([...failures].map(([id, e]) => [id, e.code, e.category]), [['r:2', 'SINK_HTTP_TEMPLATE', 'permanent'], ['r:3', 'SINK_HTTP_TEMPLATE', 'permanent'], ['r:4', 'SINK_HTTP_TEMPLATE', 'permanent']]);
  assert.match(failures.get('r:2')!.message, /\{sku\} is missing/);
});

test('config: record fields in url or headers are refused with batch_size > 1; credentials in the URL are refused', () => {
  const issues = (output: Record<string, unknown>) => {
    const r = httpSinkConfig.safeParse({ type: 'http', ...output });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.match(issues({ url: 'https://api.example/p/{sku}', batch_size: 2 }).join('\n'), /^url: uses record fields \(\{sku\}\)/);
  assert.match(issues({ url: 'https://api.example/p', batch_size: 2, headers: { 'X-Sku': '{sku}' } }).join('\n'), /^headers.X-Sku: uses record fields/);
  assert.deepEqual(issues({ url: 'https://api.example/{batch_id}/p', batch_size: 2, headers: { 'X-Run': '{run_id}' } }), []);
  assert.match(issues({ url: 'https://u:p@api.example/p' }).join('\n'), /must not hold credentials/);
  assert.match(issues({ url: 'ftp://api.example/p' }).join('\n'), /http:\/\/ or https:\/\//);
  assert.match(issues({ url: 'https://api.example/p', headers: { Authorization: 'x' }, auth: { type: 'bearer', token: 't' } }).join('\n'), /output.auth sets/);
  assert.match(issues({ url: 'https://api.example/p', success: { equals: 'ok' } }).join('\n'), /success.equals: needs success.json_path/);
  assert.match(issues({ url: 'https://api.example/p', headers: { 'Content-Length': '3' } }).join('\n'), /set by lading/);
  assert.match(issues({ url: 'https://api.example/p', timeout: 0 }).join('\n'), /^timeout: must be more than 0/);
});

test('429 with Retry-After in seconds: transient RateLimitError, retryAfterMs parsed, the gate paused', async () => {
  const { error, pauses } = await writeOne({}, { status: 429, headers: { 'Retry-After': '7' }, body: 'slow down' });
  assert.deepEqual(summary(error), { code: 'SINK_HTTP_RATE_LIMITED', category: 'transient', type: 'RateLimitError', itemId: 'r:1', retryAfterMs: 7000 });
  assert.deepEqual(pauses, [7000]);
});

test('503 with Retry-After as an HTTP date: transient, retryAfterMs counted from the clock, the gate paused', async () => {
  const { error, pauses } = await writeOne({}, { status: 503, headers: { 'Retry-After': 'Fri, 02 Jan 2026 03:04:35 GMT' } });
  assert.deepEqual(summary(error), { code: 'SINK_HTTP_TRANSIENT', category: 'transient', type: 'NetworkError', itemId: 'r:1', retryAfterMs: 30_000 });
  assert.deepEqual(pauses, [30_000]);
});

test('408, 425, 500 and 502 are transient; without Retry-After the gate is not paused', async () => {
  for (const status of [408, 425, 500, 502]) {
    const { error, pauses } = await writeOne({}, { status });
    assert.deepEqual(summary(error), { code: 'SINK_HTTP_TRANSIENT', category: 'transient', type: 'NetworkError', itemId: 'r:1', retryAfterMs: undefined }, String(status));
    assert.deepEqual(pauses, []);
  }
});

test('Retry-After parsing: seconds, HTTP dates (past dates are 0), garbage ignored', () => {
  const at = new Date(now);
  assert.equal(parseRetryAfter('120', at), 120_000);
  assert.equal(parseRetryAfter(' 0 ', at), 0);
  assert.equal(parseRetryAfter('Fri, 02 Jan 2026 03:05:05 GMT', at), 60_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', at), 0);
  assert.equal(parseRetryAfter('soon', at), undefined);
  assert.equal(parseRetryAfter('-5', at), undefined);
  assert.equal(parseRetryAfter(undefined, at), undefined);
});

test('401 and 403 are permanent AuthErrors; other 4xx are permanent rejections quoting the first 200 characters of the body', async () => {
  for (const status of [401, 403]) {
    const { error } = await writeOne({}, { status, body: 'bad credentials' });
    assert.deepEqual(summary(error), { code: 'SINK_HTTP_AUTH', category: 'permanent', type: 'AuthError', itemId: 'r:1', retryAfterMs: undefined });
  }
  const long = `field price: must be positive. ${'x'.repeat(300)}END`;
  const { error } = await writeOne({}, { status: 422, body: long });
  assert.deepEqual(summary(error), { code: 'SINK_HTTP_REJECTED', category: 'permanent', type: 'DestinationError', itemId: 'r:1', retryAfterMs: undefined });
  assert.match(error!.message, /^POST http:\/\/127\.0\.0\.1:\d+\/products\/A-1: HTTP 422: field price: must be positive\. x+…$/);
  assert.ok(error!.message.includes(long.slice(0, 200)));
  assert.ok(!error!.message.includes('END'));
});

test('a 2xx outside success.status is a rejection; a 4xx listed in success.status is accepted', async () => {
  assert.equal((await writeOne({ success: { status: [201] } }, { status: 200 })).error?.code, 'SINK_HTTP_REJECTED');
  assert.equal((await writeOne({ success: { status: [201, 409] } }, { status: 409, body: 'already there' })).error, undefined);
});

test('200 with {"status":"error"} fails the json_path check: permanent SINK_HTTP_REJECTED', async () => {
  const success = { json_path: 'status', equals: 'ok' };
  assert.equal((await writeOne({ success }, { body: { status: 'ok', id: 1 } })).error, undefined);
  const { error } = await writeOne({ success }, { body: { status: 'error', reason: 'duplicate sku' } });
  assert.deepEqual(summary(error), { code: 'SINK_HTTP_REJECTED', category: 'permanent', type: 'DestinationError', itemId: 'r:1', retryAfterMs: undefined });
  assert.match(error!.message, /"status" is "error" \(expected "ok"\).*duplicate sku/);
  const nested = await writeOne({ success: { json_path: 'result.accepted' } }, { body: { result: { accepted: false } } });
  assert.equal(nested.error?.code, 'SINK_HTTP_REJECTED');
});

test('a success body that is not the expected JSON is a permanent SINK_HTTP_BAD_RESPONSE', async () => {
  const success = { json_path: 'status', equals: 'ok' };
  for (const body of ['<html>oops</html>', '{"status": "ok"', '{"other": 1}']) {
    const { error } = await writeOne({ success }, { body, headers: { 'content-type': 'application/json' } });
    assert.deepEqual(summary(error), { code: 'SINK_HTTP_BAD_RESPONSE', category: 'permanent', type: 'DestinationError', itemId: 'r:1', retryAfterMs: undefined }, body);
  }
});

test('a connection reset and a garbage answer are transient network failures', async () => {
  const reset = await writeOne({}, { destroy: true });
  assert.deepEqual(summary(reset.error), { code: 'NETWORK_FAILED', category: 'transient', type: 'NetworkError', itemId: 'r:1', retryAfterMs: undefined });
  const garbage = await writeOne({}, { raw: 'SMTP READY\r\n\r\n' });
  assert.deepEqual(summary(garbage.error), { code: 'NETWORK_FAILED', category: 'transient', type: 'NetworkError', itemId: 'r:1', retryAfterMs: undefined });
});

test('a refused connection is a transient network failure for every item of the request', async () => {
  const closed = await startRecordingServer();
  await closed.stop();
  const sink = await openSink({ url: `${closed.url}/bulk`, batch_size: 2 });
  const { failures } = await sink.write({ runId: 'run_0001', index: 0, items: items([{ n: 1 }, { n: 2 }, { n: 3 }]) }, chunkContext());
  assert.deepEqual([...failures].map(([id, e]) => [id, e.code, e.category, e.itemId]), [
    ['r:1', 'NETWORK_FAILED', 'transient', 'r:1'], ['r:2', 'NETWORK_FAILED', 'transient', 'r:2'], ['r:3', 'NETWORK_FAILED', 'transient', 'r:3'],
  ]);
  assert.match(failures.get('r:1')!.message, /ECONNREFUSED/);
});

test('a server that never answers times out: transient SINK_HTTP_TIMEOUT (config timeout, then execution timeout)', async () => {
  const hung = await writeOne({ timeout: '150ms' }, { hang: true });
  assert.deepEqual(summary(hung.error), { code: 'SINK_HTTP_TIMEOUT', category: 'transient', type: 'NetworkError', itemId: 'r:1', retryAfterMs: undefined });
  assert.match(hung.error!.message, /within 150 ms/);
  const fromCtx = await writeOne({}, { hang: true }, { timeoutMs: 120 });
  assert.equal(fromCtx.error?.code, 'SINK_HTTP_TIMEOUT');
  assert.match(fromCtx.error!.message, /within 120 ms/);
  const body = await writeOne({ timeout: 150, success: { json_path: 'status' } }, { hangBody: true });
  assert.equal(body.error?.code, 'SINK_HTTP_TIMEOUT', 'a body that stops arriving times out too');
  const discarded = await writeOne({ timeout: 150 }, { hangBody: true });
  assert.equal(discarded.error?.code, 'SINK_HTTP_TIMEOUT', 'also when the body would only be discarded');
});

test('a cancelled run makes write() throw rather than report item failures', async () => {
  const s = await server(() => ({ hang: true }));
  const sink = await openSink({ url: `${s.url}/p` });
  const controller = new AbortController();
  const writing = sink.write({ runId: 'run_0001', index: 0, items: items([{ n: 1 }]) }, chunkContext({ signal: controller.signal }));
  while (s.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await assert.rejects(writing);
});

test('429 then 503 then 200: each attempt carries the same idempotency key and only the last is accepted', async () => {
  const s = await server(sequence({ status: 429, headers: { 'Retry-After': '1' } }, { status: 503 }, { status: 200 }));
  const sink = await openSink({ url: `${s.url}/p` });
  const chunk = { runId: 'run_0001', index: 0, items: items([{ n: 1 }]) };
  const outcomes: (string | undefined)[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) outcomes.push((await sink.write(chunk, chunkContext({ attempt }))).failures.get('r:1')?.code);
  assert.deepEqual(outcomes, ['SINK_HTTP_RATE_LIMITED', 'SINK_HTTP_TRANSIENT', undefined]);
  assert.deepEqual(new Set(s.requests.map((r) => r.headers['idempotency-key'])), new Set(['run_0001:r:1']));
});

const credentials = {
  basic: { auth: { type: 'basic', username: 'svc-user', password: 'pa55-w0rd-secret' }, header: 'authorization', expected: `Basic ${Buffer.from('svc-user:pa55-w0rd-secret').toString('base64')}`, secrets: ['pa55-w0rd-secret', Buffer.from('svc-user:pa55-w0rd-secret').toString('base64')] },
  bearer: { auth: { type: 'bearer', token: 'tok-0123456789abcdef' }, header: 'authorization', expected: 'Bearer tok-0123456789abcdef', secrets: ['tok-0123456789abcdef'] },
  api_key: { auth: { type: 'api_key', header: 'X-Api-Key', value: 'key-9876543210' }, header: 'x-api-key', expected: 'key-9876543210', secrets: ['key-9876543210'] },
} as const;

for (const [name, c] of Object.entries(credentials)) {
  test(`auth ${name}: the credential is sent, and never appears in an error message even when the server echoes it`, async () => {
    const s = await server(sequence({ status: 200 }, { status: 401, body: 'rejected' }));
    const sink = await openSink({ url: `${s.url}/p/{sku}`, auth: c.auth, success: { json_path: 'status' } });
    await sink.write({ runId: 'run_0001', index: 0, items: items([{ sku: 'x' }]) }, chunkContext());
    assert.equal(s.requests[0]!.headers[c.header], c.expected);
    const echo = (status: number): Script => (req) => ({ status, body: `you sent ${String(req.headers[c.header])} and ${String(req.headers[c.header]).split(' ').at(-1)}` });
    const messages: string[] = [];
    for (const status of [200, 401, 403, 422, 500]) {
      const e = await server(echo(status));
      const probe = await openSink({ url: `${e.url}/p/{sku}`, auth: c.auth, success: { json_path: 'status' } });
      const { failures } = await probe.write({ runId: 'run_0001', index: 0, items: items([{ sku: 'x' }, {}]) }, chunkContext());
      for (const error of failures.values()) messages.push(error.message, String(error.cause ?? ''));
    }
    assert.ok(messages.length >= 10);
    for (const message of messages) for (const secret of c.secrets) assert.ok(!message.includes(secret), `${secret} leaked: ${message}`);
    assert.ok(messages.some((m) => /you sent (Basic |Bearer )?\*\*\* and \*\*\*/.test(m)), 'the echo is shown, redacted');
  });
}

test('a header named like a credential is redacted from messages too', async () => {
  const { error } = await writeOne({ headers: { 'X-Partner-Token': 'Token abcdefgh12345678' } }, { status: 400, body: 'unknown token abcdefgh12345678' });
  assert.equal(error?.message.includes('abcdefgh12345678'), false);
});

test('the keep-alive pool reuses connections: 20 sequential requests use at most max_connections', async () => {
  const s = await server();
  const sink = await openSink({ url: `${s.url}/p/{n}`, max_connections: 2 });
  for (let i = 0; i < 20; i++) {
    const { failures } = await sink.write({ runId: 'run_0001', index: i, items: items([{ n: i }]) }, chunkContext());
    assert.equal(failures.size, 0);
  }
  assert.equal(s.requests.length, 20);
  assert.ok(s.connections <= 2, `${s.connections} connections`);
});

test('chunks written concurrently share the pool and all arrive', async () => {
  const s = await server(() => ({ delayMs: 5 }));
  const sink = await openSink({ url: `${s.url}/p/{n}`, max_connections: 3 });
  const results = await Promise.all([0, 1, 2, 3].map((index) =>
    sink.write({ runId: 'run_0001', index, items: items([0, 1, 2, 3, 4].map((n) => ({ n: `${index}-${n}` }))) }, chunkContext({ chunkIndex: index }))));
  assert.deepEqual(results.map((r) => r.failures.size), [0, 0, 0, 0]);
  assert.equal(s.requests.length, 20);
  assert.ok(s.connections <= 3, `${s.connections} connections`);
});

test('healthcheck opens a connection without sending a request; a closed port is a transient network failure', async () => {
  const s = await server();
  const config = httpSinkConfig.parse({ type: 'http', url: `${s.url}/p/{sku}` });
  const sink = httpSink.create(config, { pipeline: 'sync', clock: fixedClock(now) } as unknown as BuildContext);
  await sink.healthcheck!(AbortSignal.timeout(5000));
  assert.equal(s.requests.length, 0);
  assert.equal(s.connections, 1);
  const closed = await startRecordingServer();
  await closed.stop();
  const down = httpSink.create(httpSinkConfig.parse({ type: 'http', url: `${closed.url}/p` }), { pipeline: 'sync', clock: fixedClock(now) } as unknown as BuildContext);
  await assert.rejects(down.healthcheck!(AbortSignal.timeout(5000)), (e: LadingError) => e.code === 'NETWORK_FAILED' && e.category === 'transient');
});
