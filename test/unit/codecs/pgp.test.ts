// The pgp codec against GnuPG: throwaway keys are generated with gpg in a temp GNUPGHOME, lading
// encrypts (alone, and after gzip inside the file sink), and gpg decrypts and verifies.
// gpg must be installed: scripts/ensure-gpg.sh installs it (Debian package gnupg) when missing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import * as openpgp from 'openpgp';
import { gzip } from '../../../src/codecs/gzip.js';
import { pgp, type PgpCodec } from '../../../src/codecs/pgp.js';
import { fixedClock } from '../../../src/core/clock.js';
import type { BuildContext } from '../../../src/core/component.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { sequentialIds } from '../../../src/core/ids.js';
import type { Item } from '../../../src/core/item.js';
import { local } from '../../../src/destinations/local.js';
import { ConfigError, LadingError } from '../../../src/errors/lading-error.js';
import { csv } from '../../../src/formats/csv.js';
import { ndjson } from '../../../src/formats/ndjson.js';
import { fileSink } from '../../../src/sinks/file/file.js';
import type { RunContext } from '../../../src/sinks/types.js';
import { chunkContext } from '../../support/chunk-context.js';
import { tempDir } from '../../support/tmp.js';

// ---------------------------------------------------------------------------------------------
// GnuPG fixtures
// ---------------------------------------------------------------------------------------------

const gpgMissing = spawnSync('gpg', ['--version']).error;
if (gpgMissing) throw new Error('gpg is not installed: run scripts/ensure-gpg.sh (as root it installs the gnupg package)');

class Gpg {
  constructor(readonly home: string) {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  }

  run(args: readonly string[], input?: Buffer | string) {
    const r = spawnSync('gpg', ['--homedir', this.home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', ...args], { input, maxBuffer: 1 << 28 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
  }

  ok(args: readonly string[], input?: Buffer | string): Buffer {
    const r = this.run(args, input);
    assert.equal(r.code, 0, `gpg ${args.join(' ')} failed:\n${r.stderr}`);
    return r.stdout;
  }

  fingerprint(email: string): string {
    const colons = this.ok(['--with-colons', '--list-keys', `<${email}>`]).toString();
    return /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]!;
  }

  /** Ends the gpg-agent this home started. */
  stop(): void {
    spawnSync('gpgconf', ['--homedir', this.home, '--kill', 'gpg-agent']);
  }
}

const homes: Gpg[] = [];
// Registered before the temp folders' own clean-up hooks, so each gpg-agent ends before its home is removed.
after(() => {
  for (const home of homes) home.stop();
});

const passphrase = 'correct horse battery staple';
const keysDir = tempDir('lading-pgp-keys-');
const gpg = new Gpg(join(keysDir, 'gnupg'));
homes.push(gpg);
let signerFingerprint = '';
let armoredA = '';
let secretA: openpgp.PrivateKey;
let secretB: openpgp.PrivateKey;
let v6: { publicKey: string; privateKey: openpgp.PrivateKey };

before(async () => {
  const gen = (args: string[], pass = '') => gpg.ok(['--passphrase', pass, ...args]);
  gen(['--quick-gen-key', 'Recipient A <a@lading.test>', 'rsa3072', 'default', 'never']);
  gen(['--quick-add-key', gpg.fingerprint('a@lading.test'), 'rsa3072', 'encr', 'never']);
  gen(['--quick-gen-key', 'Recipient B <b@lading.test>', 'future-default', 'default', 'never']);
  gen(['--quick-gen-key', 'Lading Signer <signer@lading.test>', 'ed25519', 'sign', 'never'], passphrase);
  gen(['--quick-gen-key', 'Sign Only <sign-only@lading.test>', 'ed25519', 'sign', 'never']);
  gen(['--faked-system-time', '20200101T000000!', '--quick-gen-key', 'Expired <expired@lading.test>', 'future-default', 'default', '1d']);
  gen(['--quick-gen-key', 'Revoked <revoked@lading.test>', 'future-default', 'default', 'never']);
  const revocation = readFileSync(join(gpg.home, 'openpgp-revocs.d', `${gpg.fingerprint('revoked@lading.test')}.rev`), 'utf8');
  gpg.ok(['--import'], revocation.replace(/^:-----BEGIN/m, '-----BEGIN'));

  const exportTo = (file: string, args: string[]) => writeFileSync(join(keysDir, file), gpg.ok(args));
  exportTo('a.asc', ['--armor', '--export', '<a@lading.test>']);
  exportTo('b.gpg', ['--export', '<b@lading.test>']); // binary key file
  exportTo('a.secret.asc', ['--passphrase', '', '--armor', '--export-secret-keys', '<a@lading.test>']);
  exportTo('b.secret.asc', ['--passphrase', '', '--armor', '--export-secret-keys', '<b@lading.test>']);
  exportTo('signer.secret.asc', ['--passphrase', passphrase, '--armor', '--export-secret-keys', '<signer@lading.test>']);
  exportTo('signer.asc', ['--armor', '--export', '<signer@lading.test>']);
  exportTo('sign-only.asc', ['--armor', '--export', '<sign-only@lading.test>']);
  exportTo('expired.asc', ['--armor', '--export', '<expired@lading.test>']);
  exportTo('revoked.asc', ['--armor', '--export', '<revoked@lading.test>']);
  writeFileSync(join(keysDir, 'not-a-key.txt'), 'hello\n');
  signerFingerprint = gpg.fingerprint('signer@lading.test');
  armoredA = readFileSync(join(keysDir, 'a.asc'), 'utf8');
  secretA = await openpgp.readPrivateKey({ armoredKey: readFileSync(join(keysDir, 'a.secret.asc'), 'utf8') });
  secretB = await openpgp.readPrivateKey({ armoredKey: readFileSync(join(keysDir, 'b.secret.asc'), 'utf8') });
  // An RFC 9580 (v6) key: openpgp.js then uses SEIPD v2 (AEAD chunks and tags) and v6 packets.
  const generated = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'v6@lading.test' }], format: 'armored', config: { v6Keys: true, aeadProtect: true } });
  v6 = { publicKey: generated.publicKey, privateKey: await openpgp.readPrivateKey({ armoredKey: generated.privateKey }) };
});

