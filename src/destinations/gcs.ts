import { createHash, randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, CreateWriteStreamOptions, File, FileMetadata, Storage } from '@google-cloud/storage';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { defineDestination } from '../core/component.js';
import { byteSize } from '../config/units.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { BodyReader, uploadFailure, contentTypeFor, normalizePrefix, objectMetadataConfig, renderMetadata, sha256MetadataKey } from './object-store.js';
import type { Destination, PutOptions, PutReceipt, SignedUrl } from './types.js';
import { lazy } from '../core/lazy.js';

/** The GCS client costs ~135 ms to import: loaded when a gcs destination first connects, not with the registry. */
const loadSdk = lazy(() => import('@google-cloud/storage'));

const MiB = 1024 * 1024;

export const gcsConfig = z.object({
  type: z.literal('gcs'),
  bucket: z.string().min(3).max(222).regex(/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/, 'a GCS bucket name: lower-case letters, digits, ".", "_" and "-"')
    .describe('Bucket the files land in.'),
  prefix: z.string().optional()
    .describe('Object name prefix, used as a folder: `incoming/leads` puts `leads.csv` at `incoming/leads/leads.csv`. Default: the bucket root.'),
  key_file: z.string().min(1).optional()
    .describe('Service account key (JSON) to authenticate with; relative paths resolve against the pipeline file\'s folder. Default: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud login, the metadata server).'),
  project_id: z.string().min(1).optional().describe('Google Cloud project id. Default: the key file\'s or the environment\'s.'),
  api_endpoint: z.url().optional()
    .describe('JSON API endpoint of an emulator or a private endpoint: `http://127.0.0.1:4443`. With an endpoint other than Google\'s, requests are sent without credentials unless key_file is set. Default: https://storage.googleapis.com.'),
  content_type: z.string().min(1).optional()
    .describe('Content-Type of the objects. Default: from the name\'s last extension (text/csv, application/gzip, application/x-ndjson, …).'),
  metadata: objectMetadataConfig()
    .describe('Custom metadata on each object: key → template with {pipeline} {batch_id} {run_id} {records} {sha256}. lading also sets lading-sha256.'),
  resumable_threshold: byteSize().default(8 * MiB)
    .describe('Files larger than this stream through a resumable upload (a session, then the bytes); smaller ones are read into memory and sent in one multipart request. Default 8MiB.'),
}).strict().meta({ id: 'destination.gcs' });

export type GcsConfig = z.output<typeof gcsConfig>;

export const gcs = defineDestination({
  type: 'gcs',
  summary: 'A Google Cloud Storage bucket: streamed, created only when the upload completes, no-clobber by ifGenerationMatch=0, size, md5 and crc32c verified.',
  schema: gcsConfig,
  create: (config, ctx) => new GcsDestination(config, ctx.baseDir, ctx.clock),
});

interface Stored {
  readonly bytes: number;
  readonly sha256: string | undefined;
  readonly generation: string | undefined;
}

/**
 * Files as objects in a GCS bucket. An upload creates the object only when its last request
 * completes, so a lister never sees a partial object. Without overwrite, uploads carry
 * ifGenerationMatch=0: GCS refuses (412) if the name exists when the upload completes, so two
 * writers cannot both create it. After the upload, the size, md5Hash and crc32c GCS reports are
 * checked against what was sent; the object is deleted (only that generation) when they differ.
 */
export class GcsDestination implements Destination {
  readonly type = 'gcs';
  readonly description: string;
  private readonly prefix: string;
  private storage: Storage | undefined;

