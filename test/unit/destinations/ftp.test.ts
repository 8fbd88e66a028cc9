// The ftp destination against a real FTP server (ftp-srv on loopback): credentials, FTPS trust,
// classification of what servers answer, and the publish step. The shared contract (round trip,
// atomic visibility, collisions, verify) is test/conformance/destination.ftp.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FTPError } from 'basic-ftp';
import { FtpDestination, ftp, ftpConfig } from '../../../src/destinations/ftp.js';
import type { BuildContext } from '../../../src/core/component.js';
import { classify } from '../../../src/errors/classify.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { startFtpServer, type FtpServer, type FtpServerOptions } from '../../support/servers/ftp.js';
import { failure } from '../../support/errors.js';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const opts = (extra: object = {}) => ({ onCollision: 'fail' as const, signal: new AbortController().signal, ...extra });

async function server(options: FtpServerOptions = {}): Promise<FtpServer> {
  const s = await startFtpServer(options);
  after(() => s.stop());
  return s;
}

function destination(s: FtpServer, extra: Record<string, unknown> = {}): FtpDestination {
  const config = ftpConfig.parse({ type: 'ftp', host: s.host, port: s.port, username: s.username, password: s.password, remote_path: '/in', timeout: '5s', ...extra });
  const d = ftp.create(config, { baseDir: process.cwd() } as BuildContext) as FtpDestination;
  after(() => d.close());
  return d;
}

test('put streams the body to remote_path and returns an ftp:// uri with size and sha256', async () => {
  const s = await server();
  const d = destination(s);
  const receipt = await d.put('2026/leads.csv', [Buffer.from('id,email\n'), Buffer.from('1,a@x.io\n')], opts());
  assert.equal(readFileSync(join(s.root, 'in/2026/leads.csv'), 'utf8'), 'id,email\n1,a@x.io\n');
  assert.deepEqual({ ...receipt }, {
    uri: `ftp://127.0.0.1:${s.port}/in/2026/leads.csv`, bytes: 18, sha256: sha('id,email\n1,a@x.io\n'), attempts: 1, skipped: false,
  });
  assert.deepEqual(readdirSync(join(s.root, 'in/2026')), ['leads.csv'], 'no temp file left');
  assert.equal(d.description, `ftp://127.0.0.1:${s.port}/in`);
});

test('a wrong password is DEST_AUTH_FAILED, permanent, and the password appears nowhere in the message', async () => {
  const s = await server();
  const d = destination(s, { password: 'wrong-Password-123' });
  for (const attempt of [d.put('a.csv', [Buffer.from('x')], opts()), d.healthcheck(AbortSignal.timeout(10_000)), d.stat('a.csv')]) {
    const e = await failure(attempt);
    assert.equal(e.code, 'DEST_AUTH_FAILED');
    assert.equal(e.category, 'permanent');
    assert.equal(e.errorType, 'AuthError');
    assert.match(e.message, /login refused: 530/);
    assert.ok(!e.message.includes('wrong-Password-123') && !e.message.includes(s.password), e.message);
  }
  assert.equal(s.refusedLogins, 3);
});

test('explicit FTPS with ca_file verifies the server certificate and delivers', async () => {
  const s = await server({ tls: 'explicit' });
  const d = destination(s, { secure: 'explicit', ca_file: s.caFile });
  const receipt = await d.put('secure.csv', [Buffer.from('over tls\n')], opts());
  assert.equal(receipt.uri, `ftps://127.0.0.1:${s.port}/in/secure.csv`);
  assert.equal(readFileSync(join(s.root, 'in/secure.csv'), 'utf8'), 'over tls\n');
  await d.healthcheck(AbortSignal.timeout(10_000));
});

test('ca_file resolves against the pipeline folder', async () => {
  const s = await server({ tls: 'explicit' });
  const config = ftpConfig.parse({ type: 'ftp', host: s.host, port: s.port, username: s.username, password: s.password, secure: 'explicit', ca_file: 'cert.pem' });
  const d = new FtpDestination(config, join(s.caFile!, '..'));
  after(() => d.close());
  await d.healthcheck(AbortSignal.timeout(10_000));
  const missing = new FtpDestination({ ...config, ca_file: 'nope.pem' }, join(s.caFile!, '..'));
  const e = await failure(missing.healthcheck(AbortSignal.timeout(10_000)));
  assert.equal(e.code, 'CONFIG_INVALID');
  assert.match(e.message, /ca_file: cannot read .*nope\.pem \(ENOENT\)/);
});

