// The s3 destination against s3rver (a real S3-compatible server on loopback). Answers s3rver
// never gives (412 to If-None-Match, which it ignores; SignatureDoesNotMatch, as it does not
// verify SigV4 signatures; AccessDenied; SlowDown; BadDigest) are scripted on a recording HTTP
// server in one test, named as such.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Destination, s3Config } from '../../../src/destinations/s3.js';
import { startRecordingServer } from '../../support/servers/http.js';
import { startS3, type S3Server } from '../../support/servers/s3.js';
import { expect, isCode, MiB, opts, sha } from '../../support/destinations.js';


let server: S3Server;
before(async () => {
  server = await startS3();
});
after(() => server.stop());

function destination(at: { url: string; bucket: string } = server, extra: Record<string, unknown> = {}): S3Destination {
  return new S3Destination(s3Config.parse({
    type: 's3', bucket: at.bucket, endpoint: at.url, force_path_style: true,
    access_key_id: server.accessKeyId, secret_access_key: server.secretAccessKey, ...extra,
  }));
}

async function head(key: string) {
  return server.client.send(new HeadObjectCommand({ Bucket: server.bucket, Key: key }));
}

/** 30 distinct 1 MiB chunks, made as they are pulled (the test holds none of them). */
function* chunks(count: number): Generator<Buffer> {
  const block = createHash('sha512').update('lading').digest();
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.alloc(MiB);
    for (let at = 0; at < MiB; at += block.length) block.copy(chunk, at);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

test('a 30 MiB file goes up in six 5 MiB parts, two at a time, never holding more than two parts of it', async () => {
  const hash = createHash('sha256');
  for (const c of chunks(30)) hash.update(c);
  const expected = { bytes: 30 * MiB, sha256: hash.digest('hex') };
  const dest = destination(server, { prefix: 'big', part_size: '5MiB', queue_size: 2 });
  // Bytes pulled from the body minus bytes s3rver has stored: what the process (and its sockets) hold.
  let stored = 0;
  let pulled = 0;
  let maxHeld = 0;
  server.onAnswered = (r) => {
    if (r.method === 'PUT' && r.url.includes('partNumber=') && r.status === 200) stored += Number(r.headers['content-length']);
  };
  async function* body() {
    for (const chunk of chunks(30)) {
      pulled += chunk.byteLength;
      maxHeld = Math.max(maxHeld, pulled - stored);
      yield chunk;
    }
  }
  const before = server.requests.length;
  try {
    const receipt = await dest.put('file.bin', body(), opts({ expected }));
    assert.deepEqual([receipt.bytes, receipt.sha256, receipt.uri], [expected.bytes, expected.sha256, 's3://bucket/big/file.bin']);
  } finally {
    server.onAnswered = undefined;
    await dest.close();
  }
  const mine = server.requests.slice(before);
  const parts = mine.filter((r) => r.method === 'PUT' && r.url.includes('partNumber='));
  assert.deepEqual(parts.map((r) => Number(new URL(r.url, server.url).searchParams.get('partNumber'))).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
  assert.ok(parts.every((r) => typeof r.headers['x-amz-checksum-sha256'] === 'string'), 'each part carries its sha256 for S3 to check');
  assert.equal(mine.filter((r) => r.method === 'POST' && r.url.includes('uploadId=')).length, 1, 'one CompleteMultipartUpload');
  // queue_size parts being uploaded, plus two body chunks: the tail of the chunk cut at a part
  // boundary and the chunk the stream has read ahead (a rendered file is read in 64 KiB chunks).
  assert.ok(maxHeld <= 2 * 5 * MiB + 2 * MiB, `held ${(maxHeld / MiB).toFixed(1)} MiB of the body at once`);
  assert.equal(sha(await server.read('big/file.bin')), expected.sha256);
  assert.equal((await head('big/file.bin')).Metadata?.['lading-sha256'], expected.sha256);
  assert.deepEqual(await destination(server, { prefix: 'big' }).stat('file.bin'), expected);
});

test('a multipart body whose bytes differ from what was rendered is abandoned before CompleteMultipartUpload', async () => {
  const dest = destination(server, { part_size: '5MiB' });
  const before = server.requests.length;
  await assert.rejects(dest.put('wrong.bin', chunks(11), opts({ expected: { bytes: 11 * MiB, sha256: sha(Buffer.from('something else')) } })), isCode('DEST_VERIFY_MISMATCH', true));
  const mine = server.requests.slice(before);
  assert.ok(mine.some((r) => r.url.includes('partNumber=')), 'parts were sent');
  assert.ok(!mine.some((r) => r.method === 'POST' && r.url.includes('uploadId=')), 'the upload was never completed');
  assert.ok(!(await server.list()).includes('wrong.bin'));
});

test('an access key s3rver does not know is refused as DEST_AUTH_FAILED (permanent), from put and from healthcheck', async () => {
  // s3rver checks the access key id only: it does not verify SigV4 signatures, so a wrong secret
  // passes there; S3's SignatureDoesNotMatch is scripted in the test below.
  const unknownKey = destination(server, { access_key_id: 'NOBODY' });
  for (const onCollision of ['fail', 'overwrite'] as const) {
    await assert.rejects(unknownKey.put('a.csv', [Buffer.from('x\n')], opts({ onCollision })), isCode('DEST_AUTH_FAILED', false));
  }
  await assert.rejects(unknownKey.put('a.csv', [Buffer.from('x\n')], opts({ onCollision: 'overwrite' })), /InvalidAccessKeyId/);
  await assert.rejects(unknownKey.healthcheck(AbortSignal.timeout(10_000)), isCode('DEST_AUTH_FAILED', false));
  assert.ok(!(await server.list()).includes('a.csv'));
});

test('a bucket that does not exist is DEST_NOT_FOUND, from put and from healthcheck', async () => {
  const dest = destination({ url: server.url, bucket: 'no-such-bucket' });
  await assert.rejects(dest.put('a.csv', [Buffer.from('x\n')], opts()), isCode('DEST_NOT_FOUND', false));
  await assert.rejects(dest.healthcheck(AbortSignal.timeout(10_000)), isCode('DEST_NOT_FOUND', false));
});

test('a server that is gone is a transient NETWORK_FAILED', async () => {
  const gone = await startS3();
  await gone.stop();
  const dest = destination(gone);
  await assert.rejects(dest.put('a.csv', [Buffer.from('x\n')], opts()), isCode('NETWORK_FAILED', true));
  await assert.rejects(dest.healthcheck(AbortSignal.timeout(10_000)), isCode('NETWORK_FAILED', true));
});

test('metadata templates render the put\'s facts; content type follows the extension; lading-sha256 is set', async () => {
  const dest = destination(server, {
    prefix: '/meta/',
    metadata: { batch: '{batch_id}', records: '{records}', origin: 'lading {pipeline} run {run_id}', missing: '[{sha256}]' },
    content_encoding: 'identity',
  });
  const body = Buffer.from('id,email\n1,a@x.io\n');
  await dest.put('leads.csv', [body], opts({ metadata: { pipeline: 'partner-a', batch_id: 'b-42', run_id: 'r-7', records: '1' } }));
  const got = await head('meta/leads.csv');
  assert.deepEqual(got.Metadata, { batch: 'b-42', records: '1', origin: 'lading partner-a run r-7', missing: '[]', 'lading-sha256': sha(body) });
  assert.equal(got.ContentType, 'text/csv');
  assert.equal(got.ContentEncoding, 'identity');
  await dest.put('leads.csv.gz', [body], opts());
  assert.equal((await head('meta/leads.csv.gz')).ContentType, 'application/gzip');
  assert.deepEqual(await dest.stat('leads.csv'), { bytes: body.length, sha256: sha(body) });
});

test('collisions: fail sends If-None-Match and refuses; skip_if_identical compares a foreign object by its bytes; overwrite replaces', async () => {
  const dest = destination(server, { prefix: 'collide' });
  const a = Buffer.from('first\n');
  const b = Buffer.from('second\n');
  const before = server.requests.length;
  await dest.put('f.csv', [a], opts(expect(a)));
  const create = server.requests.slice(before).find((r) => r.method === 'PUT');
  assert.equal(create?.headers['if-none-match'], '*');
  await assert.rejects(dest.put('f.csv', [a], opts()), isCode('DEST_COLLISION', false));

  // An object written by someone else carries no lading-sha256: its bytes are read to compare.
  await server.client.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'collide/g.csv', Body: a }));
  const skipped = await dest.put('g.csv', [a], opts({ onCollision: 'skip_if_identical', ...expect(a) }));
  assert.deepEqual([skipped.skipped, skipped.sha256, skipped.uri], [true, sha(a), 's3://bucket/collide/g.csv']);
  await assert.rejects(dest.put('g.csv', [b], opts({ onCollision: 'skip_if_identical', ...expect(b) })), isCode('DEST_COLLISION'));

  const mark = server.requests.length;
  await dest.put('g.csv', [b], opts({ onCollision: 'overwrite' }));
  assert.equal(server.requests.slice(mark).find((r) => r.method === 'PUT')?.headers['if-none-match'], undefined);
  assert.deepEqual(await server.read('collide/g.csv'), b);
});

