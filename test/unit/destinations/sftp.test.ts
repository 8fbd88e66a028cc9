// The sftp destination against a real OpenSSH sshd on loopback (test/support/servers/sshd.ts):
// logins, host key pinning and trust on first use, classification of server failures, dropped
// connections. The shared contract (round trip, atomic visibility, collisions, verify) is in
// test/conformance/destination.sftp.test.ts.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import type { BuildContext } from '../../../src/core/component.js';
import { randomIds } from '../../../src/core/ids.js';
import { sftp, sftpConfig, type SftpDestination } from '../../../src/destinations/sftp.js';
import { classify } from '../../../src/errors/classify.js';
import { codes } from '../../../src/errors/codes.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { sshKeygen, startSshd, type Sshd } from '../../support/servers/sshd.js';
import { tempDir } from '../../support/tmp.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const opts = (extra: object = {}) => ({ onCollision: 'fail' as const, signal: new AbortController().signal, ...extra });

/** A minimal BuildContext with a real SQLite store (the known-hosts table lives there); notices are collected. */
async function buildContext(): Promise<BuildContext & { notices: string[]; notify(message: string): void }> {
  const dir = tempDir('lading-sftp-');
  const store = await openSqliteStore(join(dir, 'lading.db'));
  after(() => store.close());
  const notices: string[] = [];
  return {
    pipeline: 'sftp-test', baseDir: dir, dataDir: join(dir, '.lading'), clock: systemClock, ids: randomIds, store,
    notices, notify: (message: string) => notices.push(message),
  };
}

/** An sftp destination built the way a pipeline builds it; closed when the test ends. */
function destination(server: Sshd, ctx: BuildContext, config: Record<string, unknown> = {}): SftpDestination {
  const parsed = sftpConfig.parse({
    type: 'sftp', host: server.host, port: server.port, username: server.username, private_key: server.privateKey,
    host_key: server.hostKeyFingerprint, remote_path: join(server.root, 'out'), ...config,
  });
  const dest = sftp.create(parsed, ctx) as SftpDestination;
  after(() => dest.close());
  return dest;
}

