import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import type { Client, ConnectConfig, SFTPWrapper, Stats } from 'ssh2';
import { z } from 'zod';
import { duration, secret } from '../config/units.js';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { defineDestination } from '../core/component.js';
import { classify, type ClassifyContext } from '../errors/classify.js';
import { ladingError, LadingError } from '../errors/lading-error.js';
import type { KnownHostStore } from '../store/types.js';
import type { Destination, PutOptions, PutReceipt } from './types.js';
import { lazy } from '../core/lazy.js';

/** ssh2 costs ~50 ms and 14 MB to import: loaded when an sftp destination first connects, not with the registry. */
// CommonJS: Node finds no named export `utils`, so the module is taken from its default export.
const loadSsh2 = lazy(() => import('ssh2').then((mod) => mod.default));

/** `SHA256:` and 43 base64 characters, as `ssh-keygen -l` prints a key's fingerprint. */
const fingerprintPattern = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export const sftpConfig = z.object({
  type: z.literal('sftp'),
  host: z.string().min(1).describe('SFTP server host name or IP address.'),
  port: z.union([z.number(), z.string().regex(/^\d+$/, 'expected a port number').transform(Number)])
    .pipe(z.number().int().min(1).max(65535)).default(22)
    .describe('SSH port of the server: a number, or digits in a string (so `${env:SFTP_PORT}` works). Default 22.'),
  username: z.string().min(1).describe('Login name on the server.'),
  password: secret().optional()
    .describe('Password login. Give exactly one of password, private_key and private_key_file.'),
  private_key: secret().optional()
    .describe('Private key text (OpenSSH `-----BEGIN OPENSSH PRIVATE KEY-----` or PEM), usually `${env:SFTP_PRIVATE_KEY}`.'),
  private_key_file: z.string().min(1).optional()
    .describe('Path of the private key file, relative to the pipeline file\'s folder; read when connecting.'),
  passphrase: secret().optional().describe('Passphrase of an encrypted private key.'),
  host_key: z.string().regex(fingerprintPattern, 'expected a fingerprint such as SHA256:… as `ssh-keygen -l -f <host key>.pub` prints it').optional()
    .describe('The server\'s host key fingerprint, `SHA256:<base64>` as `ssh-keygen -l` prints it: any other key is refused (DEST_SFTP_HOST_KEY). Without it the first key seen is trusted and recorded in the store, and a later different key is refused.'),
  remote_path: z.string().min(1).refine((p) => !p.includes('\0'), 'must not contain NUL')
    .describe('Directory on the server the files land in; a relative path starts at the login directory.'),
  create_dirs: z.boolean().default(true)
    .describe('Create remote_path (and sub-folders a naming pattern implies) when missing, like `mkdir -p`.'),
  atomic_upload: z.boolean().default(true)
    .describe('Upload as `<name>.tmp`, verify, then rename to the final name, so the partner never sees a partial file. With false the file is written under its final name directly: a partner polling the folder can pick up a partial file, and a failed upload can leave one behind.'),
  connect_timeout: duration().default(20_000)
    .describe('How long connecting, the SSH handshake and the login may take before failing (NETWORK_FAILED, transient). Default 20s.'),
  transfer_timeout: duration().default(600_000)
    .describe('How long one file\'s upload (connect, write, verify, rename) may take before it is abandoned (NETWORK_FAILED, transient). Default 10m.'),
  keepalive_interval: duration().default(10_000)
    .describe('How often an idle connection sends an SSH keepalive; after 3 unanswered ones it counts as lost. 0 turns keepalives off. Default 10s.'),
  ciphers: z.array(z.string().min(1)).min(1).optional()
    .describe('SSH ciphers to offer, most preferred first (e.g. `aes256-gcm@openssh.com`, `aes128-ctr`), for servers that need a particular one. Default: ssh2\'s modern list.'),
}).strict().superRefine((config, ctx) => {
  const given = (['password', 'private_key', 'private_key_file'] as const).filter((key) => config[key] !== undefined);
  if (given.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['private_key'], message: 'needs credentials: give exactly one of password, private_key or private_key_file' });
  }
  for (const key of given.slice(1)) {
    ctx.addIssue({ code: 'custom', path: [key], message: `give only one of password, private_key and private_key_file (${given[0]} is set too)` });
  }
  if (config.passphrase !== undefined && config.private_key === undefined && config.private_key_file === undefined) {
    ctx.addIssue({ code: 'custom', path: ['passphrase'], message: 'is for an encrypted private key: set private_key or private_key_file' });
  }
}).meta({ id: 'destination.sftp' });

