// What the object-store destinations (s3, gcs) share: object keys under a prefix, content types,
// templated object metadata, and a body reader that hashes what it hands on and refuses to end
// a body whose size or sha256 differs from what was rendered, so a wrong object is never completed.
import { createHash, type Hash } from 'node:crypto';
import { z } from 'zod';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';

/** Tokens an object metadata template can use; the values come from PutOptions.metadata. */
export const metadataTokens = {
  pipeline: 'pipeline name',
  batch_id: 'batch id (the run id for sources without batches)',
  run_id: 'run id',
  records: 'records in this file (empty for sidecars and manifests)',
  sha256: 'sha256 of the file, hex (empty for sidecars and manifests)',
} as const;

/** lading's own metadata key: the sha256 of the object's bytes, so stat() needs no download. */
export const sha256MetadataKey = 'lading-sha256';

const tokenPattern = /\{([a-z_0-9]*)\}/g;

/** `metadata:` of an object-store destination: key → template. */
export const objectMetadataConfig = () =>
  z.record(
    z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'metadata keys: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit')
      .refine((key) => key !== sha256MetadataKey, `"${sha256MetadataKey}" is set by lading itself`),
    z.string().max(1024).superRefine((template, ctx) => {
      for (const match of template.matchAll(tokenPattern)) {
        if (!Object.hasOwn(metadataTokens, match[1]!)) {
          ctx.addIssue({ code: 'custom', message: `unknown token {${match[1]}}; known: ${Object.keys(metadataTokens).map((t) => `{${t}}`).join(' ')}` });
        }
      }
      // S3 sends metadata as HTTP headers: printable ASCII only.
      if (!/^[\x20-\x7e]*$/.test(template)) ctx.addIssue({ code: 'custom', message: 'metadata values must be printable ASCII' });
    }),
  ).default({});

/** Renders each template with the put's facts; a token without a value renders empty. */
export function renderMetadata(templates: Readonly<Record<string, string>>, values: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(templates).map(([key, template]) =>
    [key, template.replace(tokenPattern, (_, token: string) => (Object.hasOwn(values, token) ? values[token]! : ''))]));
}

const contentTypes: Record<string, string> = {
  csv: 'text/csv', tsv: 'text/tab-separated-values', txt: 'text/plain', ndjson: 'application/x-ndjson', jsonl: 'application/x-ndjson',
  json: 'application/json', xml: 'application/xml', gz: 'application/gzip', zip: 'application/zip',
  pgp: 'application/pgp-encrypted', gpg: 'application/pgp-encrypted', asc: 'application/pgp-encrypted', sha256: 'text/plain',
};

/** The content type a name implies by its last extension (`leads.csv.gz` → application/gzip). */
export function contentTypeFor(name: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  return (ext !== undefined && contentTypes[ext]) || 'application/octet-stream';
}

/** A prefix as a folder: no leading "/", one trailing "/" (empty stays empty). */
export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

export interface HeadChunks {
  readonly chunks: Buffer[];
  /** True when the whole body fitted: its size and sha256 are known. */
  readonly complete: boolean;
}

/**
 * Pulls a put's body one chunk at a time, counting and hashing it (sha256, and md5 / crc32c when
 * asked). When the body ends with a size or sha256 other than `expected`, the read fails with
 * DEST_VERIFY_MISMATCH instead of ending, so the upload is abandoned before the object exists.
 * A failure of the body itself (the rendered file could not be read) is kept in `failure`.
 */
export class BodyReader {
  bytes = 0;
  /** Set when the body's own iterator threw. */
  failure: unknown;
  /** Set when the bytes differ from `expected`. */
  mismatch: LadingError | undefined;
  /** md5 of the whole body, base64 (as GCS reports md5Hash); only with `md5: true`, once ended. */
  md5Base64: string | undefined;
  private readonly sha = createHash('sha256');
  private readonly md5Hash: Hash | undefined;
  private sha256Hex: string | undefined;
  /** The body reached its end (successfully or not). */
  private ended = false;
  /** The body was released before its end: reading on must never look like an end. */
  private abandoned = false;
  private readonly iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;