test('an FTPS certificate nobody vouches for is NETWORK_TLS_UNTRUSTED, permanent; reject_unauthorized: false accepts it', async () => {
  const s = await server({ tls: 'explicit' });
  const strict = destination(s, { secure: 'explicit' });
  const e = await failure(strict.put('a.csv', [Buffer.from('x')], opts()));
  assert.equal(e.code, 'NETWORK_TLS_UNTRUSTED');
  assert.equal(e.category, 'permanent');
  assert.match(e.message, /TLS certificate cannot be verified: .*self[- ]signed/i);
  assert.equal(s.logins, 0, 'no password was sent over the unverified connection');
  assert.ok(!existsSync(join(s.root, 'in/a.csv')));

  const lax = destination(s, { secure: 'explicit', reject_unauthorized: false });
  await lax.put('a.csv', [Buffer.from('x')], opts());
  assert.equal(readFileSync(join(s.root, 'in/a.csv'), 'utf8'), 'x');
});

test('implicit FTPS works too', async () => {
  const s = await server({ tls: 'implicit' });
  const d = destination(s, { secure: 'implicit', ca_file: s.caFile });
  await d.put('i.csv', [Buffer.from('implicit\n')], opts());
  assert.equal(readFileSync(join(s.root, 'in/i.csv'), 'utf8'), 'implicit\n');
});

test('a server that is down is transient (NETWORK_FAILED), before and after a session existed', async () => {
  const s = await server();
  const d = destination(s);
  await d.put('first.csv', [Buffer.from('1')], opts());
  await s.stop();
  const e = await failure(d.put('second.csv', [Buffer.from('2')], opts()));
  assert.deepEqual([e.code, e.category], ['NETWORK_FAILED', 'transient']);
  assert.match(e.message, /ECONNREFUSED/);

  const never = destination(s);
  const e2 = await failure(never.healthcheck(AbortSignal.timeout(10_000)));
  assert.deepEqual([e2.code, e2.category], ['NETWORK_FAILED', 'transient']);
});

test('a session the server dropped (idle timeout) is reopened for the next put', async () => {
  const s = await server();
  const d = destination(s);
  await d.put('a.csv', [Buffer.from('a')], opts());
  await s.dropSessions();
  await d.put('b.csv', [Buffer.from('b')], opts());
  assert.deepEqual(readdirSync(join(s.root, 'in')).sort(), ['a.csv', 'b.csv']);
  assert.equal(s.logins, 2);
});

test('with create_dirs: false a missing folder is DEST_NOT_FOUND, permanent', async () => {
  const s = await server();
  const d = destination(s, { create_dirs: false });
  const e = await failure(d.put('a.csv', [Buffer.from('x')], opts()));
  assert.deepEqual([e.code, e.category], ['DEST_NOT_FOUND', 'permanent']);
  const h = await failure(d.healthcheck(AbortSignal.timeout(10_000)));
  assert.equal(h.code, 'DEST_NOT_FOUND');
  mkdirSync(join(s.root, 'in'));
  await d.put('a.csv', [Buffer.from('x')], opts());
  assert.ok(existsSync(join(s.root, 'in/a.csv')));
});

test('a relative remote_path lands under the login folder', async () => {
  const s = await server();
  const d = destination(s, { remote_path: 'drop/zone' });
  await d.put('r.csv', [Buffer.from('r')], opts());
  assert.ok(existsSync(join(s.root, 'drop/zone/r.csv')));
});

test('a file that appears under the final name during the upload is not clobbered (fail and skip_if_identical)', async () => {
  const s = await server();
  const d = destination(s);
  mkdirSync(join(s.root, 'in'));
  const theirs = Buffer.from('written by someone else\n');
  const mine = Buffer.from('my rendered file\n');
  async function* racing(name: string, content: Buffer) {
    yield mine.subarray(0, 4);
    writeFileSync(join(s.root, 'in', name), content); // another writer wins the name meanwhile
    yield mine.subarray(4);
  }
  const e = await failure(d.put('race.csv', racing('race.csv', theirs), opts({ expected: { bytes: mine.length, sha256: sha(mine) } })));
  assert.equal(e.code, 'DEST_COLLISION');
  assert.deepEqual(readFileSync(join(s.root, 'in/race.csv')), theirs);
  assert.deepEqual(readdirSync(join(s.root, 'in')), ['race.csv'], 'the temp file is removed');

  const skipped = await d.put('same.csv', racing('same.csv', mine), opts({ onCollision: 'skip_if_identical', expected: { bytes: mine.length, sha256: sha(mine) } }));
  assert.equal(skipped.skipped, true);
  assert.deepEqual(readdirSync(join(s.root, 'in')).sort(), ['race.csv', 'same.csv']);
});