export type SftpConfig = z.output<typeof sftpConfig>;

export const sftp = defineDestination({
  type: 'sftp',
  summary: 'An SFTP server (OpenSSH and others): written as <name>.tmp, verified, then renamed; host key pinned or trusted on first use.',
  schema: sftpConfig,
  create: (config, ctx) => new SftpDestination(config, ctx),
});

/** What the destination needs from its surroundings (a BuildContext has all of it). */
export interface SftpContext {
  /** private_key_file resolves against it. */
  readonly baseDir: string;
  /** Host keys trusted on first use. */
  readonly store: KnownHostStore;
  readonly clock?: Clock;
  /** Where notices go (a host key trusted and recorded on first use); default: a line on stderr. */
  readonly notify?: (message: string) => void;
}

/** One SSH connection with its SFTP session; a lost one is replaced by the next operation. */
interface Connection {
  readonly client: Client;
  readonly sftp: SFTPWrapper;
  /** remote_path, absolute (a relative one resolved against the login directory). */
  readonly root: string;
  /** How many operations were handed this connection: more than one means it was kept from an earlier one. */
  uses: number;
  closed: boolean;
  /** The error the connection failed with, when it did (reset, keepalive timeout, disconnect). */
  error: Error | undefined;
  /**
   * Rejects when the connection is lost. Every request races it: ssh2 never answers a request
   * sent on a channel that has already closed.
   */
  readonly lost: Promise<never>;
}

/** A failure of the body being uploaded (the upstream), not of the SFTP server. */
class BodyError extends Error {
  constructor(readonly reason: unknown) {
    super('the file body failed');
  }
}

/** A host key from the wire: the key type and its SHA256 fingerprint as ssh-keygen prints it. */
function describeHostKey(key: Buffer): { keyType: string; fingerprint: string } {
  const length = key.length >= 4 ? key.readUInt32BE(0) : 0;
  const keyType = key.subarray(4, 4 + length).toString('latin1') || 'unknown';
  return { keyType, fingerprint: `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` };
}

const sameFingerprint = (a: string, b: string) => a.replace(/=+$/, '') === b.replace(/=+$/, '');

/** Server host key algorithms, the type already trusted first (so a server adding a key type keeps matching). */
const hostKeyAlgorithms = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
function preferHostKeyType(keyType: string): string[] {
  const first = keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
  if (!first.every((a) => hostKeyAlgorithms.includes(a))) return hostKeyAlgorithms;
  return [...first, ...hostKeyAlgorithms.filter((a) => !first.includes(a))];
}

/** Calls an ssh2 callback API as a promise; a synchronous throw (channel gone) rejects too. */
function call<T = void>(start: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    try {
      start((err, value) => (err ? reject(err) : resolvePromise(value as T)));
    } catch (error) {
      reject(error);
    }
  });
}

/** An OpenSSH extension request; resolves false when the server does not offer it (ssh2 throws synchronously then). */
function extension(start: (cb: (err: Error | undefined | null) => void) => void): Promise<boolean> {
  return new Promise<boolean>((resolvePromise, reject) => {
    try {
      start((err) => (err ? reject(err) : resolvePromise(true)));
    } catch {
      resolvePromise(false);
    }
  });
}

const sftpStatus = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};
const NO_SUCH_FILE = 2;
const FAILURE = 4;
/** Upload pipelining: bytes per SFTP write request (every server takes 32 KiB), and requests outstanding at once. */
const writeSize = 32 * 1024;
const writesInFlight = 32;

async function* guarded(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (error) {
    throw new BodyError(error);
  }
}

