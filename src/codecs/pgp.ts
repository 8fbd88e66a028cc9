import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import type * as openpgp from 'openpgp';
import { z } from 'zod';
import { secret } from '../config/units.js';
import { defineCodec } from '../core/component.js';
import type { ErrorCode } from '../errors/codes.js';
import { ConfigError, ladingError } from '../errors/lading-error.js';
import type { Codec, CodecStream } from './types.js';
import { lazy } from '../core/lazy.js';

/** openpgp.js costs ~60 ms and 16 MB to import: loaded when a pgp codec first reads its keys, not with the registry. */
type OpenPgp = typeof import('openpgp');
const loadOpenPgp = lazy(() => import('openpgp'));

/** Where this codec sits in a pipeline: error messages name keys by their full config path. */
const at = 'output.encryption';

const keyFile = () => z.string().min(1);

const recipient = z.object({
  public_key_file: keyFile().optional().describe('Public key file of this recipient (armored or binary), relative to the pipeline file\'s folder.'),
  public_key: secret().optional().describe('Armored public key of this recipient.'),
}).strict().refine((r) => (r.public_key_file === undefined) !== (r.public_key === undefined), {
  message: 'give exactly one of public_key_file or public_key',
});

export const pgpConfig = z.object({
  type: z.literal('pgp'),
  public_key_file: keyFile().optional()
    .describe('Recipient public key file (armored `.asc` or binary `.gpg`), relative to the pipeline file\'s folder. One key per file.'),
  public_key: secret().optional().describe('Recipient public key as armored text, usually from an environment variable.'),
  recipients: z.array(recipient).min(1).optional()
    .describe('Further recipients, each `{public_key_file}` or `{public_key}`. The file is encrypted to every key given here and above; any one of them can decrypt it.'),
  sign: z.object({
    private_key_file: keyFile().optional().describe('Your private (secret) key file, armored or binary, relative to the pipeline file\'s folder.'),
    private_key: secret().optional().describe('Your armored private key.'),
    passphrase: secret().optional().describe('Passphrase of the private key, when it has one.'),
  }).strict().refine((s) => (s.private_key_file === undefined) !== (s.private_key === undefined), {
    message: 'give exactly one of private_key_file or private_key',
  }).optional().describe('Also sign the file, so the partner can check it comes from you (gpg shows "Good signature").'),
  armor: z.boolean().default(false)
    .describe('ASCII-armored output (`-----BEGIN PGP MESSAGE-----`, extension `asc`, a third larger) instead of binary (extension `pgp`).'),
}).strict().superRefine((config, ctx) => {
  if (config.public_key_file === undefined && config.public_key === undefined && config.recipients === undefined) {
    ctx.addIssue({ code: 'custom', message: 'needs a recipient: public_key_file, public_key or recipients' });
  }
}).meta({ id: 'codec.pgp' });

export type PgpConfig = z.output<typeof pgpConfig>;

// ---------------------------------------------------------------------------------------------
// Size bound. Split by max_bytes needs, at every point, an upper bound of what the encrypted
// file will still grow by. OpenPGP cannot flush, so the bound is computed from a worst-case
// size f(n) of a whole message of n input bytes, as openpgp.js 6 writes it:
//
//   [PKESK per recipient] [SEIPD: [OPS per signer] [literal: 6 + n] [signature per signer] MDC|tags]
//
// - Streamed packets (literal, SEIPD) are written with partial body lengths: a tag byte, one
//   length byte per chunk of at least 512 bytes, and a final length of at most 5 bytes, so a
//   body of b bytes takes at most b + 6 + floor(b / 512) bytes.
// - SEIPD v1 adds 1 (version) + block size + 2 (prefix) + 22 (MDC) ≤ 41 bytes; SEIPD v2 adds
//   36 (version, algorithms, chunk size, salt) + a 16-byte tag per chunk of 2^(12+6) bytes and
//   a final tag: ≤ 36 + 16 · (floor(b / chunk) + 2). The bound takes the larger, v2.
// - A PKESK is at most 6 (header) + 36 (v6 fields; v3 needs 10) + the encrypted session key,
//   sized from the recipient's key: an MPI of the modulus size for RSA, the ephemeral point
//   plus a 48-byte wrapped key for ECDH, 74 / 98 bytes for X25519 / X448. (openpgp.js 6
//   refuses ElGamal and DSA keys as too weak; prepare() reports them.)
// - Per signer: a one-pass signature packet (≤ 72) and a signature packet: 6 (header) + 168
//   (version, algorithms, v6 salt, subpacket lengths, creation time, issuer key id and
//   fingerprint, the 70-byte salt notation openpgp.js adds to v4 signatures, hash prefix) +
//   the signature MPIs, sized from the signing key (RSA modulus, two ECDSA scalars of the
//   curve's size, 64 / 114 bytes for Ed25519 / Ed448).
// - Armor: 28 + 1 (BEGIN line, blank line), base64 in 60-character lines, "=" + CRC24 line
//   (6), END line (26): at most 65 + ceil(61 · b / 45) for b binary bytes.
// Every step is non-decreasing and grows by at least one byte per input byte, so
// f(in + pending) − out bounds what is still to come even for bytes in flight.
// prepare() encrypts an empty message and checks the real size against f(0).
// ---------------------------------------------------------------------------------------------

