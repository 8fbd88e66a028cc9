// The http_upload destination against the recording HTTP server on loopback.
//
// The shared destination suite (test/conformance/destination.suite.ts) does not fit http_upload:
// it needs a listing of the target to prove that the final name never appears early, and an HTTP
// upload has no listing and no rename — making the file visible is the receiver's job. What an
// upload does promise is tested here instead: the bytes arrive whole and equal, with their sha256,
// a file that does not match is never sent complete, and the answer is classified.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { fixedClock } from '../../../src/core/clock.js';
import type { BuildContext } from '../../../src/core/component.js';
import { HttpUploadDestination, httpUpload, httpUploadConfig } from '../../../src/destinations/http-upload.js';
import type { PutOptions } from '../../../src/destinations/types.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { sequence, startRecordingServer, type Answer, type RecordingServer, type Script } from '../../support/servers/http.js';
import { failure } from '../../support/errors.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const opts = (extra: Partial<PutOptions> = {}): PutOptions => ({ onCollision: 'overwrite', signal: new AbortController().signal, ...extra });
const expect = (b: Uint8Array) => ({ bytes: b.length, sha256: sha(b) });
const metadata = { pipeline: 'partner-a', batch_id: 'batch_0007', run_id: 'run_0042' };

async function server(script?: Script): Promise<RecordingServer> {
  const s = await startRecordingServer(script);
  after(() => s.stop());
  return s;
}

function destination(config: Record<string, unknown>): HttpUploadDestination {
  const parsed = httpUploadConfig.parse({ type: 'http_upload', ...config });
  const d = httpUpload.create(parsed, { pipeline: 'partner-a', clock: fixedClock('2026-01-02T03:04:05Z') } as BuildContext) as HttpUploadDestination;
  after(() => d.close());
  return d;
}

async function answering(answer: Answer) {
  const s = await server(() => answer);
  const d = destination({ url: `${s.url}/in/{name}`, auth: { type: 'bearer', token: 'tok-SECRET-123456' } });
  const body = Buffer.from('id,email\n1,a@x.io\n');
  return { s, error: await failure(d.put('leads.csv', [body], opts({ expected: expect(body) }))) };
}

test('raw PUT: the body is the file, byte for byte, with its length, sha256, idempotency key and templated name', async () => {
  const s = await server(() => ({ status: 201 }));
  const d = destination({
    url: `${s.url}/v1/{pipeline}/{batch_id}/{name}?source=lading`, content_type: 'application/gzip',
    headers: { 'X-File-Name': '{basename}', 'X-Run': '{run_id}' }, auth: { type: 'bearer', token: 'tok-SECRET-123456' },
  });
  const file = randomBytes(300_000);
  async function* body() {
    yield file.subarray(0, 100_000);
    yield file.subarray(100_000);
  }
  const receipt = await d.put('daily/leads 1.csv.gz', body(), opts({ expected: expect(file), metadata }));
  assert.equal(s.requests.length, 1);
  const [req] = s.requests;
  assert.equal(req!.method, 'PUT');
  assert.equal(req!.path, '/v1/partner-a/batch_0007/daily/leads%201.csv.gz?source=lading');
  assert.ok(req!.raw.equals(file), 'bytes differ');
  assert.equal(req!.headers['content-type'], 'application/gzip');
  assert.equal(req!.headers['content-length'], String(file.length));
  assert.equal(req!.headers['x-checksum-sha256'], sha(file));
  assert.equal(req!.headers.digest, `sha-256=${createHash('sha256').update(file).digest('base64')}`);
  assert.equal(req!.headers.authorization, 'Bearer tok-SECRET-123456');
  assert.equal(req!.headers['x-file-name'], 'leads 1.csv.gz');
  assert.equal(req!.headers['x-run'], 'run_0042');
  assert.match(String(req!.headers['idempotency-key']), /^[0-9a-f]{64}$/);
  assert.deepEqual({ ...receipt }, { uri: `${s.url}/v1/partner-a/batch_0007/daily/leads%201.csv.gz`, bytes: file.length, sha256: sha(file), attempts: 1, skipped: false });

  await d.put('daily/leads 1.csv.gz', [file], opts({ expected: expect(file), metadata }));
  await d.put('daily/other.csv.gz', [file], opts({ expected: expect(file), metadata }));
  const keys = s.requests.map((r) => r.headers['idempotency-key']);
  assert.equal(keys[1], keys[0], 'the same file sent again carries the same key');
  assert.notEqual(keys[2], keys[0], 'another name, another key');
});

