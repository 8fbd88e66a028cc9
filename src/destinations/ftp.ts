import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { Client } from 'basic-ftp';
import { z } from 'zod';
import { defineDestination } from '../core/component.js';
import { duration, secret } from '../config/units.js';
import { classify } from '../errors/classify.js';
import { ladingError } from '../errors/lading-error.js';
import type { Destination, PutOptions, PutReceipt } from './types.js';
import { lazy } from '../core/lazy.js';

/** basic-ftp costs ~25 ms and 12 MB to import: loaded when an ftp destination first connects, not with the registry. */
const loadBasicFtp = lazy(() => import('basic-ftp'));

export const ftpConfig = z.object({
  type: z.literal('ftp'),
  host: z.string().min(1).describe('FTP server host name or IP address.'),
  port: z.union([z.number(), z.string().regex(/^\d+$/, 'expected a port number').transform(Number)])
    .pipe(z.number().int().min(1).max(65535)).default(21)
    .describe('Control connection port: a number, or digits in a string (so `${env:FTP_PORT}` works). Default: 21; implicit FTPS servers usually listen on 990.'),
  username: z.string().min(1).describe('User name to log in with.'),
  password: secret().describe('Password to log in with; never shown in messages.'),
  secure: z.union([z.literal(false), z.enum(['explicit', 'implicit'])]).default(false)
    .describe('FTPS. `false`: plain FTP (password and data travel in clear text). `explicit`: AUTH TLS on the normal port, the usual FTPS. `implicit`: TLS from the first byte (legacy servers, usually port 990). With TLS, data connections are encrypted too (PROT P).'),
  ca_file: z.string().min(1).optional()
    .describe('PEM file with the CA certificate(s) that signed the server\'s certificate, for a private CA or a self-signed certificate; relative paths resolve against the pipeline file\'s folder. Default: Node\'s bundled public CAs.'),
  reject_unauthorized: z.boolean().default(true)
    .describe('Refuse a TLS certificate that cannot be verified (NETWORK_TLS_UNTRUSTED). `false` accepts any certificate and gives up protection against someone in the middle: for tests only.'),
  passive: z.literal(true, { error: 'only passive mode (true) is supported: lading opens every data connection itself (EPSV, then PASV); active mode (PORT) is not available' }).default(true)
    .describe('Passive mode: lading opens the data connections (EPSV, then PASV). Active mode (PORT) is not supported, so `false` is refused.'),
  remote_path: z.string().min(1).default('.')
    .describe('Folder the files land in: absolute (`/incoming/leads`), or relative to the login folder. Default: the login folder.'),
  create_dirs: z.boolean().default(true).describe('Create remote_path (and sub-folders a naming pattern implies) when missing, one MKD per level.'),
  atomic_upload: z.boolean().default(true)
    .describe('Upload as `<name>.tmp`, verify its size, then rename (RNFR/RNTO) to the final name. `false` writes straight to the final name: a partner polling the folder can see a partial file.'),
  timeout: duration().refine((ms) => ms > 0, 'must be more than 0').default(30_000)
    .describe('How long the control or a data connection may stay silent (connect, a reply, upload progress) before the attempt fails as transient. Default: 30s.'),
}).strict().meta({ id: 'destination.ftp' });

export type FtpConfig = z.output<typeof ftpConfig>;

export const ftp = defineDestination({
  type: 'ftp',
  summary: 'An FTP or FTPS server: streamed as <name>.tmp, size verified, then renamed (RNFR/RNTO); passive mode only.',
  schema: ftpConfig,
  create: (config, ctx) => new FtpDestination(config, ctx.baseDir),
});

/** What the body carried on its way to the server, and why it stopped if it broke. */
interface Sent {
  bytes: number;
  readonly hash: ReturnType<typeof createHash>;
  /** Set when the body itself (the rendered file) failed, not the server. */
  failure?: unknown;
}