/** A GnuPG home holding only the given secret key: proves that this recipient alone can decrypt. */
function homeWith(secretFile: string): Gpg {
  const home = new Gpg(join(tempDir('lading-pgp-home-'), 'gnupg'));
  homes.push(home);
  home.ok(['--import'], readFileSync(join(keysDir, secretFile)));
  return home;
}

// ---------------------------------------------------------------------------------------------
// lading side
// ---------------------------------------------------------------------------------------------

const build = (dir: string) => ({ pipeline: 'p', baseDir: keysDir, dataDir: join(dir, '.lading'), clock: fixedClock('2026-01-02T03:04:05Z'), ids: sequentialIds() }) as unknown as BuildContext;

async function prepared(config: Record<string, unknown>): Promise<PgpCodec> {
  const codec = pgp.create(pgp.schema.parse({ type: 'pgp', ...config }), build(keysDir)) as PgpCodec;
  await codec.prepare(AbortSignal.timeout(30_000));
  return codec;
}

const sinkDef = fileSink({ formats: [csv, ndjson], codecs: [gzip, pgp], destinations: [local] });
const items = (rows: readonly Record<string, unknown>[]): Item[] => rows.map((data, i) => ({ id: `r:${i + 1}`, seq: i + 1, data }));

/** Renders rows through the file sink as a run would; returns the delivered files' bytes. */
async function render(output: Record<string, unknown>, rows: readonly Record<string, unknown>[], chunkSize = 25) {
  const dir = tempDir();
  const config = sinkDef.schema.parse({ type: 'file', format: 'ndjson', destination: { type: 'local', path: join(dir, 'out') }, ...output });
  const sink = sinkDef.create(config, { ...build(dir), store: await openSqliteStore(join(dir, 'lading.db')) });
  const ctx: RunContext = { runId: 'run_0001', pipeline: 'p', batchId: 'batch_0001', createdAt: new Date('2026-01-02T03:04:05Z'), signal: new AbortController().signal, mode: 'full', emit: () => {} };
  await sink.open(ctx);
  const all = items(rows);
  const failed = new Map<string, string>();
  for (let i = 0; i < all.length; i += chunkSize) {
    const r = await sink.write({ runId: 'run_0001', index: i, items: all.slice(i, i + chunkSize) }, chunkContext({ signal: ctx.signal }));
    for (const [id, error] of r.failures) failed.set(id, error.code);
  }
  const { files } = await sink.close(ctx, 'completed');
  return { failed, files: files.map((f) => ({ ...f, bytes: readFileSync(join(dir, 'out', f.name)) })) };
}