  constructor(
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    private readonly signal: AbortSignal,
    private readonly expected: { readonly bytes: number; readonly sha256: string } | undefined,
    private readonly where: string,
    private readonly extra: { readonly md5?: boolean; readonly onChunk?: (chunk: Buffer) => void } = {},
  ) {
    this.iterator = Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : body[Symbol.iterator]();
    this.md5Hash = extra.md5 ? createHash('md5') : undefined;
  }

  /** sha256 of the whole body, hex; only once it has ended. */
  get sha256(): string {
    if (this.sha256Hex === undefined) throw new Error('BodyReader: the body has not ended');
    return this.sha256Hex;
  }

  /** Reads until at least `limit` bytes are held or the body ends. */
  async head(limit: number): Promise<HeadChunks> {
    const chunks: Buffer[] = [];
    let held = 0;
    while (held < limit) {
      const chunk = await this.pull();
      if (chunk === undefined) return { chunks, complete: true };
      chunks.push(chunk);
      held += chunk.byteLength;
    }
    return { chunks, complete: false };
  }

  /** The head's chunks, then the rest of the body; closes the body if the consumer stops early. */
  async *stream(head: readonly Buffer[] = []): AsyncGenerator<Buffer> {
    try {
      yield* head;
      for (;;) {
        const chunk = await this.pull();
        if (chunk === undefined) return;
        yield chunk;
      }
    } finally {
      await this.close();
    }
  }

  /** Releases the body (closes a file stream) when it will not be read to the end. */
  async close(): Promise<void> {
    if (this.ended || this.abandoned) return;
    this.abandoned = true;
    try {
      await this.iterator.return?.();
    } catch {
      // The body is abandoned either way.
    }
  }

  private async pull(): Promise<Buffer | undefined> {
    if (this.abandoned) throw new Error(`${this.where}: the body was released before its end`);
    if (this.mismatch) throw this.mismatch;
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) return undefined;
    this.signal.throwIfAborted();
    let result: IteratorResult<Uint8Array>;
    try {
      result = await this.iterator.next();
    } catch (error) {
      this.failure = error;
      this.ended = true;
      throw error;
    }
    if (result.done) {
      this.ended = true;
      this.sha256Hex = this.sha.digest('hex');
      if (this.md5Hash) this.md5Base64 = this.md5Hash.digest('base64');
      const e = this.expected;
      if (e && (this.bytes !== e.bytes || this.sha256Hex !== e.sha256)) {
        throw this.refuse(`the body has ${this.bytes} bytes sha256 ${this.sha256Hex}`);
      }
      return undefined;
    }
    const value = result.value;
    const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    this.bytes += chunk.byteLength;
    this.sha.update(chunk);
    this.md5Hash?.update(chunk);
    this.extra.onChunk?.(chunk);
    if (this.expected && this.bytes > this.expected.bytes) {
      await this.close();
      throw this.refuse(`the body has more than ${this.expected.bytes} bytes`);
    }
    return chunk;
  }

  private refuse(found: string): LadingError {
    this.mismatch = ladingError('DEST_VERIFY_MISMATCH',
      `${this.where}: ${found}, expected ${this.expected!.bytes} bytes sha256 ${this.expected!.sha256}; the upload was abandoned before the object was created`);
    return this.mismatch;
  }
}

/**
 * Why an object upload failed when the cause is on lading's side, before the store's own error is
 * looked at: the bytes did not match what was rendered, the run was cancelled, or reading the body
 * failed. Undefined when the store itself refused or broke (the destination classifies that).
 */
export async function uploadFailure(reader: BodyReader, signal: AbortSignal, uri: string): Promise<LadingError | undefined> {
  await reader.close();
  if (reader.mismatch) return reader.mismatch;
  if (signal.aborted) return classify(signal.reason, { ioCode: 'DEST_WRITE_FAILED', doing: `uploading ${uri}` });
  if (reader.failure !== undefined) return classify(reader.failure, { ioCode: 'DEST_WRITE_FAILED', doing: `reading the file for ${uri}` });
  return undefined;
}
