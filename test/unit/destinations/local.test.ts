import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { LocalDestination } from '../../../src/destinations/local.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { tempDir } from '../../support/tmp.js';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const opts = (extra: object = {}) => ({ onCollision: 'fail' as const, signal: new AbortController().signal, ...extra });

test('put writes the bytes under the final name and returns size and sha256', async () => {
  const dir = tempDir();
  const dest = new LocalDestination(join(dir, 'out'), true);
  const receipt = await dest.put('a/b.csv', [Buffer.from('x,y\n'), Buffer.from('1,2\n')], opts());
  assert.equal(readFileSync(join(dir, 'out/a/b.csv'), 'utf8'), 'x,y\n1,2\n');
  assert.equal(receipt.bytes, 8);
  assert.equal(receipt.sha256, sha('x,y\n1,2\n'));
  assert.equal(receipt.uri, pathToFileURL(join(dir, 'out/a/b.csv')).href);
  assert.deepEqual(readdirSync(join(dir, 'out/a')), ['b.csv']);
});

test('an interrupted put leaves no file under the final name and no temp file', async () => {
  const dir = tempDir();
  const dest = new LocalDestination(dir, true);
  async function* body() {
    yield Buffer.from('partial');
    throw new Error('connection dropped');
  }
  await assert.rejects(dest.put('leads.csv', body(), opts()));
  assert.deepEqual(readdirSync(dir), []);
});

test('an aborted put leaves nothing under the final name', async () => {
  const dir = tempDir();
  const dest = new LocalDestination(dir, true);
  const controller = new AbortController();
  async function* body() {
    yield Buffer.from('first');
    controller.abort();
    yield Buffer.from('second');
  }
  await assert.rejects(dest.put('leads.csv', body(), opts({ signal: controller.signal })));
  assert.equal(existsSync(join(dir, 'leads.csv')), false);
});

test('a size or checksum mismatch is refused before the final name appears', async () => {
  const dir = tempDir();
  const dest = new LocalDestination(dir, true);
  await assert.rejects(
    dest.put('x.csv', [Buffer.from('abc')], opts({ expected: { bytes: 3, sha256: sha('abd') } })),
    (e: unknown) => e instanceof LadingError && e.code === 'DEST_VERIFY_MISMATCH' && e.transient,
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('collisions: fail refuses, skip_if_identical skips identical bytes and refuses different ones, overwrite replaces', async () => {
  const dir = tempDir();
  const dest = new LocalDestination(dir, true);
  writeFileSync(join(dir, 'f.csv'), 'old');
  await assert.rejects(dest.put('f.csv', [Buffer.from('new')], opts()), (e: unknown) => e instanceof LadingError && e.code === 'DEST_COLLISION');
  const skipped = await dest.put('f.csv', [Buffer.from('old')], opts({ onCollision: 'skip_if_identical', expected: { bytes: 3, sha256: sha('old') } }));
  assert.equal(skipped.skipped, true);
  await assert.rejects(dest.put('f.csv', [Buffer.from('new')], opts({ onCollision: 'skip_if_identical', expected: { bytes: 3, sha256: sha('new') } })),
    (e: unknown) => e instanceof LadingError && e.code === 'DEST_COLLISION');
  await dest.put('f.csv', [Buffer.from('new')], opts({ onCollision: 'overwrite' }));
  assert.equal(readFileSync(join(dir, 'f.csv'), 'utf8'), 'new');
});

test('healthcheck: a read-only folder is a permanent permission error', { skip: process.getuid?.() === 0 ? 'root ignores file modes' : false }, async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'ro'));
  chmodSync(join(dir, 'ro'), 0o500);
  const dest = new LocalDestination(join(dir, 'ro'), true);
  await assert.rejects(dest.healthcheck(), (e: unknown) => e instanceof LadingError && e.code === 'DEST_PERMISSION_DENIED' && !e.transient);
});

test('healthcheck: a path under a regular file is reported as not found', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'file'), '');
  const dest = new LocalDestination(join(dir, 'file', 'sub'), true);
  await assert.rejects(dest.healthcheck(), (e: unknown) => e instanceof LadingError && e.code === 'DEST_NOT_FOUND');
});