const rows = Array.from({ length: 300 }, (_, i) => ({ id: i, email: `user${i}@example.com`, note: i % 7 === 0 ? 'quote " and, comma' : 'é ü ✓' }));

async function decryptWithKey(message: Uint8Array, armored: boolean, key: openpgp.PrivateKey): Promise<Buffer> {
  const read = armored ? await openpgp.readMessage({ armoredMessage: Buffer.from(message).toString('latin1') }) : await openpgp.readMessage({ binaryMessage: message });
  const { data } = await openpgp.decrypt({ message: read, decryptionKeys: key, format: 'binary' });
  return Buffer.from(data);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

test('gzip then pgp: gpg decrypts the file to the gzip of exactly the plain rendering, binary and armored', async () => {
  const plain = (await render({}, rows)).files[0]!.bytes;
  for (const armor of [false, true]) {
    const { files } = await render({ compression: 'gzip', encryption: { type: 'pgp', public_key_file: 'a.asc', armor } }, rows);
    assert.equal(files.length, 1);
    const file = files[0]!;
    assert.match(file.name, armor ? /\.ndjson\.gz\.asc$/ : /\.ndjson\.gz\.pgp$/);
    if (armor) assert.match(file.bytes.toString('latin1'), /^-----BEGIN PGP MESSAGE-----\n/);
    const decrypted = gpg.ok(['--decrypt'], file.bytes);
    assert.deepEqual(gunzipSync(decrypted), plain);
  }
});

test('a signed file verifies with gpg as a good signature from our key (passphrase-protected signing key)', async () => {
  const { files } = await render({
    compression: 'gzip',
    encryption: { type: 'pgp', public_key_file: 'a.asc', armor: true, sign: { private_key_file: 'signer.secret.asc', passphrase } },
  }, rows.slice(0, 20));
  const r = gpg.run(['--status-fd', '1', '--decrypt'], files[0]!.bytes);
  assert.equal(r.code, 0, r.stderr);
  const status = r.stdout.toString('latin1');
  assert.match(status, /\[GNUPG:\] GOODSIG [0-9A-F]{16} Lading Signer <signer@lading\.test>/);
  assert.match(status, new RegExp(`\\[GNUPG:\\] VALIDSIG ${signerFingerprint} `));
  assert.doesNotMatch(status, /BADSIG|ERRSIG/);
});

test('a file for two recipients can be decrypted by each of them alone (binary key file and inline armored key)', async () => {
  const { files } = await render({ encryption: { type: 'pgp', public_key_file: 'b.gpg', recipients: [{ public_key: armoredA }] } }, rows.slice(0, 10));
  const plain = (await render({}, rows.slice(0, 10))).files[0]!.bytes;
  for (const secret of ['a.secret.asc', 'b.secret.asc']) {
    assert.deepEqual(homeWith(secret).ok(['--decrypt'], files[0]!.bytes), plain, `${secret} cannot decrypt`);
  }
});

test('key problems are config errors found by prepare (the sink healthcheck behind lading validate), naming the config key', async () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['expired key', { public_key_file: 'expired.asc' }, 'output.encryption.public_key_file', /Expired <expired@lading\.test>.*expired on 2020-01-02/],
    ['revoked key', { public_key_file: 'revoked.asc' }, 'output.encryption.public_key_file', /is revoked/],
    ['secret key given as public key', { public_key_file: 'a.secret.asc' }, 'output.encryption.public_key_file', /is a private \(secret\) key; give the recipient's public key/],
    ['unreadable file', { public_key_file: 'missing.asc' }, 'output.encryption.public_key_file', /cannot read key file "missing\.asc" \(ENOENT\)/],
    ['not a key', { public_key_file: 'not-a-key.txt' }, 'output.encryption.public_key_file', /"not-a-key\.txt" is not an OpenPGP key/],
    ['no encryption subkey', { public_key_file: 'sign-only.asc' }, 'output.encryption.public_key_file', /has no usable encryption subkey/],
    ['bad second recipient', { public_key_file: 'a.asc', recipients: [{ public_key_file: 'b.gpg' }, { public_key_file: 'expired.asc' }] }, 'output.encryption.recipients[1].public_key_file', /expired on/],
    ['wrong passphrase', { public_key_file: 'a.asc', sign: { private_key_file: 'signer.secret.asc', passphrase: 'wrong' } }, 'output.encryption.sign.passphrase', /does not unlock key [0-9A-F]{40} \(Lading Signer/],
    ['missing passphrase', { public_key_file: 'a.asc', sign: { private_key_file: 'signer.secret.asc' } }, 'output.encryption.sign.passphrase', /is protected by a passphrase/],
    ['public key given for signing', { public_key_file: 'a.asc', sign: { private_key_file: 'signer.asc' } }, 'output.encryption.sign.private_key_file', /is a public key; signing needs your private key/],
  ];
  for (const [name, encryption, path, reason] of cases) {
    const dir = tempDir();
    const config = sinkDef.schema.parse({ type: 'file', format: 'ndjson', encryption: { type: 'pgp', ...encryption }, destination: { type: 'local', path: join(dir, 'out') } });
    const sink = sinkDef.create(config, { ...build(dir), store: await openSqliteStore(join(dir, 'lading.db')) });
    await assert.rejects(sink.healthcheck!(AbortSignal.timeout(30_000)), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${name}: ${String(error)}`);
      assert.equal(error.code, 'CONFIG_KEY_INVALID', name);
      assert.ok(error.message.startsWith(`${path}: `), `${name}: ${error.message}`);
      assert.match(error.message, reason, name);
      assert.deepEqual(error.issues.map((i) => i.path), [path], name);
      return true;
    }, name);
  }
});

test('create() before prepare() fails with a clear error rather than encrypting to nobody', () => {
  const codec = pgp.create(pgp.schema.parse({ type: 'pgp', public_key_file: 'a.asc' }), build(keysDir));
  assert.throws(() => codec.create(), (error: unknown) => error instanceof LadingError && error.code === 'CODEC_FAILED' && /call prepare\(\) before create\(\)/.test(error.message));
});

test('config: a recipient is required, each entry names one key, the extension follows armor', () => {
  const issues = (value: unknown) => pgp.schema.safeParse(value).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.deepEqual(issues({ type: 'pgp' }), [': needs a recipient: public_key_file, public_key or recipients']);
  assert.deepEqual(issues({ type: 'pgp', recipients: [{ public_key_file: 'a', public_key: 'b' }] }), ['recipients.0: give exactly one of public_key_file or public_key']);
  assert.deepEqual(issues({ type: 'pgp', public_key_file: 'a', sign: { passphrase: 'x' } }), ['sign: give exactly one of private_key_file or private_key']);
  assert.deepEqual(issues({ type: 'pgp', public_key_file: 'a', compress: true }).length, 1);
  const ext = (armor?: boolean) => pgp.create(pgp.schema.parse({ type: 'pgp', public_key_file: 'a.asc', ...(armor === undefined ? {} : { armor }) }), build(keysDir)).extension;
  assert.deepEqual([ext(), ext(false), ext(true)], ['pgp', 'pgp', 'asc']);
});

test('bound(): at every point, what the stream still emits never exceeds the bound (RSA, ECDH, v6 X25519/AEAD; signed; armored)', async () => {
  const keysets = {
    gpg: () => ({ config: { public_key_file: 'a.asc', recipients: [{ public_key_file: 'b.gpg' }] }, key: secretA }),
    signed: () => ({ config: { public_key_file: 'a.asc', sign: { private_key_file: 'signer.secret.asc', passphrase } }, key: secretA }),
    v6: () => ({ config: { public_key: v6.publicKey, sign: { private_key: v6.privateKey.armor() } }, key: v6.privateKey }),
  };
  const codecs = new Map<string, { codec: PgpCodec; key: openpgp.PrivateKey }>();
  const codecFor = async (set: keyof typeof keysets, armor: boolean) => {
    const name = `${set}:${armor}`;
    if (!codecs.has(name)) {
      const { config, key } = keysets[set]();
      codecs.set(name, { codec: await prepared({ ...config, armor }), key });
    }
    return codecs.get(name)!;
  };
  await fc.assert(fc.asyncProperty(
    fc.constantFrom<keyof typeof keysets>('gpg', 'signed', 'v6'),
    fc.boolean(),
    fc.integer({ min: 0, max: 300_000 }),
    fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }),
    async (set, armor, size, chunkSizes) => {
      const { codec, key } = await codecFor(set, armor);
      const { stream, bound } = codec.create();
      const out: Buffer[] = [];
      let seen = 0;
      stream.on('data', (chunk: Buffer) => { out.push(chunk); seen += chunk.byteLength; });
      const ended = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
      const input = randomBytes(size);
      // Each promise: output seen so far + output waiting in the stream + bound of the rest.
      const promises = [bound(size)];
      for (let at = 0, i = 0; at < size; i++) {
        const next = Math.min(size, at + chunkSizes[i % chunkSizes.length]!);
        stream.write(input.subarray(at, next));
        at = next;
        promises.push(seen + stream.readableLength + bound(size - at));
        await tick();
        promises.push(seen + stream.readableLength + bound(size - at));
      }
      stream.end();
      await ended;
      for (const [i, promise] of promises.entries()) assert.ok(seen <= promise, `output ${seen} > bound ${promise} at check ${i}`);
      assert.ok(seen <= codec.sizeBound(size));
      assert.deepEqual(await decryptWithKey(Buffer.concat(out), armor, key), input);
    },
  ), { numRuns: 30, interruptAfterTimeLimit: 60_000 });
});

/** Records that compress poorly enough (hex) to fill several parts of a few kilobytes. */
const splitCase = fc.tuple(
  fc.array(fc.record({ k: fc.string({ maxLength: 60 }), n: fc.integer(), h: fc.uint8Array({ maxLength: 48, size: 'max' }).map((b) => Buffer.from(b).toString('hex')) }), { minLength: 1, maxLength: 400, size: 'max' }),
  fc.integer({ min: 1200, max: 6000 }),
  fc.integer({ min: 1, max: 50 }),
  fc.boolean(),
);

async function renderSplit([records, maxBytes, chunkSize, armor]: [Record<string, unknown>[], number, number, boolean]) {
  const { files, failed } = await render({
    compression: { type: 'gzip', level: 1 },
    encryption: { type: 'pgp', public_key_file: 'b.gpg', armor },
    split: { max_bytes: maxBytes },
    naming: '{part:4}.{ext}',
  }, records, chunkSize);
  const decoded: unknown[] = [];
  for (const file of files) {
    assert.ok(file.bytes.length <= maxBytes, `${file.name} is ${file.bytes.length} bytes > ${maxBytes}`);
    const lines = gunzipSync(await decryptWithKey(file.bytes, armor, secretB)).toString('utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, file.records);
    decoded.push(...lines.map((l) => JSON.parse(l) as unknown));
  }
  return { decoded, failed, expected: (keep: (id: string) => boolean) => items(records).filter((it) => keep(it.id)).map((it) => JSON.parse(JSON.stringify(it.data)) as unknown) };
}

test('split by max_bytes with gzip and pgp: every part is within the limit as delivered; every record is in one part, in order, or refused', async () => {
  await fc.assert(fc.asyncProperty(splitCase, async (sample) => {
    const { decoded, failed, expected } = await renderSplit(sample);
    assert.deepEqual([...new Set(failed.values())].filter((code) => code !== 'FORMAT_RECORD_TOO_LARGE'), []);
    assert.deepEqual(decoded, expected((id) => !failed.has(id)));
  }), { numRuns: 12, interruptAfterTimeLimit: 60_000 });
});

test('split by max_bytes with gzip and pgp: no record that fits an empty part is refused', async () => {
  await fc.assert(fc.asyncProperty(splitCase, async (sample) => {
    const { decoded, failed, expected } = await renderSplit(sample);
    assert.deepEqual([...failed.keys()], [], 'records of at most 300 bytes fit a part of 1200 bytes');
    assert.deepEqual(decoded, expected(() => true));
  }), { numRuns: 12, endOnFailure: true });
});

test('a 50 MB input is encrypted as a stream: at most 8 MB is inside the codec at any time', async () => {
  const codec = await prepared({ public_key_file: 'a.asc', sign: { private_key_file: 'signer.secret.asc', passphrase } });
  const total = 50 * 1024 * 1024;
  const block = randomBytes(64 * 1024);
  let produced = 0;
  let consumed = 0;
  let inFlight = 0;
  async function* input() {
    while (produced < total) {
      const chunk = Buffer.from(block);
      chunk.writeUInt32LE(produced, 0);
      produced += chunk.byteLength;
      yield chunk;
    }
  }
  const { stream } = codec.create();
  await pipeline(Readable.from(input()), stream, new Writable({
    write(chunk: Buffer, _encoding, callback) {
      consumed += chunk.byteLength;
      // What went in but has not come out: bounded, whatever the input size, if the codec streams.
      inFlight = Math.max(inFlight, produced - consumed);
      callback();
    },
  }));
  assert.ok(consumed > total, 'all input came out encrypted');
  assert.ok(inFlight < 8 * 1024 * 1024, `${inFlight} bytes were inside the codec at once`);
});
