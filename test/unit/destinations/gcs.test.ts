// The gcs destination: the real @google-cloud/storage client against the GCS STAND-IN
// (test/support/servers/gcs-standin.ts), not Google Cloud Storage, which cannot be had here. The
// stand-in keeps generation preconditions, computes size / md5Hash / crc32c of what it received,
// and creates an object only when its upload arrives complete. It has no authentication: the 403
// below is scripted (`deny`).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { GcsDestination, gcsConfig } from '../../../src/destinations/gcs.js';
import { crc32c, startGcsStandin, type GcsStandin } from '../../support/servers/gcs-standin.js';
import { expect, isCode, MiB, opts, sha } from '../../support/destinations.js';


let standin: GcsStandin;
before(async () => {
  standin = await startGcsStandin();
});
after(() => standin.stop());

function destination(at: { url: string; bucket: string } = standin, extra: Record<string, unknown> = {}): GcsDestination {
  return new GcsDestination(gcsConfig.parse({ type: 'gcs', bucket: at.bucket, api_endpoint: at.url, project_id: 'test', ...extra }), process.cwd());
}

function* chunks(count: number, size = MiB): Generator<Buffer> {
  const block = createHash('sha512').update('lading').digest();
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.alloc(size);
    for (let at = 0; at < size; at += block.length) block.copy(chunk, at);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

test('the stand-in\'s crc32c is CRC-32C (Castagnoli): the check value of "123456789" is e3069283', () => {
  assert.equal(Buffer.from(crc32c(Buffer.from('123456789')), 'base64').toString('hex'), 'e3069283');
});

test('STAND-IN: a 30 MiB file streams through one resumable upload without holding the file; size, md5 and crc32c match', async () => {
  // 64 KiB chunks, as the file sink reads a staged file.
  const count = 30 * 16;
  const hash = createHash('sha256');
  for (const c of chunks(count, 64 * 1024)) hash.update(c);
  const expected = { bytes: 30 * MiB, sha256: hash.digest('hex') };
  const dest = destination(standin, { prefix: 'big', resumable_threshold: '1MiB' });
  const start = standin.bytesReceived;
  let pulled = 0;
  let maxHeld = 0;
  async function* body() {
    for (const chunk of chunks(count, 64 * 1024)) {
      pulled += chunk.byteLength;
      maxHeld = Math.max(maxHeld, pulled - (standin.bytesReceived - start));
      yield chunk;
    }
  }
  const mark = standin.requests.length;
  const receipt = await dest.put('file.bin', body(), opts({ expected }));
  assert.deepEqual([receipt.bytes, receipt.sha256, receipt.uri], [expected.bytes, expected.sha256, 'gs://bucket/big/file.bin']);
  const mine = standin.requests.slice(mark);
  assert.deepEqual(mine.map((r) => `${r.method} ${new URL(r.url, standin.url).searchParams.get('uploadType')}`).filter((r) => !r.startsWith('GET')),
    ['POST resumable', 'PUT resumable']);
  assert.equal(mine.find((r) => r.method === 'PUT')?.headers['content-range'], `bytes 0-*/${30 * MiB}`);
  // Pulled but not yet received by the server: the 1 MiB read before the session starts, a few
  // 64 KiB stream buffers, and the kernel's loopback socket buffers (send buffer up to 4 MiB,
  // receive buffer autotuned); a third of the file at most, whatever the file's size.
  assert.ok(maxHeld <= 10 * MiB, `held ${(maxHeld / MiB).toFixed(1)} MiB of the body at once`);
  const stored = standin.objects.get('big/file.bin')!;
  assert.equal(sha(stored.bytes), expected.sha256);
  assert.equal(stored.metadata['lading-sha256'], expected.sha256);
  assert.deepEqual(await dest.stat('file.bin'), expected);
});

test('STAND-IN: a small file is read whole and sent in one multipart request carrying its metadata', async () => {
  const dest = destination(standin, { prefix: 'small' });
  const body = Buffer.from('id,email\n1,a@x.io\n');
  const mark = standin.requests.length;
  await dest.put('leads.csv', [body], opts());
  const upload = standin.requests.slice(mark).filter((r) => r.method === 'POST');
  assert.equal(upload.length, 1);
  assert.match(upload[0]!.url, /uploadType=multipart/);
  assert.match(upload[0]!.url, /ifGenerationMatch=0/);
  assert.equal(standin.objects.get('small/leads.csv')!.metadata['lading-sha256'], sha(body), 'known before sending, without an expected digest');
});

test('STAND-IN: metadata templates render the put\'s facts; content type follows the extension', async () => {
  const dest = destination(standin, { prefix: 'meta', metadata: { batch: '{batch_id}', records: '{records}', origin: 'lading {pipeline} run {run_id}', missing: '[{sha256}]' } });
  const body = Buffer.from('{"a":1}\n');
  await dest.put('out.ndjson', [body], opts({ metadata: { pipeline: 'partner-a', batch_id: 'b-42', run_id: 'r-7', records: '1' } }));
  const stored = standin.objects.get('meta/out.ndjson')!;
  assert.deepEqual(stored.metadata, { batch: 'b-42', records: '1', origin: 'lading partner-a run r-7', missing: '[]', 'lading-sha256': sha(body) });
  assert.equal(stored.contentType, 'application/x-ndjson');
  await destination(standin, { prefix: 'meta', content_type: 'text/plain' }).put('x.csv.gz', [body], opts());
  assert.equal(standin.objects.get('meta/x.csv.gz')!.contentType, 'text/plain');
});

for (const threshold of ['8MiB', 1] as const) {
  const how = threshold === 1 ? 'resumable' : 'multipart';
  test(`STAND-IN (${how}): a name created while the upload runs makes ifGenerationMatch=0 fail with 412: fail refuses, skip_if_identical compares`, async () => {
    const dest = destination(standin, { prefix: `race-${how}`, resumable_threshold: threshold });
    const a = Buffer.from('the same bytes\n');
    const b = Buffer.from('other bytes\n');
    /** A body during which another writer creates the same name with `theirs`. */
    const racing = (mine: Buffer, theirs: Buffer, name: string) => (async function* () {
      yield mine.subarray(0, 4);
      await destination(standin, { prefix: `race-${how}` }).put(name, [theirs], opts({ onCollision: 'overwrite' }));
      yield mine.subarray(4);
    })();
    await assert.rejects(dest.put('f.csv', racing(a, b, 'f.csv'), opts()), isCode('DEST_COLLISION', false));
    assert.deepEqual(standin.objects.get(`race-${how}/f.csv`)!.bytes, b, 'the other writer\'s object is untouched');
    const skipped = await dest.put('g.csv', racing(a, a, 'g.csv'), opts({ onCollision: 'skip_if_identical', ...expect(a) }));
    assert.equal(skipped.skipped, true);
    await assert.rejects(dest.put('h.csv', racing(a, b, 'h.csv'), opts({ onCollision: 'skip_if_identical', ...expect(a) })), isCode('DEST_COLLISION'));
  });
}

test('STAND-IN: skip_if_identical reads a foreign object (no lading-sha256) to compare; overwrite replaces it', async () => {
  const dest = destination(standin, { prefix: 'foreign' });
  const a = Buffer.from('partner file\n');
  standin.objects.set('foreign/f.csv', { name: 'foreign/f.csv', bytes: a, generation: 1, contentType: 'text/csv', metadata: {}, created: new Date() });
  assert.deepEqual(await dest.stat('f.csv'), { bytes: a.length });
  assert.equal((await dest.put('f.csv', [a], opts({ onCollision: 'skip_if_identical', ...expect(a) }))).skipped, true);
  const b = Buffer.from('replacement\n');
  await dest.put('f.csv', [b], opts({ onCollision: 'overwrite' }));
  assert.deepEqual(standin.objects.get('foreign/f.csv')!.bytes, b);
});

test('STAND-IN: a store that keeps other bytes than it was sent fails the md5/crc32c check; that generation is deleted', async () => {
  const dest = destination(standin, { prefix: 'corrupt' });
  standin.corrupt = true;
  try {
    for (const [name, body] of [['small.csv', [Buffer.from('abc\n')]], ['large.bin', [...chunks(2, 256 * 1024)]]] as const) {
      const d = name === 'large.bin' ? destination(standin, { prefix: 'corrupt', resumable_threshold: '64KiB' }) : dest;
      await assert.rejects(d.put(name, body, opts()), (e: unknown) => isCode('DEST_VERIFY_MISMATCH', true)(e) && /md5/.test((e as Error).message));
      assert.equal(standin.objects.has(`corrupt/${name}`), false);
    }
  } finally {
    standin.corrupt = false;
  }
});

test('STAND-IN: a body that breaks part way cuts the resumable upload\'s connection; no object', async () => {
  const dest = destination(standin, { resumable_threshold: '64KiB' });
  const mark = standin.requests.length;
  let proceed!: () => void;
  const sent = new Promise<void>((resolve) => (proceed = resolve));
  async function* broken() {
    yield Buffer.alloc(128 * 1024, 1);
    yield Buffer.alloc(128 * 1024, 2);
    // Wait until the upload's data request has reached the server, then fail.
    while (!standin.requests.slice(mark).some((r) => r.method === 'PUT')) await new Promise((r) => setTimeout(r, 5));
    proceed();
    throw new Error('the staged file could not be read');
  }
  await assert.rejects(dest.put('broken.bin', broken(), opts()), /could not be read/);
  await sent;
  for (let i = 0; i < 200 && !standin.requests.slice(mark).some((r) => r.aborted); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(standin.requests.slice(mark).some((r) => r.method === 'PUT' && r.aborted), 'the data request was cut off, not left hanging');
  assert.equal(standin.objects.has('broken.bin'), false);
});

test('STAND-IN: a 403 (scripted: the stand-in has no authentication) is DEST_AUTH_FAILED, permanent', async () => {
  standin.deny.add(standin.bucket);
  try {
    await assert.rejects(destination().put('a.csv', [Buffer.from('x')], opts()), isCode('DEST_AUTH_FAILED', false));
    await assert.rejects(destination().put('a.csv', [Buffer.from('x')], opts({ onCollision: 'overwrite' })), isCode('DEST_AUTH_FAILED', false));
    await assert.rejects(destination().healthcheck(AbortSignal.timeout(10_000)), isCode('DEST_AUTH_FAILED', false));
  } finally {
    standin.deny.delete(standin.bucket);
  }
});

test('STAND-IN: a bucket that does not exist is DEST_NOT_FOUND; a server that is gone is a transient NETWORK_FAILED', async () => {
  await assert.rejects(destination({ url: standin.url, bucket: 'no-such-bucket' }).put('a.csv', [Buffer.from('x')], opts()), isCode('DEST_NOT_FOUND', false));
  await assert.rejects(destination({ url: standin.url, bucket: 'no-such-bucket' }).healthcheck(AbortSignal.timeout(10_000)), isCode('DEST_NOT_FOUND', false));
  const gone = await startGcsStandin();
  await gone.stop();
  await assert.rejects(destination(gone).put('a.csv', [Buffer.from('x')], opts()), isCode('NETWORK_FAILED', true));
  await assert.rejects(destination(gone).healthcheck(AbortSignal.timeout(10_000)), isCode('NETWORK_FAILED', true));
});

test('a key_file that cannot be read fails clearly, before any request', async () => {
  const dest = destination(standin, { key_file: 'no-such-key.json' });
  await assert.rejects(dest.healthcheck(AbortSignal.timeout(10_000)), (e: unknown) => isCode('CONFIG_INVALID', false)(e) && /no-such-key\.json/.test((e as Error).message));
});

test('STAND-IN: healthcheck creates and deletes a probe under the prefix, leaving nothing', async () => {
  const mark = standin.requests.length;
  await destination(standin, { prefix: 'probe-here' }).healthcheck(AbortSignal.timeout(10_000));
  const upload = standin.requests.slice(mark).find((r) => r.method === 'POST');
  assert.match(decodeURIComponent(upload!.url), /name=probe-here\/\.lading-probe-[0-9a-f]{12}/);
  assert.deepEqual([...standin.objects.keys()].filter((n) => n.startsWith('probe-here/')), []);
});

test('config: unknown keys and tokens are refused; resumable_threshold takes sizes', () => {
  const base = { type: 'gcs', bucket: 'bucket' };
  assert.equal(gcsConfig.parse(base).resumable_threshold, 8 * MiB);
  assert.equal(gcsConfig.parse({ ...base, resumable_threshold: '32MiB' }).resumable_threshold, 32 * MiB);
  assert.equal(gcsConfig.safeParse({ ...base, keyfile: 'x' }).success, false);
  assert.equal(gcsConfig.safeParse({ ...base, metadata: { batch: '{batchid}' } }).success, false);
});