test('multipart POST: a name field, a sha256 field and the file part, streamed; the file part is byte-equal', async () => {
  const s = await server();
  const d = destination({ url: `${s.url}/upload`, method: 'POST', encoding: 'multipart', content_type: 'text/csv' });
  const file = Buffer.concat([Buffer.from('id,name\n1,"Zoë ""Z"""\r\n'), randomBytes(50_000)]);
  await d.put('out/leads "q".csv', [file.subarray(0, 7), file.subarray(7)], opts({ expected: expect(file) }));
  const [req] = s.requests;
  assert.equal(req!.method, 'POST');
  assert.match(String(req!.headers['content-type']), /^multipart\/form-data; boundary=lading-[0-9a-f]{32}$/);
  assert.equal(req!.headers['content-length'], String(req!.raw.length));
  assert.equal(req!.headers['x-checksum-sha256'], sha(file));
  assert.equal(req!.headers.digest, undefined, 'a Digest header would describe the whole multipart body, not the file');
  // An independent parser: undici's FormData decoding behind Response.formData().
  const form = await new Response(req!.raw, { headers: { 'content-type': String(req!.headers['content-type']) } }).formData();
  assert.equal(form.get('name'), 'out/leads "q".csv');
  assert.equal(form.get('sha256'), sha(file));
  const part = form.get('file') as File;
  assert.equal(part.name, 'leads "q".csv', 'sent as leads %22q%22.csv, which form parsers decode');
  assert.equal(part.type, 'text/csv');
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(file), 'file part differs');
});

test('a body of unknown size streams chunked; sidecars held in memory still get their sha256 and key', async () => {
  const s = await server();
  const d = destination({ url: `${s.url}/in/{name}` });
  async function* unknown() {
    yield Buffer.from('a');
    yield Buffer.from('b');
  }
  const receipt = await d.put('x.txt', unknown(), opts());
  assert.equal(s.requests[0]!.headers['transfer-encoding'], 'chunked');
  assert.equal(s.requests[0]!.headers['x-checksum-sha256'], undefined);
  assert.equal(s.requests[0]!.headers['idempotency-key'], undefined);
  assert.equal(receipt.sha256, sha(Buffer.from('ab')));
  await d.put('x.txt.sha256', [Buffer.from(`${receipt.sha256}  x.txt\n`)], opts());
  assert.equal(s.requests[1]!.headers['x-checksum-sha256'], sha(Buffer.from(`${receipt.sha256}  x.txt\n`)));
  assert.match(String(s.requests[1]!.headers['idempotency-key']), /^[0-9a-f]{64}$/);
});

test('503 with Retry-After is transient and carries retryAfterMs', async () => {
  const { error } = await answering({ status: 503, headers: { 'retry-after': '7' }, body: 'maintenance' });
  assert.deepEqual([error.code, error.category, error.retryAfterMs], ['SINK_HTTP_TRANSIENT', 'transient', 7000]);
  assert.match(error.message, /^PUT http:\/\/127\.0\.0\.1:\d+\/in\/leads\.csv: HTTP 503 \(Retry-After 7000 ms\): maintenance$/);
});

test('429 is transient (rate limited)', async () => {
  const { error } = await answering({ status: 429, headers: { 'retry-after': '1' } });
  assert.deepEqual([error.code, error.category, error.retryAfterMs], ['SINK_HTTP_RATE_LIMITED', 'transient', 1000]);
});

test('401 is DEST_AUTH_FAILED: permanent, suspends deliveries, and the token is not in the message', async () => {
  const { error } = await answering({ status: 401, body: { error: 'bad token tok-SECRET-123456' } });
  assert.deepEqual([error.code, error.category, error.errorType], ['DEST_AUTH_FAILED', 'permanent', 'AuthError']);
  assert.ok(!error.message.includes('tok-SECRET-123456'), error.message);
  assert.match(error.message, /credentials refused/);
});

test('409 is a permanent rejection with the start of the answer', async () => {
  const { error } = await answering({ status: 409, body: { error: 'leads.csv was already received on 2026-01-01' } });
  assert.deepEqual([error.code, error.category], ['SINK_HTTP_REJECTED', 'permanent']);
  assert.match(error.message, /HTTP 409: \{"error":"leads\.csv was already received on 2026-01-01"\}/);
});

test('success.json_path: a 200 whose answer says otherwise is a rejection', async () => {
  const s = await server(sequence({ status: 200, body: { status: 'quarantined' } }, { status: 200, body: { status: 'stored' } }));
  const d = destination({ url: `${s.url}/in/{name}`, success: { json_path: 'status', equals: 'stored' } });
  const e = await failure(d.put('a.csv', [Buffer.from('x')], opts()));
  assert.equal(e.code, 'SINK_HTTP_REJECTED');
  await d.put('a.csv', [Buffer.from('x')], opts());
});