test('S3 answers s3rver never gives (SCRIPTED on a recording server): 412 to If-None-Match, SignatureDoesNotMatch, AccessDenied, 503 SlowDown, 400 InvalidStorageClass, 400 BadDigest, 501 NotImplemented', async () => {
  const xml = (code: string, message: string) => ({
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>1</RequestId></Error>`,
  });
  let answerPut: { status: number; headers: Record<string, string>; body: string } = { status: 200, headers: {}, body: '' };
  const scripted = await startRecordingServer((req) => (req.method === 'HEAD' ? { status: 404 } : answerPut));
  const dest = destination({ url: scripted.url, bucket: 'bucket' }, { secret_access_key: 'wrong-secret-key' });
  const cases: [number, string, string, (e: unknown) => boolean][] = [
    [412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', isCode('DEST_COLLISION', false)],
    [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', isCode('DEST_AUTH_FAILED', false)],
    [403, 'AccessDenied', 'Access Denied', isCode('DEST_AUTH_FAILED', false)],
    [503, 'SlowDown', 'Please reduce your request rate.', isCode('DEST_WRITE_FAILED', true)],
    [400, 'InvalidStorageClass', 'The storage class you specified is not valid', isCode('DEST_S3_REJECTED', false)],
    [400, 'BadDigest', 'The Content-SHA256 you specified did not match what we received.', isCode('DEST_VERIFY_MISMATCH', true)],
    [501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', isCode('DEST_S3_REJECTED', false)],
  ];
  try {
    for (const [status, code, message, check] of cases) {
      answerPut = { status, ...xml(code, message) };
      await assert.rejects(dest.put(`${code}.csv`, [Buffer.from('x')], opts()), (e: unknown) =>
        check(e) && (e as Error).message.includes(code) && !(e as Error).message.includes('wrong-secret-key'), code);
    }
  } finally {
    await dest.close();
    await scripted.stop();
  }
});

test('an aborted put stops the upload and leaves no object', async () => {
  const dest = destination(server, { part_size: '5MiB' });
  const controller = new AbortController();
  async function* body() {
    let n = 0;
    for (const chunk of chunks(12)) {
      if (++n === 7) controller.abort();
      yield chunk;
    }
  }
  await assert.rejects(dest.put('aborted.bin', body(), opts({ signal: controller.signal })));
  assert.ok(!(await server.list()).includes('aborted.bin'));
});

const hasCredentialProviders = (() => {
  try {
    createRequire(import.meta.url).resolve('@aws-sdk/credential-providers');
    return true;
  } catch {
    return false;
  }
})();

test('role_arn without @aws-sdk/credential-providers installed fails at healthcheck, saying what to install', { skip: hasCredentialProviders && 'the package is installed' }, async () => {
  const dest = destination(server, { role_arn: 'arn:aws:iam::123456789012:role/partner-upload' });
  await assert.rejects(dest.healthcheck(AbortSignal.timeout(10_000)), (e: unknown) =>
    isCode('CONFIG_INVALID', false)(e) && /@aws-sdk\/credential-providers/.test((e as Error).message));
});

test('config: part_size at least 5MiB, access keys in pairs, kms_key_id only with aws:kms, unknown keys and tokens refused', () => {
  const base = { type: 's3', bucket: 'bucket' };
  assert.equal(s3Config.parse(base).part_size, 8 * MiB);
  assert.equal(s3Config.parse({ ...base, part_size: '16MiB' }).part_size, 16 * MiB);
  assert.equal(s3Config.safeParse({ ...base, part_size: '5MB' }).success, false, '5MB is less than S3\'s 5MiB minimum');
  assert.equal(s3Config.safeParse({ ...base, access_key_id: 'AKIA' }).success, false);
  assert.equal(s3Config.safeParse({ ...base, kms_key_id: 'key' }).success, false);
  assert.equal(s3Config.safeParse({ ...base, server_side_encryption: 'aws:kms', kms_key_id: 'key' }).success, true);
  assert.equal(s3Config.safeParse({ ...base, region_name: 'x' }).success, false);
  assert.equal(s3Config.safeParse({ ...base, metadata: { batch: '{batch}' } }).success, false);
  assert.equal(s3Config.safeParse({ ...base, metadata: { 'lading-sha256': 'x' } }).success, false);
  assert.equal(s3Config.safeParse({ ...base, storage_class: 'COLD' }).success, false);
});

test('healthcheck probes with a create and a delete under the prefix, leaving nothing', async () => {
  const before = server.requests.length;
  await destination(server, { prefix: 'probe-here' }).healthcheck(AbortSignal.timeout(10_000));
  const puts = server.requests.slice(before).filter((r) => r.method === 'PUT');
  assert.equal(puts.length, 1);
  assert.match(puts[0]!.url, /^\/bucket\/probe-here\/\.lading-probe-[0-9a-f]{12}/);
  assert.deepEqual(await server.list('probe-here/'), []);
});