const aeadChunkSizeByte = 12;
const aeadChunk = 2 ** (aeadChunkSizeByte + 6);
const pkeskFixed = 6 + 36;
const wrappedSessionKey = 48;
const onePassSignature = 72;
const signatureFixed = 6 + 168;

/** What the keys add to a message, whatever its length: session key packets and signatures. */
export interface PgpOverhead {
  readonly recipients: number;
  readonly signers: number;
}

const streamedPacket = (body: number) => body + 6 + Math.floor(body / 512);

/** Worst-case size of the binary OpenPGP message for `input` plaintext bytes. */
export function pgpBinaryBound(input: number, overhead: PgpOverhead): number {
  const literal = streamedPacket(input + 6);
  const inner = overhead.signers + literal;
  const encrypted = inner + 36 + 16 * (Math.floor(inner / aeadChunk) + 2);
  return overhead.recipients + streamedPacket(encrypted);
}

/** Worst-case size of `binary` bytes once ASCII-armored. */
export function armoredBound(binary: number): number {
  return 65 + Math.ceil((61 * binary) / 45);
}

export function pgpSizeBound(input: number, overhead: PgpOverhead, armor: boolean): number {
  const binary = pgpBinaryBound(input, overhead);
  return armor ? armoredBound(binary) : binary;
}

const mpi = (bytes: number) => 2 + bytes;
const params = (packet: { publicParams: object }) => packet.publicParams as Record<string, Uint8Array | undefined>;
const bits = (packet: { getAlgorithmInfo(): openpgp.AlgorithmInfo }) => Math.ceil((packet.getAlgorithmInfo().bits ?? 0) / 8);

/** Largest encrypted session key for this encryption (sub)key; undefined for an algorithm we cannot bound. */
function sessionKeyBytes(packet: openpgp.Key['keyPacket'] | openpgp.Subkey['keyPacket'], lib: OpenPgp): number | undefined {
  const alg = lib.enums.publicKey;
  switch (packet.algorithm) {
    case alg.rsaEncryptSign: case alg.rsaEncrypt: return mpi(bits(packet));
    case alg.ecdh: return mpi(params(packet).Q?.length ?? 133) + 1 + wrappedSessionKey;
    case alg.x25519: return 32 + 1 + 1 + 40;
    case alg.x448: return 56 + 1 + 1 + 40;
    default: return undefined;
  }
}