export class FtpDestination implements Destination {
  readonly type = 'ftp';
  readonly description: string;
  private client: Client | undefined;
  /** The absolute folder files land in, known after the first login. */
  private root: string | undefined;
  private ca: string | undefined;
  /** One FTP session does one thing at a time: calls queue here. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Folders known to exist (entered or made once). */
  private readonly madeDirs = new Set<string>();
  private readonly scheme: string;
  private readonly secrets: string[];

  constructor(private readonly config: FtpConfig, private readonly baseDir: string) {
    this.scheme = config.secure === false ? 'ftp' : 'ftps';
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const folder = config.remote_path === '.' ? '' : config.remote_path;
    this.description = `${this.scheme}://${host}:${config.port}${folder.startsWith('/') ? '' : '/'}${folder}`;
    this.secrets = [config.password];
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    return this.exclusive(() => this.watch(opts.signal, async () => {
      let final = name;
      let target: string | undefined;
      let keep = false;
      const sent: Sent = { bytes: 0, hash: createHash('sha256') };
      try {
        const client = await this.connect();
        final = this.path(name);
        await this.ensureDir(client, posix.dirname(final));
        const existing = await this.remoteSize(client, final);
        if (existing !== null && opts.onCollision !== 'overwrite') return await this.collided(client, final, existing, opts);

        target = this.config.atomic_upload ? `${final}.tmp` : final;
        await client.uploadFrom(Readable.from(counted(body, sent, opts.signal), { objectMode: false }), target);
        const sha256 = sent.hash.digest('hex');
        const stored = await this.remoteSize(client, target);
        const expected = opts.expected;
        if (stored !== sent.bytes || (expected && (sent.bytes !== expected.bytes || sha256 !== expected.sha256))) {
          await client.remove(target, true);
          const want = expected ? `, expected ${expected.bytes} bytes sha256 ${expected.sha256}` : '';
          throw ladingError('DEST_VERIFY_MISMATCH', `${this.uri(target)}: sent ${sent.bytes} bytes sha256 ${sha256}, the server holds ${stored === null ? 'no file' : `${stored} bytes`}${want}`);
        }
        if (target !== final) {
          // From here the delivery may record the verified temp file, to be finished by completePut
          // after a failure or a crash: it is no longer ours to discard.
          keep = true;
          await opts.onUploaded?.(`${name}.tmp`);
          const published = await this.publish(client, target, final, opts);
          if (published) return published;
        }
        return { uri: this.uri(final), bytes: sent.bytes, sha256, attempts: 1, skipped: false };
      } catch (error) {
        if (target !== undefined && !keep && !opts.signal.aborted) await this.discard(target, sent.failure !== undefined);
        const doing = `uploading ${this.uri(final)}`;
        if (sent.failure !== undefined) throw classify(sent.failure, { ioCode: 'DEST_WRITE_FAILED', doing });
        throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing, ftp: true, secrets: this.secrets });
      }
    }));
  }

  /** Size only: a sha256 would mean downloading the file (put does that for skip_if_identical). */
  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    return this.exclusive(async () => {
      try {
        const client = await this.connect();
        const bytes = await this.remoteSize(client, this.path(name));
        return bytes === null ? null : { bytes };
      } catch (error) {
        throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `reading the size of ${this.uri(this.rootOr(name))}`, ftp: true, secrets: this.secrets });
      }
    });
  }

  /**
   * Renames a temp file a crash left between upload and rename. FTP has no checksum command, so
   * only its size is compared with the recorded bytes: the delivery records the temp name only
   * once the upload was verified (size on the server, sha256 of what was sent), and a later
   * attempt rewrites that name only after the record was reset, so a temp file of the recorded
   * size is that verified upload.
   */
  async completePut(name: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<boolean> {
    return this.exclusive(async () => {
      const final = this.rootOr(name);
      try {
        const client = await this.connect();
        const temp = `${this.path(name)}.tmp`;
        if (await this.remoteSize(client, temp) !== expected.bytes) return false;
        await this.publish(client, temp, this.path(name), { onCollision: 'fail', signal: new AbortController().signal, expected });
        return true;
      } catch (error) {
        throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `renaming the left-over ${this.uri(final)}.tmp`, ftp: true, secrets: this.secrets });
      }
    });
  }

  /** Deletes a delivered file (rollback); false when it is not there. */
  async remove(name: string): Promise<boolean> {
    return this.exclusive(async () => {
      const path = this.path(name);
      try {
        const client = await this.connect();
        if (await this.remoteSize(client, path) === null) return false;
        await client.remove(path);
        return true;
      } catch (error) {
        throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `removing ${this.uri(path)}`, ftp: true, secrets: this.secrets });
      }
    });
  }

  /** Connects, logs in, enters (or creates) remote_path, uploads and deletes a probe file. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    return this.exclusive(() => this.watch(signal, async () => {
      try {
        const client = await this.connect();
        const root = this.root!;
        await this.ensureDir(client, root);
        const probe = posix.join(root, `.lading-probe-${randomBytes(6).toString('hex')}`);
        await client.uploadFrom(Readable.from([Buffer.from('lading write probe\n')]), probe);
        await client.remove(probe);
      } catch (error) {
        throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `probing ${this.description} for writes`, ftp: true, secrets: this.secrets });
      }
    }));
  }

  async close(): Promise<void> {
    this.client?.close();
    this.client = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Cancelling closes the session, which ends whatever transfer is under way. */
  private async watch<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    const onAbort = () => this.client?.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await fn();
    } catch (error) {
      if (signal.aborted) throw signal.reason ?? error;
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The open session, checked with NOOP; a new one (connect, TLS, login, binary mode) when it dropped. */
  private async connect(): Promise<Client> {
    // Loaded first: with no session open, the check below and this.client's assignment then run without yielding between them.
    const { Client } = await loadBasicFtp();
    if (this.client && !this.client.closed) {
      try {
        await this.client.send('NOOP');
        return this.client;
      } catch {
        this.client.close();
      }
    }
    const client = new Client(this.config.timeout);
    this.client = client;
    try {
      const { secure } = this.config;
      await client.access({
        host: this.config.host, port: this.config.port, user: this.config.username, password: this.config.password,
        secure: secure === 'explicit' ? true : secure === 'implicit' ? 'implicit' : false,
        ...(secure === false ? {} : { secureOptions: await this.tlsOptions() }),
      });
      this.root ??= posix.resolve(await client.pwd(), this.config.remote_path);
      return client;
    } catch (error) {
      client.close();
      if (this.client === client) this.client = undefined;
      throw error;
    }
  }

  private async tlsOptions(): Promise<ConnectionOptions> {
    const { ca_file: caFile } = this.config;
    if (caFile !== undefined && this.ca === undefined) {
      const path = resolve(this.baseDir, caFile);
      try {
        this.ca = await readFile(path, 'utf8');
      } catch (error) {
        throw ladingError('CONFIG_INVALID', `output.destination.ca_file: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
      }
    }
    return { rejectUnauthorized: this.config.reject_unauthorized, ...(this.ca === undefined ? {} : { ca: this.ca }) };
  }

  private path(name: string): string {
    return posix.join(this.root!, name);
  }

  /** For messages before the first login, when remote_path is not resolved yet. */
  private rootOr(name: string): string {
    return this.root === undefined ? name : this.path(name);
  }

  private uri(path: string): string {
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `${this.scheme}://${host}:${this.config.port}${encoded.startsWith('/') ? '' : '/'}${encoded}`;
  }

  /** Size by SIZE; null when there is no such file (550). Servers without SIZE are asked for a listing instead. */
  private async remoteSize(client: Client, path: string): Promise<number | null> {
    const { FTPError } = await loadBasicFtp();
    try {
      return await client.size(path);
    } catch (error) {
      if (!(error instanceof FTPError)) throw error;
      if (error.code === 550) return null;
      if (error.code !== 500 && error.code !== 502 && error.code !== 504) throw error;
    }
    const entries = await client.list(posix.dirname(path));
    const entry = entries.find((e) => e.name === posix.basename(path) && e.isFile);
    return entry ? entry.size : null;
  }

  private async remoteSha256(client: Client, path: string): Promise<string> {
    const hash = createHash('sha256');
    await client.downloadTo(new Writable({ write(chunk: Buffer, _encoding, done) { hash.update(chunk); done(); } }), path);
    return hash.digest('hex');
  }

  /**
   * cd into the folder, so a missing one is a clear 550 rather than whatever a server does with
   * STOR into nowhere; when it fails and create_dirs is on, MKD each level from the top (errors
   * ignored: it may exist) and cd again.
   */
  private async ensureDir(client: Client, dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    const { FTPError } = await loadBasicFtp();
    try {
      await client.cd(dir);
    } catch (error) {
      if (!(error instanceof FTPError) || !this.config.create_dirs) throw error;
      const parts = dir.split('/').filter((p) => p !== '');
      for (let i = 1; i <= parts.length; i++) await client.sendIgnoringError(`MKD /${parts.slice(0, i).join('/')}`);
      await client.cd(dir);
    }
    this.madeDirs.add(dir);
  }

  /** A file of that name is already there: skip it when it is provably the same bytes, else DEST_COLLISION. */
  private async collided(client: Client, final: string, bytes: number, opts: PutOptions): Promise<PutReceipt> {
    const { expected } = opts;
    if (opts.onCollision === 'skip_if_identical' && expected && bytes === expected.bytes && await this.remoteSha256(client, final) === expected.sha256) {
      return { uri: this.uri(final), bytes, sha256: expected.sha256, attempts: 1, skipped: true };
    }
    throw ladingError('DEST_COLLISION', `${this.uri(final)} already exists with different content`);
  }

  /**
   * Renames the verified temp file to its final name. Without overwrite, SIZE first checks that no
   * one put a file there meanwhile; FTP has no rename that refuses an existing target, so a file
   * arriving between that SIZE and RNTO would still be replaced (a window of one round trip).
   * Returns a receipt when the put ends without a rename (an identical file appeared).
   */
  private async publish(client: Client, temp: string, final: string, opts: PutOptions): Promise<PutReceipt | undefined> {
    if (opts.onCollision !== 'overwrite') {
      const appeared = await this.remoteSize(client, final);
      if (appeared !== null) {
        await client.remove(temp, true);
        return await this.collided(client, final, appeared, opts);
      }
    }
    const { FTPError } = await loadBasicFtp();
    try {
      await client.rename(temp, final);
    } catch (error) {
      // Some servers (IIS) refuse RNTO onto an existing file: with overwrite, delete it and rename again.
      if (!(opts.onCollision === 'overwrite' && error instanceof FTPError && error.code >= 550 && await this.remoteSize(client, final) !== null)) throw error;
      await client.remove(final);
      await client.rename(temp, final);
    }
    return undefined;
  }

  /**
   * Best effort: removes what a failed upload left. When the body broke, basic-ftp closed the
   * session, so one new session is opened for it; when the server failed, nothing more is tried.
   */
  private async discard(path: string, reconnect: boolean): Promise<void> {
    try {
      const client = this.client && !this.client.closed ? this.client : reconnect ? await this.connect() : undefined;
      await client?.remove(path, true);
    } catch {
      // the next attempt overwrites it
    }
  }
}

/** The body as a byte stream, counted and hashed as it goes to the server. */
async function* counted(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sent: Sent, signal: AbortSignal): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) {
      signal.throwIfAborted();
      sent.hash.update(chunk);
      sent.bytes += chunk.byteLength;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } catch (error) {
    sent.failure = error;
    throw error;
  }
}