  constructor(private readonly config: GcsConfig, private readonly baseDir: string, private readonly clock: Clock = systemClock) {
    this.prefix = normalizePrefix(config.prefix);
    this.description = `gs://${config.bucket}/${this.prefix}`;
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    const key = this.key(name);
    const uri = this.uri(key);
    const crc = new (await loadSdk()).CRC32C();
    const reader = new BodyReader(body, opts.signal, opts.expected, uri, { md5: true, onChunk: (chunk) => crc.update(chunk) });
    try {
      const bucket = await this.bucket();
      if (opts.onCollision !== 'overwrite') {
        const existing = await this.head(bucket, key);
        if (existing) {
          await reader.close();
          return await this.collided(bucket, key, existing, opts);
        }
      }
      // A body below resumable_threshold is read whole first (that much memory at most): its size
      // and sha256 are then known, and one multipart request carries it. A larger one streams
      // through a resumable upload whose session is created first.
      const head = await reader.head(this.config.resumable_threshold);
      const sha256 = head.complete ? reader.sha256 : opts.expected?.sha256;
      const metadata = renderMetadata(this.config.metadata, opts.metadata);
      if (sha256 !== undefined) metadata[sha256MetadataKey] = sha256;
      const file = bucket.file(key);
      const options = {
        validation: false, // checked below, against this upload's own hashes
        metadata: { contentType: this.config.content_type ?? contentTypeFor(name), metadata },
        ...(opts.onCollision === 'overwrite' ? {} : { preconditionOpts: { ifGenerationMatch: 0 } }),
      } satisfies CreateWriteStreamOptions;
      if (head.complete) {
        opts.signal.throwIfAborted();
        await file.save(Buffer.concat(head.chunks), { ...options, resumable: false });
      } else {
        await this.resumable(file, reader, head.chunks, options, opts);
      }
      await this.verify(file, reader, crc.toString());
      return { uri, bytes: reader.bytes, sha256: reader.sha256, attempts: 1, skipped: false };
    } catch (error) {
      const ours = await uploadFailure(reader, opts.signal, uri);
      if (ours) throw ours;
      const e = this.classify(error, `uploading ${uri}`);
      // 412 to ifGenerationMatch=0: someone created the name while this upload ran.
      if (e.code === 'DEST_COLLISION' && opts.onCollision === 'skip_if_identical' && this.storage) {
        const bucket = await this.bucket();
        const existing = await this.head(bucket, key);
        if (existing) return this.collided(bucket, key, existing, opts);
      }
      throw e;
    }
  }

  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    const stored = await this.head(await this.bucket(), this.key(name));
    if (!stored) return null;
    return stored.sha256 === undefined ? { bytes: stored.bytes } : { bytes: stored.bytes, sha256: stored.sha256 };
  }

  /** Deletes a delivered object (rollback); false when it is not there. */
  async remove(name: string): Promise<boolean> {
    const key = this.key(name);
    const bucket = await this.bucket();
    if (!(await this.head(bucket, key))) return false;
    try {
      await bucket.file(key).delete();
      return true;
    } catch (error) {
      const e = this.classify(error, `removing ${this.uri(key)}`);
      if (e.code === 'DEST_NOT_FOUND') return false;
      throw e;
    }
  }

  /**
   * A V4 signed URL, signed locally with a service account's private key. Without one there is
   * nothing to sign with: an emulator endpoint gets no credentials at all, and Application Default
   * Credentials of a user login or the metadata server carry no key (signing would need the IAM
   * signBlob API and a role this destination does not ask for).
   */
  async signedUrl(name: string, ttlMs: number): Promise<SignedUrl> {
    const key = this.key(name);
    const uri = this.uri(key);
    if (this.config.key_file === undefined && this.config.api_endpoint !== undefined) {
      throw ladingError('API_ARTIFACT_UNSIGNABLE', `${uri}: the destination sends no credentials to ${this.config.api_endpoint} (no key_file), so it cannot sign a link`);
    }
    const bucket = await this.bucket();
    const credentials = await this.storage!.authClient.getCredentials().catch((error: unknown) => {
      throw ladingError('API_ARTIFACT_UNSIGNABLE', `${uri}: no Google credentials could be loaded to sign a link with`, { cause: error });
    });
    if (credentials.private_key === undefined || credentials.client_email === undefined) {
      throw ladingError('API_ARTIFACT_UNSIGNABLE', `${uri}: the Application Default Credentials hold no service account private key to sign a link with; set key_file`);
    }
    const accessibleAt = this.clock.now();
    const expires = new Date(accessibleAt.getTime() + Math.ceil(ttlMs / 1000) * 1000);
    try {
      const [url] = await bucket.file(key).getSignedUrl({ version: 'v4', action: 'read', accessibleAt, expires });
      return { url, expiresAt: expires };
    } catch (error) {
      throw this.classify(error, `signing a link to ${uri}`);
    }
  }

  /** Creates (ifGenerationMatch=0) and deletes a probe object under the prefix: needs only the rights a delivery needs. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    const probe = this.key(`.lading-probe-${randomBytes(6).toString('hex')}`);
    try {
      signal.throwIfAborted();
      const file = (await this.bucket()).file(probe);
      await file.save(Buffer.from('lading write probe\n'), { resumable: false, validation: false, contentType: 'text/plain', preconditionOpts: { ifGenerationMatch: 0 } });
      signal.throwIfAborted();
      await file.delete({ ifGenerationMatch: file.metadata.generation! });
    } catch (error) {
      throw this.classify(error, `probing ${this.description} for writes`);
    }
  }

  async close(): Promise<void> {
    this.storage = undefined;
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  private uri(key: string): string {
    return `gs://${this.config.bucket}/${key}`;
  }

  private classify(error: unknown, doing: string): LadingError {
    return classify(error, { ioCode: 'DEST_WRITE_FAILED', doing, objectStore: 'gcs' });
  }

  /** The client, made on first use; a key_file that is missing fails here, clearly. */
  private async bucket(): Promise<Bucket> {
    if (!this.storage) {
      const keyFile = this.config.key_file === undefined ? undefined : resolve(this.baseDir, this.config.key_file);
      if (keyFile !== undefined) {
        try {
          await access(keyFile);
        } catch {
          throw ladingError('CONFIG_INVALID', `destination.key_file: ${keyFile} cannot be read`);
        }
      }
      const { Storage: StorageClient } = await loadSdk();
      this.storage = new StorageClient({
        ...(keyFile === undefined ? {} : { keyFilename: keyFile, useAuthWithCustomEndpoint: true }),
        ...(this.config.project_id === undefined ? {} : { projectId: this.config.project_id }),
        ...(this.config.api_endpoint === undefined ? {} : { apiEndpoint: this.config.api_endpoint.replace(/\/+$/, '') }),
        // The engine retries deliveries (delivery.retry) with the same staged bytes; a streamed
        // upload cannot be replayed by the client anyway.
        retryOptions: { autoRetry: false },
      });
    }
    return this.storage.bucket(this.config.bucket);
  }

  /**
   * A resumable upload streamed from the body, with the total size declared when it is known. The
   * client library does not end or abort its request when the body fails part way (it waits for
   * more bytes), so the upload's requests go through an agent of their own that is destroyed on
   * failure: the server sees a cut-off request, and the object is never created. Behind an HTTP
   * proxy (HTTPS_PROXY and friends) the library's proxy agent is kept instead.
   */
  private async resumable(file: File, reader: BodyReader, head: Buffer[], options: CreateWriteStreamOptions, opts: PutOptions): Promise<void> {
    const size = opts.expected?.bytes;
    const proxied = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => process.env[name]);
    const agent = proxied ? undefined : (this.config.api_endpoint?.startsWith('http:') ? new HttpAgent() : new HttpsAgent());
    // The interceptor's option types do not declare `agent`; gaxios, which makes the resumable upload's requests, reads it.
    type Interceptor = File['interceptors'][number];
    if (agent) file.interceptors.push({ request: (reqOpts) => Object.assign(reqOpts, { agent }) as unknown as ReturnType<Interceptor['request']> });
    const target = file.createWriteStream({
      ...options,
      resumable: true,
      metadata: { ...options.metadata, ...(size === undefined ? {} : { contentLength: size }) },
    });
    try {
      await pipeline(Readable.from(reader.stream(head), { objectMode: false, highWaterMark: 64 * 1024 }), target, { signal: opts.signal });
    } finally {
      agent?.destroy();
    }
  }

  /** The upload's response metadata against what was sent; a mismatch deletes exactly that generation. */
  private async verify(file: File, reader: BodyReader, crc32c: string): Promise<void> {
    const meta: FileMetadata = file.metadata;
    const problems: string[] = [];
    if (Number(meta.size) !== reader.bytes) problems.push(`${meta.size} bytes (sent ${reader.bytes})`);
    if (meta.md5Hash !== undefined && meta.md5Hash !== reader.md5Base64) problems.push(`md5 ${meta.md5Hash} (sent ${reader.md5Base64})`);
    if (meta.crc32c !== undefined && meta.crc32c !== crc32c) problems.push(`crc32c ${meta.crc32c} (sent ${crc32c})`);
    if (meta.md5Hash === undefined && meta.crc32c === undefined) problems.push('neither md5Hash nor crc32c');
    if (problems.length === 0) return;
    if (meta.generation !== undefined) await file.delete({ ifGenerationMatch: meta.generation }).catch(() => undefined);
    throw ladingError('DEST_VERIFY_MISMATCH', `${this.uri(file.name)}: GCS reports ${problems.join(', ')}; the object was deleted`);
  }

  /** null when there is no such object. */
  private async head(bucket: Bucket, key: string): Promise<Stored | null> {
    try {
      const [meta] = await bucket.file(key).getMetadata();
      const sha256 = meta.metadata?.[sha256MetadataKey];
      return {
        bytes: Number(meta.size ?? 0),
        sha256: typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined,
        generation: meta.generation === undefined ? undefined : String(meta.generation),
      };
    } catch (error) {
      const e = this.classify(error, `reading ${this.uri(key)}`);
      if (e.code === 'DEST_NOT_FOUND') return null;
      throw e;
    }
  }

  private async collided(bucket: Bucket, key: string, existing: Stored, opts: PutOptions): Promise<PutReceipt> {
    const expected = opts.expected;
    if (opts.onCollision === 'skip_if_identical' && expected && existing.bytes === expected.bytes) {
      const sha256 = existing.sha256 ?? await this.download(bucket, key, existing.generation);
      if (sha256 === expected.sha256) return { uri: this.uri(key), bytes: existing.bytes, sha256, attempts: 1, skipped: true };
    }
    const why = opts.onCollision === 'skip_if_identical' ? ' with different content' : '';
    throw ladingError('DEST_COLLISION', `${this.uri(key)} already exists${why}`);
  }

  /** sha256 of a stored object without lading-sha256 metadata: streamed, never held whole. */
  private async download(bucket: Bucket, key: string, generation: string | undefined): Promise<string> {
    try {
      const hash = createHash('sha256');
      const file = bucket.file(key, generation === undefined ? {} : { generation: Number(generation) });
      for await (const chunk of file.createReadStream({ validation: false })) hash.update(chunk as Buffer);
      return hash.digest('hex');
    } catch (error) {
      throw this.classify(error, `reading ${this.uri(key)} to compare it`);
    }
  }
}