/** Largest signature MPIs for this signing (sub)key; undefined for an algorithm we cannot bound. */
function signatureBytes(packet: openpgp.Key['keyPacket'] | openpgp.Subkey['keyPacket'], lib: OpenPgp): number | undefined {
  const alg = lib.enums.publicKey;
  switch (packet.algorithm) {
    case alg.rsaEncryptSign: case alg.rsaSign: return mpi(bits(packet));
    case alg.ecdsa: return 2 * mpi(Math.ceil(((params(packet).Q?.length ?? 133) - 1) / 2));
    case alg.eddsaLegacy: return 2 * mpi(32);
    case alg.ed25519: return 64;
    case alg.ed448: return 114;
    default: return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys: read and checked in prepare(), so `lading validate` and the start of a run report them.
// ---------------------------------------------------------------------------------------------

/** The openpgp.js settings the size bound relies on; the data is already compressed upstream. */
const openpgpConfig = (lib: OpenPgp) => ({
  preferredCompressionAlgorithm: lib.enums.compression.uncompressed,
  aeadChunkSizeByte,
  showVersion: false,
  showComment: false,
}) satisfies openpgp.PartialConfig;

interface KeySource {
  /** Config path, for messages: `output.encryption.recipients[1].public_key_file`. */
  readonly path: string;
  readonly file?: string;
  readonly text?: string;
}

interface LoadedKeys {
  readonly lib: OpenPgp;
  readonly encryptionKeys: readonly openpgp.PublicKey[];
  readonly signingKeys: readonly openpgp.PrivateKey[];
  readonly overhead: PgpOverhead;
}

function keyError(path: string, message: string, cause?: unknown, code: ErrorCode = 'CONFIG_KEY_INVALID'): ConfigError {
  return new ConfigError(code, `${path}: ${message}`, {
    field: path,
    issues: [{ code, path, message }],
    ...(cause === undefined ? {} : { cause }),
  });
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

function describe(key: openpgp.Key): string {
  const user = key.getUserIDs()[0];
  return `key ${key.getFingerprint().toUpperCase()}${user ? ` (${user})` : ''}`;
}

function recipientSources(config: PgpConfig): KeySource[] {
  const sources: KeySource[] = [];
  if (config.public_key_file !== undefined) sources.push({ path: `${at}.public_key_file`, file: config.public_key_file });
  if (config.public_key !== undefined) sources.push({ path: `${at}.public_key`, text: config.public_key });
  for (const [i, r] of (config.recipients ?? []).entries()) {
    sources.push(r.public_key_file !== undefined
      ? { path: `${at}.recipients[${i}].public_key_file`, file: r.public_key_file }
      : { path: `${at}.recipients[${i}].public_key`, text: r.public_key! });
  }
  return sources;
}

/** Reads exactly one key, armored or binary, from a file or from text. */
async function readOneKey(source: KeySource, baseDir: string, lib: OpenPgp): Promise<openpgp.Key> {
  let data: Uint8Array | string;
  const label = source.file !== undefined ? `"${source.file}"` : 'the key text';
  if (source.file !== undefined) {
    try {
      data = await readFile(resolve(baseDir, source.file));
    } catch (error) {
      throw keyError(source.path, `cannot read key file "${source.file}" (${(error as NodeJS.ErrnoException).code ?? reason(error)})`, error);
    }
  } else {
    data = source.text!;
  }
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  let keys: openpgp.Key[];
  try {
    if (text.includes('-----BEGIN PGP')) keys = await lib.readKeys({ armoredKeys: text });
    else if (typeof data !== 'string') keys = await lib.readKeys({ binaryKeys: data });
    else throw new Error('expected armored text starting with -----BEGIN PGP PUBLIC KEY BLOCK-----');
  } catch (error) {
    throw keyError(source.path, `${label} is not an OpenPGP key: ${reason(error)}`, error);
  }
  if (keys.length !== 1) {
    throw keyError(source.path, `${label} holds ${keys.length} keys; give one key here and list the others under ${at}.recipients`);
  }
  return keys[0]!;
}

/** Revoked, expired or otherwise invalid primary key: a message naming the key and why. */
async function checkValid(key: openpgp.Key, path: string, now: Date): Promise<void> {
  if (await key.isRevoked(undefined, undefined, now).catch(() => false)) {
    throw keyError(path, `${describe(key)} is revoked`);
  }
  const expires = await key.getExpirationTime().catch(() => null);
  if (expires instanceof Date && expires.getTime() <= now.getTime()) {
    throw keyError(path, `${describe(key)} expired on ${expires.toISOString()}`);
  }
  try {
    await key.verifyPrimaryKey(now);
  } catch (error) {
    throw keyError(path, `${describe(key)} is not valid: ${reason(error)}`, error);
  }
}

async function loadRecipient(source: KeySource, baseDir: string, now: Date, lib: OpenPgp): Promise<{ key: openpgp.PublicKey; bytes: number }> {
  const key = await readOneKey(source, baseDir, lib);
  if (key.isPrivate()) {
    throw keyError(source.path, `${describe(key)} is a private (secret) key; give the recipient's public key (gpg --armor --export <id>) and keep secret keys out of pipelines`);
  }
  await checkValid(key, source.path, now);
  let subkey;
  try {
    subkey = await key.getEncryptionKey(undefined, now);
  } catch (error) {
    throw keyError(source.path, `${describe(key)} has no usable encryption subkey (sign-only, expired, revoked or too weak): ${reason(error)}`, error);
  }
  const bytes = sessionKeyBytes(subkey.keyPacket, lib);
  if (bytes === undefined) {
    throw keyError(source.path, `${describe(key)} uses public-key algorithm ${subkey.getAlgorithmInfo().algorithm}, which lading cannot encrypt to`);
  }
  return { key: key as openpgp.PublicKey, bytes: pkeskFixed + bytes };
}

async function loadSigner(sign: NonNullable<PgpConfig['sign']>, baseDir: string, now: Date, lib: OpenPgp): Promise<{ key: openpgp.PrivateKey; bytes: number }> {
  const source: KeySource = sign.private_key_file !== undefined
    ? { path: `${at}.sign.private_key_file`, file: sign.private_key_file }
    : { path: `${at}.sign.private_key`, text: sign.private_key! };
  const read = await readOneKey(source, baseDir, lib);
  if (!read.isPrivate()) {
    throw keyError(source.path, `${describe(read)} is a public key; signing needs your private key (gpg --armor --export-secret-keys <id>)`);
  }
  let key = read as openpgp.PrivateKey;
  if (!key.isDecrypted()) {
    if (sign.passphrase === undefined) {
      throw keyError(`${at}.sign.passphrase`, `${describe(key)} is protected by a passphrase; set ${at}.sign.passphrase (write \${env:NAME})`);
    }
    try {
      key = await lib.decryptKey({ privateKey: key, passphrase: sign.passphrase });
    } catch (error) {
      throw keyError(`${at}.sign.passphrase`, `does not unlock ${describe(key)} (wrong passphrase?): ${reason(error)}`, error);
    }
  }
  await checkValid(key, source.path, now);
  let subkey;
  try {
    subkey = await key.getSigningKey(undefined, now);
  } catch (error) {
    throw keyError(source.path, `${describe(key)} has no usable signing key (expired, revoked or too weak): ${reason(error)}`, error);
  }
  const bytes = signatureBytes(subkey.keyPacket, lib);
  if (bytes === undefined) {
    throw keyError(source.path, `${describe(key)} uses public-key algorithm ${subkey.getAlgorithmInfo().algorithm}, which lading cannot sign with`);
  }
  return { key, bytes: onePassSignature + signatureFixed + bytes };
}

async function loadKeys(config: PgpConfig, baseDir: string, signal: AbortSignal): Promise<LoadedKeys> {
  // Key validity is a property of the real world (the partner's gpg checks it today), so it is
  // checked against the wall clock, not the run's injected clock.
  const now = new Date();
  const lib = await loadOpenPgp();
  const recipients = [];
  for (const source of recipientSources(config)) {
    signal.throwIfAborted();
    recipients.push(await loadRecipient(source, baseDir, now, lib));
  }
  signal.throwIfAborted();
  const signer = config.sign ? await loadSigner(config.sign, baseDir, now, lib) : undefined;
  const keys: LoadedKeys = {
    lib,
    encryptionKeys: recipients.map((r) => r.key),
    signingKeys: signer ? [signer.key] : [],
    overhead: { recipients: recipients.reduce((n, r) => n + r.bytes, 0), signers: signer?.bytes ?? 0 },
  };
  signal.throwIfAborted();
  // One real encryption of nothing: surfaces any other key problem now rather than mid-run,
  // and checks the size bound's fixed part against what openpgp.js actually writes.
  let trial: Uint8Array;
  try {
    trial = await lib.encrypt({
      message: await lib.createMessage({ binary: new Uint8Array(0) }),
      encryptionKeys: [...keys.encryptionKeys], signingKeys: [...keys.signingKeys], format: 'binary', config: openpgpConfig(lib),
    });
  } catch (error) {
    throw keyError(at, `cannot encrypt with the configured keys: ${reason(error)}`, error);
  }
  if (trial.byteLength > pgpBinaryBound(0, keys.overhead)) {
    throw ladingError('CODEC_FAILED', `pgp: an empty message takes ${trial.byteLength} bytes, more than the size bound allows (${pgpBinaryBound(0, keys.overhead)}); output.split.max_bytes could be exceeded with these keys — please report this`);
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// The stream: a Node Transform in front of openpgp.js's Web Streams.
// ---------------------------------------------------------------------------------------------

/**
 * Bytes written to this Transform are enqueued into a Web ReadableStream that openpgp.js reads
 * (one chunk queued at most: the write callback waits until openpgp.js pulls, so the writer
 * sees backpressure); the encrypted Web stream openpgp.js returns is read in a loop and pushed
 * out, pausing while the readable side is full. Nothing holds the whole file.
 */
class PgpStream extends Transform {
  /** Input bytes handed to openpgp.js. */
  taken = 0;
  /** Output bytes pushed out of this stream. */
  emitted = 0;
  /** Size of the chunk whose write callback waits for openpgp.js to pull. */
  private held = 0;
  private heldCallback: (() => void) | undefined;
  private resumeOutput: (() => void) | undefined;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private reader: { cancel(reason?: unknown): Promise<void> } | undefined;
  private readonly done: Promise<void>;

  constructor(keys: LoadedKeys, armor: boolean) {
    super();
    const input = new ReadableStream<Uint8Array>({
      start: (controller) => { this.controller = controller; },
      pull: () => this.release(),
    }, { highWaterMark: 1 });
    this.done = this.pump(input, keys, armor);
    this.done.catch((error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))));
  }

  /** Bytes written to this stream and not yet handed to openpgp.js. */
  get queued(): number {
    return this.writableLength - this.held;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.taken += chunk.byteLength;
    this.controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if ((this.controller.desiredSize ?? 0) > 0) {
      callback();
      return;
    }
    this.held = chunk.byteLength;
    this.heldCallback = () => {
      this.held = 0;
      callback();
    };
  }

  override _flush(callback: TransformCallback): void {
    this.controller.close();
    this.done.then(() => callback(), (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
  }

  override _read(size: number): void {
    const resume = this.resumeOutput;
    this.resumeOutput = undefined;
    resume?.();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    try {
      this.controller.error(error ?? new Error('pgp stream destroyed'));
    } catch {
      // already closed or errored
    }
    this.reader?.cancel(error ?? undefined).catch(() => {});
    this.release();
    this.resumeOutput?.();
    callback(error);
  }

  private release(): void {
    const callback = this.heldCallback;
    this.heldCallback = undefined;
    callback?.();
  }

  private async pump(input: ReadableStream<Uint8Array>, keys: LoadedKeys, armor: boolean): Promise<void> {
    const { lib } = keys;
    const message = await lib.createMessage({ binary: input });
    const options = { message, encryptionKeys: [...keys.encryptionKeys], signingKeys: [...keys.signingKeys], config: openpgpConfig(lib) };
    const output: ReadableStream<Uint8Array | string> = armor
      ? await lib.encrypt({ ...options, format: 'armored' })
      : await lib.encrypt({ ...options, format: 'binary' });
    const reader = output.getReader();
    this.reader = reader;
    for (;;) {
      const { done, value } = await reader.read();
      if (done || this.destroyed) return;
      // Armored output is ASCII text: one byte per character.
      const chunk = typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (chunk.byteLength === 0) continue;
      this.emitted += chunk.byteLength;
      if (!this.push(chunk)) await new Promise<void>((resume) => { this.resumeOutput = resume; });
    }
  }
}

/** The codec for one output: keys are loaded by prepare(), then each file gets its own stream. */
export class PgpCodec implements Codec {
  readonly extension: string;
  private keys: LoadedKeys | undefined;

  constructor(private readonly config: PgpConfig, private readonly baseDir: string) {
    this.extension = config.armor ? 'asc' : 'pgp';
  }

  async prepare(signal: AbortSignal): Promise<void> {
    this.keys = await loadKeys(this.config, this.baseDir, signal);
  }

  /** Worst-case size of a whole encrypted file holding `bytes` input bytes (after prepare). */
  sizeBound(bytes: number): number {
    return pgpSizeBound(bytes, this.loaded().overhead, this.config.armor);
  }

  create(): CodecStream {
    const keys = this.loaded();
    const armor = this.config.armor;
    const stream = new PgpStream(keys, armor);
    return {
      stream,
      // openpgp.js holds up to a partial-length chunk per packet layer before it emits, so the
      // bytes taken in but not yet out are counted at their worst case until the end.
      bound: (pending) => pgpSizeBound(stream.taken + stream.queued + pending, keys.overhead, armor) - stream.emitted,
      // Cannot flush: OpenPGP has no sync point; the bound above already covers what is held.
      flush: () => Promise.resolve(),
      // Stateless: the size of a whole new file of `bytes` input bytes (bound() depends on this
      // stream's progress, so it must not answer "does a record fit an empty part").
      sizeBound: (bytes) => pgpSizeBound(bytes, keys.overhead, armor),
    };
  }

  private loaded(): LoadedKeys {
    if (!this.keys) {
      throw ladingError('CODEC_FAILED', 'pgp: the keys are not loaded; call prepare() before create() (the file sink does this when it opens)');
    }
    return this.keys;
  }
}

export const pgp = defineCodec({
  type: 'pgp',
  role: 'encryption',
  summary: 'OpenPGP encryption (RFC 4880/9580) to one or more public keys, optionally signed, streamed; output is randomised (a new session key per file).',
  schema: pgpConfig,
  create: (config, ctx) => new PgpCodec(config, ctx.baseDir),
});