test('atomic_upload: false writes straight to the final name', async () => {
  const s = await server();
  const d = destination(s, { atomic_upload: false });
  const seen: string[][] = [];
  async function* body() {
    yield Buffer.alloc(64 * 1024, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen.push(existsSync(join(s.root, 'in')) ? readdirSync(join(s.root, 'in')) : []);
    yield Buffer.alloc(64 * 1024, 2);
  }
  await d.put('direct.csv', body(), opts());
  assert.deepEqual(seen, [['direct.csv']], 'the final name exists while bytes still arrive: that is what atomic_upload prevents');
  assert.equal(readFileSync(join(s.root, 'in/direct.csv')).length, 128 * 1024);
});

test('a cancelled put rejects and leaves nothing under the final name', async () => {
  const s = await server();
  const d = destination(s);
  const controller = new AbortController();
  async function* body() {
    yield Buffer.alloc(1000);
    controller.abort(new Error('run cancelled'));
    yield Buffer.alloc(1000);
  }
  await assert.rejects(d.put('c.csv', body(), opts({ signal: controller.signal })), /run cancelled/);
  assert.ok(!existsSync(join(s.root, 'in/c.csv')));
  await d.put('after.csv', [Buffer.from('next put reconnects')], opts());
});

test('stat returns the size (no sha256: that would mean a download) or null', async () => {
  const s = await server();
  const d = destination(s);
  await d.put('s.csv', [Buffer.from('12345')], opts());
  assert.deepEqual(await d.stat('s.csv'), { bytes: 5 });
  assert.equal(await d.stat('nothing.csv'), null);
});

test('config: passive is the only mode; defaults are documented values', () => {
  const base = { type: 'ftp', host: 'ftp.partner.example', username: 'u', password: 'p' };
  const parsed = ftpConfig.parse(base);
  assert.deepEqual(
    [parsed.port, parsed.secure, parsed.reject_unauthorized, parsed.passive, parsed.remote_path, parsed.create_dirs, parsed.atomic_upload, parsed.timeout],
    [21, false, true, true, '.', true, true, 30_000],
  );
  const active = ftpConfig.safeParse({ ...base, passive: false });
  assert.equal(active.success, false);
  assert.match(active.error!.issues[0]!.message, /active mode .* not available/);
  assert.equal(ftpConfig.safeParse({ ...base, secure: true }).success, false);
  assert.equal(ftpConfig.safeParse({ ...base, pasword: 'typo' }).success, false);
});

test('FTP replies are classified by code (classify, the one place)', () => {
  const reply = (code: number, text: string) => classify(new FTPError({ code, message: `${code} ${text}` }), { ioCode: 'DEST_WRITE_FAILED', doing: 'uploading x', ftp: true, secrets: ['s3cret-pass'] });
  const cases: [number, string, string, string][] = [
    [530, 'Not logged in', 'DEST_AUTH_FAILED', 'permanent'],
    [550, 'No such file or directory', 'DEST_NOT_FOUND', 'permanent'],
    [550, 'ENOENT: no such file or directory, open \'/in/x\'', 'DEST_NOT_FOUND', 'permanent'],
    [550, 'Permission denied', 'DEST_PERMISSION_DENIED', 'permanent'],
    [552, 'Exceeded storage allocation', 'DEST_WRITE_FAILED', 'transient'],
    [452, 'Insufficient storage space', 'DEST_WRITE_FAILED', 'transient'],
    [450, 'File busy', 'DEST_WRITE_FAILED', 'transient'],
    [421, 'Service not available, closing control connection', 'NETWORK_FAILED', 'transient'],
    [425, 'Can\'t open data connection', 'NETWORK_FAILED', 'transient'],
    [426, 'Connection closed; transfer aborted', 'NETWORK_FAILED', 'transient'],
    [502, 'Command not implemented', 'DEST_FTP_REJECTED', 'permanent'],
    [553, 'File name not allowed', 'DEST_FTP_REJECTED', 'permanent'],
  ];
  for (const [code, text, want, category] of cases) {
    const e = reply(code, text);
    assert.deepEqual([code, e.code, e.category], [code, want, category], text);
  }
  const leaky = reply(530, 'User partner with password s3cret-pass refused');
  assert.ok(!leaky.message.includes('s3cret-pass'), leaky.message);
  const timeout = classify(new Error('Timeout (control socket)'), { ioCode: 'DEST_WRITE_FAILED', doing: 'x', ftp: true });
  assert.deepEqual([timeout.code, timeout.category], ['NETWORK_FAILED', 'transient']);
});
