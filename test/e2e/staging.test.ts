import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { S3Destination, s3Config } from '../../src/destinations/s3.js';
import { S3Staging } from '../../src/staging/s3.js';
import { localStaging } from '../../src/staging/local.js';
import { openStaging, Staging } from '../../src/staging/staging.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { lading, lastJsonLine } from '../support/cli.js';
import { postgresSkip, scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { startS3, type S3Server } from '../support/servers/s3.js';
import { tempDir } from '../support/tmp.js';

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

const pipeline = 'name: partner\nsource: { type: inline, items: [{ id: 1, email: a@example.com }, { id: 2, email: b@example.com }] }\n'
  + 'output: { type: file, format: ndjson, naming: "{pipeline}.{ext}", on_collision: fail, destination: { type: local, path: /PLACE/out } }\n';

describe('a failed delivery retried on another machine (PostgreSQL store, LADING_STAGING default: database)', { skip: postgresSkip }, () => {
  let db: ScratchDatabase;
  before(async () => (db = await scratchDatabase()));
  after(async () => db.drop());

  test('data dir A renders and fails; data dir B, sharing only the database, sends the same bytes', async () => {
    const dir = tempDir();
    const place = join(dir, 'partner');
    mkdirSync(join(place, 'out'), { recursive: true });
    // A file already under the name (on_collision: fail): the put fails until it is gone.
    writeFileSync(join(place, 'out', 'partner.ndjson'), 'an older file');
    writeFileSync(join(dir, 'p.yaml'), pipeline.replace('/PLACE', place));
    const env = { LADING_DATABASE_URL: db.url };

    const run = await lading(['--data-dir', join(dir, 'a'), 'run', 'p.yaml', '--json'], { cwd: dir, env });
    assert.equal(run.code, 1, run.stderr);
    const listed = await lading(['deliveries', 'list', '--json'], { cwd: dir, env });
    const [failed] = lastJsonLine<{ id: string; state: string; sha256: string; staged_path: string | null }[]>(listed.stdout);
    assert.equal(failed?.state, 'failed');
    assert.equal(failed?.staged_path, `store:${failed?.id}`, 'the failed file is kept in the database');
    rmSync(join(dir, 'a'), { recursive: true, force: true });

    rmSync(join(place, 'out', 'partner.ndjson'));
    const retried = await lading(['--data-dir', join(dir, 'b'), 'deliveries', 'retry', failed!.id, '--json'], { cwd: dir, env });
    assert.equal(retried.code, 0, retried.stderr);
    const delivered = readFileSync(join(place, 'out', 'partner.ndjson'));
    assert.equal(delivered.toString(), '{"id":1,"email":"a@example.com"}\n{"id":2,"email":"b@example.com"}\n');
    assert.equal(sha256(delivered), failed!.sha256);

    const again = await lading(['--data-dir', join(dir, 'b'), 'deliveries', 'retry', failed!.id], { cwd: dir, env });
    assert.equal(again.code, 1, 'a verified delivery is not sent again');
  });
});

describe('staging backends', () => {
  let s3: S3Server;
  before(async () => (s3 = await startS3({ bucket: 'staging' })));
  after(async () => s3.stop());

  test('s3: a kept file moves into the bucket under the prefix, reads back with the same bytes, and is removed', async () => {
    const bucket = new S3Destination(s3Config.parse({
      type: 's3', bucket: s3.bucket, prefix: 'lading/staged', endpoint: s3.url, force_path_style: true,
      access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey,
    }));
    const staging = new Staging(new S3Staging(bucket), []);
    const dir = tempDir();
    const path = join(dir, 'part-1.csv');
    const bytes = Buffer.from('id,email\n1,a@example.com\n');
    writeFileSync(path, bytes);

    const ref = await staging.keep('dlv_1', path, { bytes: bytes.byteLength, sha256: sha256(bytes) });
    assert.equal(ref, `s3://${s3.bucket}/lading/staged/dlv_1`);
    assert.equal(existsSync(path), false, 'the local copy goes once the bucket holds it');
    assert.deepEqual(await s3.list('lading/staged/'), ['lading/staged/dlv_1']);
    const chunks: Uint8Array[] = [];
    for await (const chunk of staging.read(ref)) chunks.push(chunk);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(bytes));
    assert.equal(await staging.has(ref), true);
    assert.equal(await staging.keep('dlv_1', ref, { bytes: bytes.byteLength, sha256: sha256(bytes) }), ref, 'a file kept already stays where it is');
    await staging.remove(ref);
    assert.equal(await staging.has(ref), false);
    await bucket.close();
  });

  test('database: files above the cap are refused with a pointer to the bucket option; local keeps files where they are', async () => {
    const dir = tempDir();
    const store = await openSqliteStore(join(dir, 'lading.db'));
    try {
      const path = join(dir, 'big.csv');
      writeFileSync(path, 'x'.repeat(100));
      const database = openStaging(store, 'database', 10);
      await assert.rejects(database.keep('dlv_1', path, { bytes: 100, sha256: sha256('x'.repeat(100)) }),
        (e: { code: string; message: string }) => e.code === 'DEST_STAGING_TOO_LARGE' && /LADING_STAGING=s3:\/\//.test(e.message));
      assert.equal(existsSync(path), true);
      assert.equal(await openStaging(store).keep('dlv_1', path, { bytes: 100, sha256: '' }), path, 'SQLite stages locally by default');
      assert.equal(localStaging.owns(path), true);
      assert.throws(() => openStaging(store, 'ftp://nowhere'), (e: { code: string }) => e.code === 'USAGE_INVALID');
    } finally {
      await store.close();
    }
  });
});