const rejectsWith = (code: string, check: (e: LadingError) => void = () => {}) => (e: unknown) => {
  assert.ok(e instanceof LadingError, `expected a LadingError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  check(e);
  return true;
};

let sshd: Sshd;
before(async () => {
  sshd = await startSshd();
});
after(() => sshd?.stop());

describe('login and delivery', () => {
  test('key auth: put lands the bytes under the final name with an sftp:// uri and no temp file; stat reads the file back', async () => {
    const ctx = await buildContext();
    const dest = destination(sshd, ctx, { remote_path: join(sshd.root, 'login') });
    const body = randomBytes(200_000);
    const receipt = await dest.put('in/leads.csv', [body.subarray(0, 50_000), body.subarray(50_000)], opts({ expected: { bytes: body.length, sha256: sha(body) } }));
    assert.equal(receipt.uri, `sftp://127.0.0.1:${sshd.port}${join(sshd.root, 'login/in/leads.csv')}`);
    assert.deepEqual([receipt.bytes, receipt.sha256, receipt.skipped], [body.length, sha(body), false]);
    assert.deepEqual(readFileSync(join(sshd.root, 'login/in/leads.csv')), body);
    assert.deepEqual(readdirSync(join(sshd.root, 'login/in')), ['leads.csv']);
    assert.deepEqual(await dest.stat('in/leads.csv'), { bytes: body.length, sha256: sha(body) });
    assert.equal(await dest.stat('in/none.csv'), null);
    assert.equal(dest.description, `sftp://127.0.0.1:${sshd.port}${join(sshd.root, 'login')}`);
  });

  test('private_key_file resolves against the pipeline folder; an encrypted key needs its passphrase, and a wrong one is CONFIG_KEY_INVALID without the passphrase shown', async () => {
    const ctx = await buildContext();
    copyFileSync(sshd.privateKeyPath, join(ctx.baseDir, 'id_partner'));
    await destination(sshd, ctx, { private_key: undefined, private_key_file: 'id_partner', remote_path: join(sshd.root, 'keyfile') }).put('a.txt', [Buffer.from('a')], opts());
    assert.equal(readFileSync(join(sshd.root, 'keyfile/a.txt'), 'utf8'), 'a');

    const passphrase = 'correct horse battery staple';
    const locked = sshKeygen(join(ctx.baseDir, 'id_locked'), { passphrase });
    sshd.authorize(readFileSync(`${locked}.pub`, 'utf8'));
    await destination(sshd, ctx, { private_key: undefined, private_key_file: 'id_locked', passphrase, remote_path: join(sshd.root, 'keyfile') }).put('b.txt', [Buffer.from('b')], opts());
    assert.equal(readFileSync(join(sshd.root, 'keyfile/b.txt'), 'utf8'), 'b');

    const wrong = 'not the passphrase at all';
    await assert.rejects(
      destination(sshd, ctx, { private_key: undefined, private_key_file: 'id_locked', passphrase: wrong, remote_path: join(sshd.root, 'keyfile') }).put('c.txt', [Buffer.from('c')], opts()),
      rejectsWith('CONFIG_KEY_INVALID', (e) => {
        assert.equal(e.category, 'permanent');
        assert.ok(!e.message.includes(wrong), e.message);
        assert.match(e.message, /private_key_file/);
      }),
    );
    await assert.rejects(
      destination(sshd, ctx, { private_key: undefined, private_key_file: 'missing_key' }).put('c.txt', [Buffer.from('c')], opts()),
      rejectsWith('CONFIG_KEY_INVALID', (e) => assert.match(e.message, /missing_key.*cannot be read \(ENOENT\)/)),
    );
  });

  test('a wrong key or a wrong password is DEST_AUTH_FAILED (permanent, suspends deliveries), and the message holds no secret', async () => {
    const ctx = await buildContext();
    const stranger = readFileSync(sshKeygen(join(ctx.baseDir, 'id_stranger')), 'utf8');
    const noSecret = (secret: string) => (e: LadingError) => {
      assert.equal(e.category, 'permanent');
      assert.equal(e.errorType, 'AuthError');
      assert.equal(codes[e.code].suspends, true);
      assert.match(e.message, /authenticating as "root"/);
      assert.ok(!e.message.includes(secret), e.message);
      assert.ok(!e.message.includes('PRIVATE KEY'), e.message);
    };
    await assert.rejects(destination(sshd, ctx, { private_key: stranger }).put('x.csv', [Buffer.from('x')], opts()), rejectsWith('DEST_AUTH_FAILED', noSecret(stranger.split('\n')[1]!)));
    // Root's real password is locked and never touched (see sshd.ts): any password is a wrong one.
    const password = `wrong-${randomBytes(8).toString('hex')}`;
    await assert.rejects(destination(sshd, ctx, { private_key: undefined, password }).put('x.csv', [Buffer.from('x')], opts()), rejectsWith('DEST_AUTH_FAILED', noSecret(password)));
    await assert.rejects(destination(sshd, ctx, { private_key: undefined, password }).healthcheck(AbortSignal.timeout(20_000)), rejectsWith('DEST_AUTH_FAILED', noSecret(password)));
  });

  test('a relative remote_path starts at the login directory; the uri shows the absolute path', async () => {
    const ctx = await buildContext();
    const remotePath = relative(homedir(), join(sshd.root, 'relative'));
    const dest = destination(sshd, ctx, { remote_path: remotePath });
    assert.equal(dest.description, `sftp://127.0.0.1:${sshd.port}/~/${remotePath}`);
    const receipt = await dest.put('r.csv', [Buffer.from('r')], opts());
    assert.equal(receipt.uri, `sftp://127.0.0.1:${sshd.port}${join(sshd.root, 'relative/r.csv')}`);
    assert.equal(readFileSync(join(sshd.root, 'relative/r.csv'), 'utf8'), 'r');
  });

  test('atomic_upload: false writes under the final name directly, and still refuses to replace a file with on_collision fail', async () => {
    const ctx = await buildContext();
    const dest = destination(sshd, ctx, { atomic_upload: false, remote_path: join(sshd.root, 'direct') });
    const seen: string[][] = [];
    const first = Buffer.alloc(512 * 1024, 'a'); // more than the stream buffers: the put waits until it is written
    async function* body() {
      yield first;
      seen.push(readdirSync(join(sshd.root, 'direct')));
      yield Buffer.from('second half\n');
    }
    await dest.put('d.csv', body(), opts());
    assert.deepEqual(seen, [['d.csv']], 'written under its final name from the start: the documented risk');
    assert.equal(readFileSync(join(sshd.root, 'direct/d.csv'), 'utf8'), `${first.toString()}second half\n`);
    await assert.rejects(dest.put('d.csv', [Buffer.from('other')], opts()), rejectsWith('DEST_COLLISION'));
    await dest.put('d.csv', [Buffer.from('other')], opts({ onCollision: 'overwrite' }));
    assert.equal(readFileSync(join(sshd.root, 'direct/d.csv'), 'utf8'), 'other');
  });
});