test('a file that does not match what was rendered is cut short: the receiver never gets a complete request', async () => {
  const s = await server();
  const d = destination({ url: `${s.url}/in/{name}` });
  const file = Buffer.from('abc,def\n');
  const e = await failure(d.put('v.csv', [file.subarray(0, 4), file.subarray(4)], opts({ expected: { bytes: file.length, sha256: sha(Buffer.from('abc,deg\n')) } })));
  assert.deepEqual([e.code, e.category], ['DEST_VERIFY_MISMATCH', 'transient']);
  assert.match(e.message, /^PUT http:\/\/127\.0\.0\.1:\d+\/in\/v\.csv: the file read 8 bytes/);
  assert.equal(s.requests.length, 0, 'no complete request arrived');
  assert.ok(s.received < file.length, `the receiver got ${s.received} of ${file.length} bytes`);
});

test('a 20 MB upload streams: the server receives it whole while the client stays a few chunks ahead', { timeout: 120_000 }, async () => {
  const s = await server();
  const d = destination({ url: `${s.url}/in/{name}` });
  const chunk = 64 * 1024;
  const count = 320; // 20 MiB
  const window = 4;
  const hash = createHash('sha256');
  let ahead = 0;
  async function* big() {
    for (let i = 0; i < count; i++) {
      // Chunk i is made only once the server has read all but the last `window` chunks: a client
      // that gathered the body before sending would never get there (and the test would time out).
      while (s.received < (i - window) * chunk) await new Promise((resolve) => setImmediate(resolve));
      ahead = Math.max(ahead, i - Math.floor(s.received / chunk));
      const bytes = randomBytes(chunk);
      hash.update(bytes);
      yield bytes;
    }
  }
  const receipt = await d.put('big.bin', big(), opts());
  const digest = hash.digest('hex');
  assert.equal(s.requests[0]!.raw.length, count * chunk);
  assert.equal(sha(s.requests[0]!.raw), digest);
  assert.deepEqual([receipt.bytes, receipt.sha256], [count * chunk, digest]);
  assert.ok(ahead <= window, `client ran ${ahead} chunks ahead of the server`);
});

test('no progress within timeout is SINK_HTTP_TIMEOUT, transient', async () => {
  const s = await server(() => ({ hang: true }));
  const d = destination({ url: `${s.url}/in/{name}`, timeout: '200ms' });
  const e = await failure(d.put('slow.csv', [Buffer.from('x')], opts()));
  assert.deepEqual([e.code, e.category], ['SINK_HTTP_TIMEOUT', 'transient']);
});

test('a receiver that is down is NETWORK_FAILED, transient', async () => {
  const s = await server();
  await s.stop();
  const d = destination({ url: `${s.url}/in/{name}` });
  const e = await failure(d.put('a.csv', [Buffer.from('x')], opts()));
  assert.deepEqual([e.code, e.category], ['NETWORK_FAILED', 'transient']);
  const h = await failure(d.healthcheck(AbortSignal.timeout(10_000)));
  assert.equal(h.code, 'NETWORK_FAILED');
});

test('stat is null without stat_url; with it, HEAD gives size and sha256, and collisions are checked before sending', async () => {
  const stored = Buffer.from('already there\n');
  const s = await server((req): Answer => {
    if (req.method !== 'HEAD') return { status: 201 };
    if (req.path === '/files/there.csv') return { status: 200, headers: { 'content-length': String(stored.length), 'x-checksum-sha256': sha(stored) } };
    if (req.path === '/files/no-sum.csv') return { status: 200, headers: { 'content-length': '5' } };
    return { status: 404 };
  });
  assert.equal(await destination({ url: `${s.url}/in/{name}` }).stat('there.csv'), null);
  assert.equal(s.requests.length, 0);

  const d = destination({ url: `${s.url}/in/{name}`, stat_url: `${s.url}/files/{name}` });
  assert.deepEqual(await d.stat('there.csv'), { bytes: stored.length, sha256: sha(stored) });
  assert.deepEqual(await d.stat('no-sum.csv'), { bytes: 5 });
  assert.equal(await d.stat('missing.csv'), null);

  const skipped = await d.put('there.csv', [stored], opts({ onCollision: 'skip_if_identical', expected: expect(stored) }));
  assert.equal(skipped.skipped, true);
  const other = Buffer.from('new content\n');
  assert.equal((await failure(d.put('there.csv', [other], opts({ onCollision: 'skip_if_identical', expected: expect(other) })))).code, 'DEST_COLLISION');
  assert.equal((await failure(d.put('there.csv', [stored], opts({ onCollision: 'fail', expected: expect(stored) })))).code, 'DEST_COLLISION');
  const noSum = await failure(d.put('no-sum.csv', [Buffer.from('12345')], opts({ onCollision: 'skip_if_identical', expected: expect(Buffer.from('12345')) })));
  assert.match(noSum.message, /carries no sha256/);
  assert.equal(s.requests.filter((r) => r.method === 'PUT').length, 0, 'nothing was uploaded');
  await d.put('there.csv', [other], opts({ onCollision: 'overwrite' }));
  await d.put('fresh.csv', [other], opts({ onCollision: 'fail' }));
  assert.deepEqual(s.requests.filter((r) => r.method === 'PUT').map((r) => r.path), ['/in/there.csv', '/in/fresh.csv']);
});

