// Signed download links of the bucket destinations. S3: against s3rver, which checks a link's
// expiry but NOT its SigV4 signature (it looks up the access key id only), so a tampered link is
// shown to carry the parameters S3 checks rather than refused. GCS: against the GCS STAND-IN,
// which has no authentication at all: the V4 parameters are checked, and the signature is
// verified here with the service account's public key over the string-to-sign GCS documents.
import assert from 'node:assert/strict';
import { createHash, createVerify, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GcsDestination, gcsConfig } from '../../../src/destinations/gcs.js';
import { S3Destination, s3Config } from '../../../src/destinations/s3.js';
import { systemClock, type Clock } from '../../../src/core/clock.js';
import { startGcsStandin, type GcsStandin } from '../../support/servers/gcs-standin.js';
import { startS3, type S3Server } from '../../support/servers/s3.js';
import { isCode } from '../../support/destinations.js';
import { tempDir } from '../../support/tmp.js';

let s3: S3Server;
let standin: GcsStandin;
const dir = tempDir('lading-signed-url-');
before(async () => {
  [s3, standin] = await Promise.all([startS3(), startGcsStandin()]);
});
after(() => Promise.all([s3.stop(), standin.stop()]));

const shifted = (ms: number): Clock => ({ ...systemClock, now: () => new Date(Date.now() + ms) });

function s3Destination(clock: Clock = systemClock): S3Destination {
  return new S3Destination(s3Config.parse({
    type: 's3', bucket: s3.bucket, endpoint: s3.url, force_path_style: true, prefix: 'out',
    access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey,
  }), { clock });
}

test('s3: the link fetches the exact bytes, expires after the ttl, and carries only the signature', async () => {
  const body = Buffer.from('id,email\n1,ann@example.com\n');
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'out/a b.csv', Body: body }));
  const before = Date.now();
  const link = await s3Destination().signedUrl('a b.csv', 15 * 60_000);
  const url = new URL(link.url);
  assert.equal(`${url.origin}${decodeURIComponent(url.pathname)}`, `${s3.url}/${s3.bucket}/out/a b.csv`);
  assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
  assert.equal(url.searchParams.get('X-Amz-Expires'), '900');
  assert.match(url.searchParams.get('X-Amz-Signature')!, /^[0-9a-f]{64}$/);
  assert.match(url.searchParams.get('X-Amz-Credential')!, /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/);
  assert.deepEqual([...url.searchParams.keys()].filter((k) => !k.toLowerCase().startsWith('x-amz-') && k !== 'x-id'), [], 'nothing but the signature parameters');
  assert.ok(!url.searchParams.has('X-Amz-Security-Token'), 'static keys: no session token either');
  assert.ok(Math.abs(link.expiresAt.getTime() - (before + 900_000)) < 5_000);

  const fetched = await fetch(link.url);
  assert.equal(fetched.status, 200);
  const bytes = Buffer.from(await fetched.arrayBuffer());
  assert.equal(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('s3: a link signed an hour ago with a 15 minute ttl is refused', async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'out/old.csv', Body: 'x\n' }));
  const link = await s3Destination(shifted(-3_600_000)).signedUrl('old.csv', 15 * 60_000);
  const refused = await fetch(link.url);
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /Request has expired/);
});

function serviceAccountKey(): { path: string; publicKey: string; email: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const email = 'lading-test@example-project.iam.gserviceaccount.com';
  const path = join(dir, 'service-account.json');
  writeFileSync(path, JSON.stringify({ type: 'service_account', project_id: 'example-project', private_key_id: 'k1', private_key: privateKey, client_email: email, client_id: '1', token_uri: 'https://oauth2.googleapis.com/token' }));
  return { path, publicKey, email };
}

function gcsDestination(extra: Record<string, unknown>): GcsDestination {
  return new GcsDestination(gcsConfig.parse({ type: 'gcs', bucket: standin.bucket, project_id: 'test', prefix: 'out', ...extra }), dir);
}

test('STAND-IN gcs: a service account key signs a V4 link valid for the ttl, checkable with its public key', async () => {
  const key = serviceAccountKey();
  const link = await gcsDestination({ api_endpoint: standin.url, key_file: key.path }).signedUrl('leads.csv', 10 * 60_000);
  const url = new URL(link.url);
  assert.equal(`${url.origin}${url.pathname}`, `${standin.url}/${standin.bucket}/out/leads.csv`);
  const q = url.searchParams;
  assert.equal(q.get('X-Goog-Algorithm'), 'GOOG4-RSA-SHA256');
  assert.equal(q.get('X-Goog-Expires'), '600');
  assert.equal(q.get('X-Goog-SignedHeaders'), 'host');
  assert.match(q.get('X-Goog-Credential')!, new RegExp(`^${key.email}/\\d{8}/auto/storage/goog4_request$`));
  assert.match(q.get('X-Goog-Signature')!, /^[0-9a-f]{512}$/);

  // GCS' V4 string-to-sign: algorithm, date, scope, sha256 of the canonical request (query sorted, signature left out; host without the port, as the client library signs it).
  const query = [...q.entries()].filter(([k]) => k !== 'X-Goog-Signature').sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const canonical = ['GET', url.pathname, query, `host:${url.hostname}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const date = q.get('X-Goog-Date')!;
  const scope = q.get('X-Goog-Credential')!.split('/').slice(1).join('/');
  const signs = (request: string) => createVerify('RSA-SHA256').update(['GOOG4-RSA-SHA256', date, scope, createHash('sha256').update(request).digest('hex')].join('\n'))
    .verify(key.publicKey, Buffer.from(q.get('X-Goog-Signature')!, 'hex'));
  assert.ok(signs(canonical), 'signed with the key file\'s private key');
  assert.ok(!signs(canonical.replace('out/leads.csv', 'out/other.csv')), 'the signature does not cover another object');
  assert.ok(!signs(canonical.replace('X-Goog-Expires=600', 'X-Goog-Expires=604800')), 'nor a longer expiry');
});

test('gcs: an emulator endpoint without key_file cannot sign, and says so', async () => {
  await assert.rejects(gcsDestination({ api_endpoint: standin.url }).signedUrl('leads.csv', 60_000), isCode('API_ARTIFACT_UNSIGNABLE', false));
});

test('gcs: Application Default Credentials without a private key (a user login) cannot sign, and say so', async () => {
  const adc = join(dir, 'adc.json');
  writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: 'id', client_secret: 'secret', refresh_token: 'token' }));
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  process.env.GOOGLE_APPLICATION_CREDENTIALS = adc;
  try {
    await assert.rejects(gcsDestination({}).signedUrl('leads.csv', 60_000), (e: unknown) => isCode('API_ARTIFACT_UNSIGNABLE', false)(e) && /key_file/.test((e as Error).message));
  } finally {
    if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
  }
});