describe('host keys', () => {
  test('a pinned host_key that matches connects; any other pinned key is refused with DEST_SFTP_HOST_KEY (permanent) naming both fingerprints', async () => {
    const ctx = await buildContext();
    await destination(sshd, ctx, { remote_path: join(sshd.root, 'pinned') }).put('ok.csv', [Buffer.from('ok')], opts());
    const other = `SHA256:${createHash('sha256').update('another key').digest('base64').replace(/=+$/, '')}`;
    await assert.rejects(destination(sshd, ctx, { host_key: other, remote_path: join(sshd.root, 'pinned') }).put('no.csv', [Buffer.from('no')], opts()),
      rejectsWith('DEST_SFTP_HOST_KEY', (e) => {
        assert.equal(e.category, 'permanent');
        assert.equal(e.errorType, 'DestinationError');
        assert.ok(e.message.includes(other) && e.message.includes(sshd.hostKeyFingerprint), e.message);
      }));
    assert.ok(!existsSync(join(sshd.root, 'pinned/no.csv')));
    assert.equal(await ctx.store.knownHost(`127.0.0.1:${sshd.port}`), null, 'a pinned key is not recorded');
  });

  test('without host_key: trusts and records the first key (and says so), accepts it again, then refuses a changed key naming both fingerprints and how to re-trust', async () => {
    const server = await startSshd();
    after(() => server.stop());
    const ctx = await buildContext();
    const tofu = { host_key: undefined, remote_path: join(server.root, 'tofu') };
    const first = destination(server, ctx, tofu);
    await first.put('1.csv', [Buffer.from('1')], opts());
    await first.close();
    const known = await ctx.store.knownHost(`127.0.0.1:${server.port}`);
    assert.equal(known?.fingerprint, server.hostKeyFingerprint);
    assert.equal(known?.keyType, 'ssh-ed25519');
    assert.equal(ctx.notices.length, 1);
    assert.match(ctx.notices[0]!, /trusted its host key SHA256:\S+ \(ssh-ed25519\) and recorded it/);
    assert.ok(ctx.notices[0]!.includes(server.hostKeyFingerprint));

    await destination(server, ctx, tofu).put('2.csv', [Buffer.from('2')], opts());
    assert.equal(ctx.notices.length, 1, 'a known key is accepted without a notice');

    const oldKey = server.hostKeyFingerprint;
    await server.restart({ newHostKey: true });
    assert.notEqual(server.hostKeyFingerprint, oldKey);
    await assert.rejects(destination(server, ctx, tofu).put('3.csv', [Buffer.from('3')], opts()),
      rejectsWith('DEST_SFTP_HOST_KEY', (e) => {
        assert.equal(e.category, 'permanent');
        assert.ok(e.message.includes(oldKey) && e.message.includes(server.hostKeyFingerprint), e.message);
        assert.match(e.message, new RegExp(`host_key: ${server.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}`));
        assert.match(codes[e.code].fix, /host_key/);
      }));
    assert.ok(!existsSync(join(server.root, 'tofu/3.csv')));
    assert.equal((await ctx.store.knownHost(`127.0.0.1:${server.port}`))?.fingerprint, oldKey, 'the recorded key is kept');
    // Re-trust: pin the new key the message named.
    await destination(server, ctx, { ...tofu, host_key: server.hostKeyFingerprint }).put('3.csv', [Buffer.from('3')], opts());
    assert.equal(readFileSync(join(server.root, 'tofu/3.csv'), 'utf8'), '3');
  });
});