test('healthcheck sends OPTIONS to the origin with the credentials; 404 is fine, 401 and 5xx are not; nothing is uploaded', async () => {
  const s = await server(sequence({ status: 404 }, { status: 401 }, { status: 502 }));
  const d = destination({ url: `${s.url}/in/{name}`, auth: { type: 'basic', username: 'u', password: 'pw-SECRET-1' } });
  await d.healthcheck(AbortSignal.timeout(10_000));
  assert.deepEqual([s.requests[0]!.method, s.requests[0]!.path], ['OPTIONS', '/']);
  assert.match(String(s.requests[0]!.headers.authorization), /^Basic /);
  const auth = await failure(d.healthcheck(AbortSignal.timeout(10_000)));
  assert.deepEqual([auth.code, auth.category], ['DEST_AUTH_FAILED', 'permanent']);
  const down = await failure(d.healthcheck(AbortSignal.timeout(10_000)));
  assert.deepEqual([down.code, down.category], ['SINK_HTTP_TRANSIENT', 'transient']);

  const custom = destination({ url: `${s.url}/in/{name}`, healthcheck_url: `${s.url}/health?deep=1` });
  await failure(custom.healthcheck(AbortSignal.timeout(10_000)));
  assert.equal(s.requests.at(-1)!.path, '/health?deep=1');
});

test('config: the file name must reach the receiver; tokens and headers are checked', () => {
  const issues = (config: Record<string, unknown>) => {
    const r = httpUploadConfig.safeParse({ type: 'http_upload', ...config });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.deepEqual(issues({ url: 'https://files.example/in/{name}' }), []);
  assert.deepEqual(issues({ url: 'https://files.example/upload', headers: { 'X-File-Name': '{basename}' } }), []);
  assert.deepEqual(issues({ url: 'https://files.example/upload', encoding: 'multipart' }), []);
  assert.match(issues({ url: 'https://files.example/upload' }).join('\n'), /url: does not carry the file name/);
  assert.match(issues({ url: 'https://files.example/{name}/{sku}' }).join('\n'), /url: uses \{sku\}; allowed here: \{name\} \{basename\} \{pipeline\} \{batch_id\} \{run_id\}/);
  assert.match(issues({ url: 'https://files.example/{name}', stat_url: 'https://files.example/{batch_id}/{name}' }).join('\n'), /stat_url: uses \{batch_id\}/);
  assert.match(issues({ url: 'https://files.example/{name}', headers: { 'Content-Type': 'text/csv' } }).join('\n'), /headers.Content-Type: is set from content_type/);
  assert.match(issues({ url: 'https://files.example/{name}', headers: { 'X-Checksum-SHA256': 'x' } }).join('\n'), /is set by lading/);
  assert.match(issues({ url: 'https://u:p@files.example/{name}' }).join('\n'), /must not hold credentials/);
  assert.match(issues({ url: 'ftp://files.example/{name}' }).join('\n'), /must start with http/);
  assert.match(issues({ url: 'https://files.example/{name}', method: 'PATCH' }).join('\n'), /method/);
  const parsed = httpUploadConfig.parse({ type: 'http_upload', url: 'https://files.example/{name}' });
  assert.deepEqual([parsed.method, parsed.encoding, parsed.content_type, parsed.timeout, parsed.auth], ['PUT', 'raw', 'application/octet-stream', 60_000, { type: 'none' }]);
});

test('{batch_id} without the run metadata is a clear error, not an empty path segment', async () => {
  const s = await server();
  const d = destination({ url: `${s.url}/in/{batch_id}/{name}` });
  const e = await failure(d.put('a.csv', [Buffer.from('x')], opts()));
  assert.equal(e.code, 'CONFIG_INVALID');
  assert.match(e.message, /\{batch_id\} has no value/);
  assert.equal(s.requests.length, 0);
});