/** A promise that rejects with the signal's reason when it aborts; dispose() detaches it. */
function abortion(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * Delivers files over SFTP with one SSH connection per destination, opened on first use and
 * opened again after it is lost. put() streams the body to `<name>.tmp` (never buffering the
 * file), verifies size and sha256, then renames: plain SFTP rename, which refuses an existing
 * name, for on_collision fail / skip_if_identical; OpenSSH's posix-rename, which replaces
 * atomically, for overwrite.
 */
export class SftpDestination implements Destination {
  readonly type = 'sftp';
  readonly description: string;
  private readonly where: string;
  private readonly clock: Clock;
  private readonly notify: (message: string) => void;
  private pending: Promise<Connection> | undefined;
  /** Never shown in a message, even if a server or library were to echo one. */
  private readonly secrets: string[];

  constructor(private readonly config: SftpConfig, private readonly ctx: SftpContext) {
    this.where = `sftp://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
    this.description = `${this.where}${config.remote_path.startsWith('/') ? '' : '/~/'}${config.remote_path}`;
    this.clock = ctx.clock ?? systemClock;
    this.secrets = [config.password, config.passphrase, config.private_key].filter((v): v is string => v !== undefined);
    this.notify = ctx.notify ?? ((message) => process.stderr.write(`lading: ${message}\n`));
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    const deadline = AbortSignal.timeout(this.config.transfer_timeout);
    const signal = AbortSignal.any([opts.signal, deadline]);
    let doing = `delivering ${name} to ${this.description}`;
    let conn: Connection | undefined;
    try {
      signal.throwIfAborted();
      let prepared: { final: string; uri: string; skipped?: PutReceipt };
      for (let attempt = 1; ; attempt++) {
        conn = await this.race(this.connection(), signal);
        const final = posix.join(conn.root, name);
        const uri = this.uri(final);
        doing = `uploading ${uri}`;
        try {
          prepared = { final, uri, ...(await this.race(this.prepare(conn, final, uri, opts, signal), signal, conn)) };
          break;
        } catch (error) {
          // A connection kept from an earlier put may have died while idle; nothing was sent yet, so open a new one once.
          if (attempt === 1 && conn.closed && conn.uses > 1 && !(error instanceof LadingError)) continue;
          throw error;
        }
      }
      const { final, uri, skipped } = prepared;
      if (skipped) return skipped;
      const session = conn;
      const atomic = this.config.atomic_upload;
      const target = atomic ? `${final}.tmp` : final;
      const written = await this.upload(session, target, body, atomic || opts.onCollision === 'overwrite' ? 'w' : 'wx', signal).catch(async (error: unknown) => {
        // Without a temp name, 'wx' refuses a final name that appeared after the check in prepare().
        if (!atomic && sftpStatus(error) === FAILURE && await this.race(this.statOrNull(session, final), signal, session).catch(() => null)) throw this.collision(uri);
        throw error;
      });
      const size = (await this.race(call<Stats>((cb) => session.sftp.stat(target, cb)), signal, session)).size;
      const expected = opts.expected;
      if (size !== written.bytes || (expected && (written.bytes !== expected.bytes || written.sha256 !== expected.sha256))) {
        await this.removeQuietly(session, target);
        throw ladingError('DEST_VERIFY_MISMATCH', `${uri}: sent ${written.bytes} bytes sha256 ${written.sha256}, the server holds ${size} bytes${expected ? `; expected ${expected.bytes} bytes sha256 ${expected.sha256}` : ''}`);
      }
      if (atomic) {
        await opts.onUploaded?.(`${name}.tmp`);
        await this.race(this.publish(session, target, final, opts.onCollision === 'overwrite', uri), signal, session);
      }
      return { uri, ...written, attempts: 1, skipped: false };
    } catch (error) {
      throw await this.failure(error, doing, conn, deadline);
    }
  }

  /**
   * Before any byte is sent: the folder exists (created when create_dirs), and the final name is
   * free unless overwriting; an identical file there is a skip for skip_if_identical.
   */
  private async prepare(conn: Connection, final: string, uri: string, opts: PutOptions, signal: AbortSignal): Promise<{ skipped?: PutReceipt }> {
    const dir = posix.dirname(final);
    if (this.config.create_dirs) {
      await this.mkdirp(conn, dir);
    } else {
      const info = await this.statOrNull(conn, dir);
      if (!info?.isDirectory()) throw ladingError('DEST_NOT_FOUND', `${this.uri(dir)} ${info ? 'is a file, not a directory' : 'does not exist, and create_dirs is off'}`);
    }
    if (opts.onCollision === 'overwrite') return {};
    const existing = await this.statOrNull(conn, final);
    if (!existing) return {};
    if (opts.onCollision === 'skip_if_identical' && opts.expected !== undefined && existing.size === opts.expected.bytes) {
      const sha256 = await this.hash(conn, final, signal);
      if (sha256 === opts.expected.sha256) return { skipped: { uri, bytes: existing.size, sha256, attempts: 1, skipped: true } };
    }
    throw this.collision(uri);
  }

  /** Size, and sha256 computed by reading the whole remote file back (a download of its bytes). */
  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    return this.onFile(name, 'reading', async (conn, path, signal) => {
      const info = await this.race(this.statOrNull(conn, path), signal, conn);
      return info ? { bytes: info.size, sha256: await this.hash(conn, path, signal) } : null;
    });
  }

  async completePut(name: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<boolean> {
    return this.onFile(name, 'renaming', async (conn, final, signal) => {
      const temp = `${final}.tmp`;
      const left = await this.race(this.statOrNull(conn, temp), signal, conn);
      if (left?.size !== expected.bytes || await this.hash(conn, temp, signal) !== expected.sha256) return false;
      await this.race(this.publish(conn, temp, final, false, this.uri(final)), signal, conn);
      return true;
    });
  }

  async remove(name: string): Promise<boolean> {
    return this.onFile(name, 'removing', async (conn, path, signal) => {
      if (!(await this.race(this.statOrNull(conn, path), signal, conn))) return false;
      await this.race(call((cb) => conn.sftp.unlink(path, cb)), signal, conn);
      return true;
    });
  }

  /** One call on one remote file under the transfer timeout, its failures classified naming the file. */
  private async onFile<T>(name: string, doing: string, body: (conn: Connection, path: string, signal: AbortSignal) => Promise<T>): Promise<T> {
    let what = `${doing} ${name} at ${this.description}`;
    let conn: Connection | undefined;
    try {
      conn = await this.connection();
      const path = posix.join(conn.root, name);
      what = `${doing} ${this.uri(path)}`;
      return await body(conn, path, AbortSignal.timeout(this.config.transfer_timeout));
    } catch (error) {
      throw await this.failure(error, what, conn);
    }
  }

  /**
   * Connects and logs in, checks remote_path is a directory (creating it when create_dirs), then
   * writes and removes a probe file `.lading-probe-<random>`. The error names the failed step.
   */
  async healthcheck(signal: AbortSignal): Promise<void> {
    let doing = `connecting to ${this.where}`;
    let conn: Connection | undefined;
    try {
      conn = await this.race(this.connection(), signal);
      const root = conn.root;
      doing = `checking remote_path ${this.uri(root)}`;
      const info = await this.race(this.statOrNull(conn, root), signal, conn);
      if (info && !info.isDirectory()) throw ladingError('DEST_NOT_FOUND', `${doing}: it is a file, not a directory`);
      if (!info) {
        if (!this.config.create_dirs) throw ladingError('DEST_NOT_FOUND', `${doing}: no such directory, and create_dirs is off`);
        doing = `creating remote_path ${this.uri(root)}`;
        await this.race(this.mkdirp(conn, root), signal, conn);
      }
      const probe = posix.join(root, `.lading-probe-${randomBytes(6).toString('hex')}`);
      doing = `writing the probe file ${this.uri(probe)}`;
      await this.upload(conn, probe, [Buffer.from('lading write probe\n')], 'wx', signal);
      doing = `removing the probe file ${this.uri(probe)}`;
      await this.race(call((cb) => conn!.sftp.unlink(probe, cb)), signal, conn);
    } catch (error) {
      if (signal.aborted && !(error instanceof LadingError)) this.drop(conn);
      throw await this.failure(error, doing, conn);
    }
  }

  async close(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    const conn = await pending?.catch(() => undefined);
    if (!conn || conn.closed) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        conn.client.destroy();
        done();
      }, 5000);
      timer.unref();
      conn.client.once('close', () => {
        clearTimeout(timer);
        done();
      });
      conn.client.end();
    });
  }

  // ── connection ─────────────────────────────────────────────────────────────────────────────

  /** The live connection, opening one when there is none or the last one was lost. */
  private async connection(): Promise<Connection> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const pending = (this.pending ??= this.open());
      let conn: Connection;
      try {
        conn = await pending;
      } catch (error) {
        if (this.pending === pending) this.pending = undefined;
        throw error;
      }
      if (!conn.closed) {
        conn.uses++;
        return conn;
      }
      if (this.pending === pending) this.pending = undefined;
    }
    throw ladingError('NETWORK_FAILED', `connecting to ${this.where}: the connection closed as soon as it was ready`);
  }

  private async open(): Promise<Connection> {
    const { config } = this;
    const privateKey = await this.privateKey();
    const knownId = `${config.host}:${config.port}`;
    const known = config.host_key === undefined ? await this.ctx.store.knownHost(knownId) : null;
    const client = new (await loadSsh2()).Client();
    let step = `connecting to ${this.where}`;
    let refusal: LadingError | undefined;
    const state: { closed: boolean; error: Error | undefined } = { closed: false, error: undefined };
    const settings: ConnectConfig = {
      host: config.host,
      port: config.port,
      username: config.username,
      ...(config.password !== undefined ? { password: config.password } : {}),
      ...(privateKey !== undefined ? { privateKey } : {}),
      ...(config.passphrase !== undefined ? { passphrase: config.passphrase } : {}),
      readyTimeout: config.connect_timeout,
      keepaliveInterval: config.keepalive_interval,
      keepaliveCountMax: 3,
      algorithms: {
        ...(config.ciphers ? { cipher: config.ciphers as NonNullable<NonNullable<ConnectConfig['algorithms']>['cipher']> } : {}),
        ...(known ? { serverHostKey: preferHostKeyType(known.keyType) as NonNullable<NonNullable<ConnectConfig['algorithms']>['serverHostKey']> } : {}),
      },
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        this.checkHostKey(key, knownId).then(
          (problem) => {
            refusal = problem;
            verify(problem === undefined);
          },
          (error: unknown) => {
            refusal = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `checking the host key of ${this.where}` });
            verify(false);
          },
        );
      },
    };
    // Until the session is ready, an error or a close fails the connect; afterwards they mark the connection lost.
    let failConnect: (error: unknown) => void = () => {};
    const broken = new Promise<never>((_, reject) => {
      failConnect = reject;
    });
    broken.catch(() => {});
    const onError = (error: Error) => {
      state.error ??= error;
      state.closed ||= (error as { level?: unknown }).level === 'client-socket';
      failConnect(error);
    };
    const onGone = () => {
      state.closed = true;
      failConnect(new Error('the server closed the connection before the session was ready'));
    };
    client.on('error', onError).on('end', onGone).on('close', onGone);
    try {
      client.once('handshake', () => {
        step = `authenticating as "${config.username}" at ${this.where}`;
      });
      const ready = new Promise<void>((done) => client.once('ready', () => done()));
      try {
        client.connect(settings);
      } catch (error) {
        // ssh2 checks its settings synchronously: here, an unknown cipher name.
        throw ladingError('CONFIG_INVALID', `${this.where}: the SSH client refuses its settings: ${(error as Error).message} (check destination.ciphers)`, { cause: error });
      }
      await Promise.race([ready, broken]);
      step = `starting the SFTP session at ${this.where}`;
      const session = await Promise.race([call<SFTPWrapper>((cb) => client.sftp(cb)), broken]);
      // An SFTP protocol error is emitted on the session: without a listener it would crash the process.
      let onSessionError = (error: Error) => onError(error);
      session.on('error', (error: Error) => onSessionError(error));
      let root = config.remote_path;
      if (!root.startsWith('/')) {
        step = `resolving remote_path ${root} against the login directory at ${this.where}`;
        root = posix.join(await Promise.race([call<string>((cb) => session.realpath('.', cb)), broken]), root);
      }
      let markLost: (error: Error) => void = () => {};
      const lostPromise = new Promise<never>((_, reject) => {
        markLost = reject;
      });
      lostPromise.catch(() => {});
      const conn: Connection = { client, sftp: session, root: posix.normalize(root), uses: 0, closed: state.closed, error: state.error, lost: lostPromise };
      // From here on a loss fails the requests in flight, and the next operation opens a new connection.
      client.off('error', onError).off('end', onGone).off('close', onGone);
      const lost = () => {
        conn.closed = true;
        markLost(conn.error ?? new Error('the SSH connection closed'));
      };
      client.on('error', (error: Error) => {
        conn.error ??= error;
        lost();
      });
      client.on('end', lost).on('close', lost);
      onSessionError = (error: Error) => {
        conn.error ??= error;
        lost();
        client.end();
      };
      session.on('close', () => {
        lost();
        client.end();
      });
      if (conn.closed) lost();
      return conn;
    } catch (error) {
      client.destroy();
      if (refusal) throw refusal;
      if (error instanceof LadingError) throw error;
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: step, secrets: this.secrets, ssh: { from: state.error === error ? 'connection' : 'sftp', connectionLost: state.closed } });
    }
  }

  /** The private key text, read and checked here so a bad key or passphrase is named as such (never shown). */
  private async privateKey(): Promise<string | Buffer | undefined> {
    const { config } = this;
    let text: string | Buffer;
    let from: string;
    if (config.private_key !== undefined) {
      text = config.private_key;
      from = 'destination.private_key';
    } else if (config.private_key_file !== undefined) {
      const path = resolve(this.ctx.baseDir, config.private_key_file);
      from = `destination.private_key_file (${path})`;
      try {
        text = await readFile(path);
      } catch (error) {
        throw ladingError('CONFIG_KEY_INVALID', `${from} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
      }
    } else {
      return undefined;
    }
    const parsed = (await loadSsh2()).utils.parseKey(text, config.passphrase);
    const key = Array.isArray(parsed) ? (parsed[0] as unknown) : parsed;
    if (key instanceof Error) {
      const hint = config.passphrase === undefined ? '' : ' (is destination.passphrase right?)';
      throw ladingError('CONFIG_KEY_INVALID', `${from} is not a usable private key: ${key.message}${hint}`);
    }
    if (!(key as { isPrivateKey(): boolean }).isPrivateKey()) {
      throw ladingError('CONFIG_KEY_INVALID', `${from} holds a public key; give the private key`);
    }
    return text;
  }

  /** undefined when the key may be used; otherwise the refusal (DEST_SFTP_HOST_KEY). */
  private async checkHostKey(key: Buffer, knownId: string): Promise<LadingError | undefined> {
    const { keyType, fingerprint } = describeHostKey(key);
    const pinned = this.config.host_key;
    if (pinned !== undefined) {
      if (sameFingerprint(fingerprint, pinned)) return undefined;
      return ladingError('DEST_SFTP_HOST_KEY', `${this.where} presented host key ${fingerprint} (${keyType}), but destination.host_key pins ${pinned}: refusing to connect. If the partner confirms the server's key changed, set host_key: ${fingerprint}`);
    }
    let known = await this.ctx.store.knownHost(knownId);
    if (!known) {
      known = await this.ctx.store.rememberHost({ host: knownId, keyType, fingerprint, firstSeen: this.clock.now() });
      if (sameFingerprint(known.fingerprint, fingerprint)) {
        this.notify(`${this.where}: first connection; trusted its host key ${fingerprint} (${keyType}) and recorded it in the store. Any other key will be refused; to pin it in the pipeline, set destination.host_key: ${fingerprint}`);
        return undefined;
      }
    }
    if (sameFingerprint(known.fingerprint, fingerprint)) return undefined;
    return ladingError('DEST_SFTP_HOST_KEY', `${this.where} presented host key ${fingerprint} (${keyType}), but the key trusted on first use (${known.firstSeen.toISOString()}) is ${known.fingerprint} (${known.keyType}): refusing to connect. If the partner confirms the server was re-keyed, pin the new key with destination.host_key: ${fingerprint}`);
  }

  /** Closes a connection that may hang (a timeout): the next operation opens a new one. */
  private drop(conn: Connection | undefined): void {
    if (!conn) return;
    conn.closed = true;
    conn.client.destroy();
  }

  // ── files ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Streams `body` into `path`, counting bytes and sha256 as sent; fsyncs when the server offers
   * fsync@openssh.com, then closes the file. Backpressure: at most `writesInFlight` SFTP writes of
   * `writeSize` bytes are outstanding (1 MiB), and the body is not read further until one is
   * acknowledged. (ssh2's createWriteStream keeps about one write in flight: ~8 MB/s on loopback
   * against ~130 MB/s this way.) On failure the partial file is removed when the connection still
   * allows it.
   */
  private async upload(conn: Connection, path: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, flags: 'w' | 'wx', signal: AbortSignal): Promise<{ bytes: number; sha256: string }> {
    const { sftp: session } = conn;
    const hash = createHash('sha256');
    let bytes = 0;
    const aborted = abortion(signal);
    // Every wait is raced, so a lost connection or the deadline also ends a put whose body stalls.
    const settle = <T>(promise: Promise<T>) => Promise.race([promise, aborted.promise, conn.lost]);
    const chunks = guarded(body)[Symbol.asyncIterator]();
    const inFlight = new Set<Promise<void>>();
    let handle: Buffer | undefined;
    try {
      handle = await settle(call<Buffer>((cb) => session.open(path, flags, { mode: 0o644 }, cb)));
      const open = handle;
      for (;;) {
        const next = await settle(chunks.next());
        if (next.done) break;
        signal.throwIfAborted();
        const chunk = next.value;
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        hash.update(buffer);
        for (let offset = 0; offset < buffer.byteLength; offset += writeSize) {
          // A failed write stays in the set, so the next race rejects with its error.
          while (inFlight.size >= writesInFlight) await settle(Promise.race(inFlight));
          const piece = buffer.subarray(offset, offset + writeSize);
          const position = bytes + offset;
          const write = call((cb) => session.write(open, piece, 0, piece.byteLength, position, cb));
          inFlight.add(write);
          write.then(() => inFlight.delete(write), () => {});
        }
        bytes += buffer.byteLength;
      }
      await settle(Promise.all(inFlight));
      await settle(extension((cb) => session.ext_openssh_fsync(open, cb)));
      handle = undefined;
      await settle(call((cb) => session.close(open, cb)));
      return { bytes, sha256: hash.digest('hex') };
    } catch (error) {
      void chunks.return?.(undefined)?.catch(() => {});
      if (!conn.closed) {
        if (handle) await this.quietly(conn, call((cb) => session.close(handle!, cb)));
        await this.removeQuietly(conn, path);
      }
      throw error;
    } finally {
      aborted.dispose();
    }
  }

  /** Gives the temp file its final name. */
  private async publish(conn: Connection, temp: string, final: string, overwrite: boolean, uri: string): Promise<void> {
    const { sftp: session } = conn;
    if (overwrite) {
      // posix-rename@openssh.com replaces an existing file atomically.
      if (await extension((cb) => session.ext_openssh_rename(temp, final, cb))) return;
      // Without it, SFTP rename refuses an existing name: remove it first (the name is briefly absent, never partial).
      try {
        await call((cb) => session.rename(temp, final, cb));
      } catch (error) {
        if (!(await this.statOrNull(conn, final))) throw error;
        await call((cb) => session.unlink(final, cb));
        await call((cb) => session.rename(temp, final, cb));
      }
      return;
    }
    // Plain SFTP rename never replaces: OpenSSH links the new name (refused when it exists) and unlinks the old.
    try {
      await call((cb) => session.rename(temp, final, cb));
    } catch (error) {
      const appeared = await this.statOrNull(conn, final).catch(() => null);
      if (appeared) {
        await this.removeQuietly(conn, temp);
        throw this.collision(uri);
      }
      throw error;
    }
  }

  /** mkdir -p: creates the missing directories of `dir`, top down (one stat when it exists). */
  private async mkdirp(conn: Connection, dir: string): Promise<void> {
    const missing: string[] = [];
    for (let path = dir; ; path = posix.dirname(path)) {
      const info = await this.statOrNull(conn, path);
      if (info) {
        if (!info.isDirectory()) throw ladingError('DEST_NOT_FOUND', `${this.uri(path)} is a file, not a directory: cannot create ${this.uri(dir)}`);
        break;
      }
      missing.unshift(path);
      if (posix.dirname(path) === path) break;
    }
    for (const path of missing) {
      try {
        await call((cb) => conn.sftp.mkdir(path, cb));
      } catch (error) {
        // Created meanwhile by a concurrent put: fine.
        if (!(await this.statOrNull(conn, path).catch(() => null))?.isDirectory()) throw error;
      }
    }
  }

  private async statOrNull(conn: Connection, path: string): Promise<Stats | null> {
    try {
      return await call<Stats>((cb) => conn.sftp.stat(path, cb));
    } catch (error) {
      if (sftpStatus(error) === NO_SUCH_FILE) return null;
      throw error;
    }
  }

  /** sha256 of a remote file, read back in full. */
  private async hash(conn: Connection, path: string, signal: AbortSignal): Promise<string> {
    const hash = createHash('sha256');
    const stream = conn.sftp.createReadStream(path);
    const aborted = abortion(signal);
    try {
      const done = (async () => {
        for await (const chunk of stream) hash.update(chunk as Buffer);
      })();
      await Promise.race([done, aborted.promise, conn.lost]);
      return hash.digest('hex');
    } finally {
      aborted.dispose();
      // The stream closes its remote handle after the last chunk. Waiting for that keeps a lone
      // stat followed by close() from cutting the connection with the reply pending, which ssh2
      // reports as an error on a stream nobody listens to any more.
      stream.on('error', () => {});
      if (!stream.destroyed) stream.destroy();
      if (!stream.closed) await Promise.race([new Promise((closed) => stream.once('close', closed)), conn.lost.catch(() => {})]);
    }
  }

  private removeQuietly(conn: Connection, path: string): Promise<void> {
    return this.quietly(conn, call((cb) => conn.sftp.unlink(path, cb)));
  }

  /** Best-effort cleanup: ignores failures, and waits at most 5s or until the connection is lost. */
  private async quietly(conn: Connection, request: Promise<unknown>): Promise<void> {
    await Promise.race([
      request.catch(() => {}),
      conn.lost.catch(() => {}),
      new Promise((done) => setTimeout(done, 5000).unref()),
    ]);
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────

  /** Settles with `promise`, unless the signal aborts or the connection is lost first. */
  private race<T>(promise: Promise<T>, signal: AbortSignal, conn?: Connection): Promise<T> {
    const aborted = abortion(signal);
    return Promise.race([promise, aborted.promise, ...(conn ? [conn.lost] : [])]).finally(() => aborted.dispose());
  }

  private uri(path: string): string {
    return `${this.where}${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  private collision(uri: string): LadingError {
    return ladingError('DEST_COLLISION', `${uri} already exists with different content`);
  }

  /** The one exit for errors: foreign ones are classified in errors/classify.ts. */
  private async failure(error: unknown, doing: string, conn: Connection | undefined, deadline?: AbortSignal): Promise<LadingError> {
    if (error instanceof BodyError) return classify(error.reason, { ioCode: 'DEST_WRITE_FAILED', doing });
    if (deadline?.aborted && !(error instanceof LadingError)) {
      this.drop(conn);
      return ladingError('NETWORK_FAILED', `${doing}: not finished within transfer_timeout (${this.config.transfer_timeout} ms); the connection was closed`, { cause: error });
    }
    if (error instanceof LadingError) return error;
    const ctx: ClassifyContext = { ioCode: 'DEST_WRITE_FAILED', doing, secrets: this.secrets };
    // A dying session can answer a request with an error a moment before its connection reports the
    // close: give a pending close the chance to arrive before judging the error on its own.
    if (conn && !conn.closed) await new Promise<void>((resolve) => setTimeout(resolve, 50));
    if (conn?.closed) {
      // The connection died under the operation: whatever surfaced is its consequence, so the failure is
      // a network one (the next operation reconnects) unless the server refused the login.
      const e = conn.error
        ? classify(conn.error, { ...ctx, ssh: { from: 'connection', connectionLost: true } })
        : classify(error, { ...ctx, ssh: { from: 'sftp', connectionLost: true } });
      return e.transient || e.code === 'DEST_AUTH_FAILED' ? e : ladingError('NETWORK_FAILED', `${doing}: the SSH connection was lost (${e.message})`, { cause: error });
    }
    const name = (error as { name?: unknown } | null)?.name;
    if (name === 'AbortError' || name === 'TimeoutError') return classify(error, ctx);
    return classify(error, { ...ctx, ssh: { from: 'sftp', connectionLost: false } });
  }
}