describe('server failures', () => {
  test('a stopped server is NETWORK_FAILED (transient)', async () => {
    const server = await startSshd();
    after(() => server.stop());
    const ctx = await buildContext();
    await server.halt();
    await assert.rejects(destination(server, ctx).put('x.csv', [Buffer.from('x')], opts()),
      rejectsWith('NETWORK_FAILED', (e) => {
        assert.equal(e.category, 'transient');
        assert.match(e.message, /connecting to sftp:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
      }));
  });

  test('a remote_path under a regular file is DEST_NOT_FOUND (permanent), for put and healthcheck; so is a missing one with create_dirs off', async () => {
    // As root, sshd ignores folder modes, so "cannot create the folder" is provoked with a file in the way.
    const ctx = await buildContext();
    mkdirSync(join(sshd.root, 'blocked'), { recursive: true });
    writeFileSync(join(sshd.root, 'blocked/file'), 'not a folder');
    const dest = destination(sshd, ctx, { remote_path: join(sshd.root, 'blocked/file/out') });
    await assert.rejects(dest.put('x.csv', [Buffer.from('x')], opts()), rejectsWith('DEST_NOT_FOUND', (e) => {
      assert.equal(e.category, 'permanent');
      assert.match(e.message, /blocked\/file is a file, not a directory/);
    }));
    await assert.rejects(dest.healthcheck(AbortSignal.timeout(20_000)), rejectsWith('DEST_NOT_FOUND'));
    const strict = destination(sshd, ctx, { remote_path: join(sshd.root, 'absent'), create_dirs: false });
    await assert.rejects(strict.put('x.csv', [Buffer.from('x')], opts()), rejectsWith('DEST_NOT_FOUND', (e) => assert.match(e.message, /create_dirs is off/)));
    await assert.rejects(strict.healthcheck(AbortSignal.timeout(20_000)), rejectsWith('DEST_NOT_FOUND', (e) => assert.match(e.message, /checking remote_path .*create_dirs is off/)));
  });

  test('a server that refuses writes is DEST_PERMISSION_DENIED (permanent); healthcheck names the probe step', async () => {
    // internal-sftp -R: the server's own read-only mode answers every write with SFTP PERMISSION_DENIED, even for root.
    const server = await startSshd({ sftpServer: 'internal-sftp -R' });
    after(() => server.stop());
    const ctx = await buildContext();
    const dest = destination(server, ctx, { remote_path: server.root });
    await assert.rejects(dest.put('x.csv', [Buffer.from('x')], opts()), rejectsWith('DEST_PERMISSION_DENIED', (e) => {
      assert.equal(e.category, 'permanent');
      assert.match(e.message, /SFTP status 3 PERMISSION_DENIED/);
    }));
    await assert.rejects(dest.healthcheck(AbortSignal.timeout(20_000)), rejectsWith('DEST_PERMISSION_DENIED', (e) => assert.match(e.message, /writing the probe file .*\.lading-probe-/)));
    assert.deepEqual(readdirSync(server.root), []);
  });

  test('when the server drops the connection between two puts, the next put reconnects', async () => {
    const ctx = await buildContext();
    const dest = destination(sshd, ctx, { remote_path: join(sshd.root, 'reconnect') });
    const before = sshd.connectionsAccepted;
    await dest.put('1.csv', [Buffer.from('one')], opts());
    await dest.put('2.csv', [Buffer.from('two')], opts());
    assert.equal(sshd.connectionsAccepted - before, 1, 'one connection serves both puts');
    await sshd.dropConnections();
    await dest.put('3.csv', [Buffer.from('three')], opts());
    assert.equal(sshd.connectionsAccepted - before, 2);
    assert.deepEqual(readdirSync(join(sshd.root, 'reconnect')).sort(), ['1.csv', '2.csv', '3.csv']);
  });

  test('a connection lost during the transfer is NETWORK_FAILED (transient), nothing appears under the final name, and the next put reconnects', async () => {
    const ctx = await buildContext();
    const dest = destination(sshd, ctx, { remote_path: join(sshd.root, 'lost') });
    async function* body() {
      yield randomBytes(256 * 1024);
      await sshd.dropConnections();
      for (let i = 0; i < 64; i++) yield randomBytes(256 * 1024);
    }
    await assert.rejects(dest.put('big.bin', body(), opts()), rejectsWith('NETWORK_FAILED', (e) => assert.equal(e.category, 'transient')));
    assert.ok(!readdirSync(join(sshd.root, 'lost')).includes('big.bin'));
    const again = randomBytes(300_000);
    await dest.put('big.bin', [again], opts({ onCollision: 'overwrite', expected: { bytes: again.length, sha256: sha(again) } }));
    assert.deepEqual(readFileSync(join(sshd.root, 'lost/big.bin')), again);
    assert.deepEqual(readdirSync(join(sshd.root, 'lost')), ['big.bin'], 'the retry overwrote the temp file the lost connection left');
  });

  test('transfer_timeout abandons an upload whose body stalls, with NETWORK_FAILED (transient); the next put works', async () => {
    const ctx = await buildContext();
    // The deadline covers the whole put, the login included: on a loaded machine it can pass before
    // the folder is made, so the folder is there beforehand, and the timeout leaves the login time.
    mkdirSync(join(sshd.root, 'stall'));
    const dest = destination(sshd, ctx, { remote_path: join(sshd.root, 'stall'), transfer_timeout: '1s' });
    async function* stalled() {
      yield Buffer.from('start');
      await new Promise(() => {});
    }
    await assert.rejects(dest.put('s.csv', stalled(), opts()), rejectsWith('NETWORK_FAILED', (e) => assert.match(e.message, /transfer_timeout/)));
    assert.ok(!readdirSync(join(sshd.root, 'stall')).includes('s.csv'));
    await dest.put('s.csv', [Buffer.from('done')], opts({ onCollision: 'overwrite' }));
    assert.equal(readFileSync(join(sshd.root, 'stall/s.csv'), 'utf8'), 'done');
  });
});

describe('config', () => {
  const base = { type: 'sftp', host: 'sftp.partner.example', username: 'batch', remote_path: '/in' };
  const issues = (input: object) => {
    const result = sftpConfig.safeParse(input);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('exactly one of password, private_key and private_key_file; a passphrase needs a key; host_key looks like ssh-keygen -l', () => {
    assert.deepEqual(issues({ ...base }), ['private_key: needs credentials: give exactly one of password, private_key or private_key_file']);
    assert.deepEqual(issues({ ...base, password: 'p', private_key_file: 'k' }), ['private_key_file: give only one of password, private_key and private_key_file (password is set too)']);
    assert.deepEqual(issues({ ...base, password: 'p', passphrase: 'x' }), ['passphrase: is for an encrypted private key: set private_key or private_key_file']);
    assert.equal(issues({ ...base, password: 'p', host_key: 'ab:cd:ef' }).length, 1);
    assert.deepEqual(issues({ ...base, password: 'p', host_key: `SHA256:${'A'.repeat(43)}` }), []);
    assert.equal(issues({ ...base, password: 'p', surprise: 1 }).length, 1, 'unknown keys are refused');
  });

  test('defaults: port 22, create_dirs, atomic_upload, timeouts 20s / 10m, keepalive 10s', () => {
    const config = sftpConfig.parse({ ...base, private_key: 'k' });
    assert.deepEqual(
      [config.port, config.create_dirs, config.atomic_upload, config.connect_timeout, config.transfer_timeout, config.keepalive_interval],
      [22, true, true, 20_000, 600_000, 10_000],
    );
  });

  test('every key is described for the generated reference', () => {
    for (const [key, schema] of Object.entries(sftpConfig.shape)) {
      if (key !== 'type') assert.ok(schema.description, `${key} has no description`);
    }
  });
});

describe('classification of ssh2 errors', () => {
  const doing = 'uploading sftp://h:22/in/x.csv';
  const status = (code: number, message: string) => Object.assign(new Error(message), { code });
  const sftpError = (error: unknown) => classify(error, { ioCode: 'DEST_WRITE_FAILED', doing, ssh: { from: 'sftp', connectionLost: false } });

  test('SFTP status: no such file → DEST_NOT_FOUND, permission denied → DEST_PERMISSION_DENIED (permanent); a bare failure (disk full, quota) → DEST_WRITE_FAILED (transient)', () => {
    assert.deepEqual([sftpError(status(2, 'No such file')).code, sftpError(status(2, 'No such file')).category], ['DEST_NOT_FOUND', 'permanent']);
    assert.deepEqual([sftpError(status(3, 'Permission denied')).code, sftpError(status(3, 'Permission denied')).category], ['DEST_PERMISSION_DENIED', 'permanent']);
    const full = sftpError(status(4, 'Failure'));
    assert.deepEqual([full.code, full.category], ['DEST_WRITE_FAILED', 'transient']);
    assert.match(full.message, /full disk or an exhausted quota/);
    assert.equal(sftpError(status(7, 'Connection lost')).code, 'NETWORK_FAILED');
  });

  test('connection errors: login refused → DEST_AUTH_FAILED; a DISCONNECT reason is not an SFTP status; timeouts and lost connections → NETWORK_FAILED', () => {
    const conn = (error: unknown, connectionLost = true) => classify(error, { ioCode: 'DEST_WRITE_FAILED', doing, ssh: { from: 'connection', connectionLost } });
    assert.equal(conn(Object.assign(new Error('All configured authentication methods failed'), { level: 'client-authentication' })).code, 'DEST_AUTH_FAILED');
    assert.equal(conn(status(2, 'Protocol error')).code, 'NETWORK_FAILED', 'disconnect reason 2 is PROTOCOL_ERROR, not NO_SUCH_FILE');
    assert.equal(conn(status(14, 'No more auth methods available')).code, 'DEST_AUTH_FAILED');
    assert.equal(conn(Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' })).code, 'NETWORK_FAILED');
    assert.equal(conn(Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET', level: 'client-socket' })).code, 'NETWORK_FAILED');
    assert.equal(classify(new Error('No response from server'), { ioCode: 'DEST_WRITE_FAILED', doing, ssh: { from: 'sftp', connectionLost: true } }).code, 'NETWORK_FAILED');
    assert.equal(sftpError(new Error('something odd')).code, 'UNCLASSIFIED');
  });
});
