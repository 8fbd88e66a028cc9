import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PutObjectCommandInput, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { defineDestination } from '../core/component.js';
import { byteSize, secret } from '../config/units.js';
import { classify } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import { BodyReader, uploadFailure, contentTypeFor, normalizePrefix, objectMetadataConfig, renderMetadata, sha256MetadataKey } from './object-store.js';
import type { Destination, PutOptions, PutReceipt, SignedUrl } from './types.js';
import { lazy } from '../core/lazy.js';

/**
 * The AWS SDK costs ~130 ms to import: it is loaded when an s3 destination first connects, not
 * when the registry is read, so commands that never touch S3 start without it.
 */
type Sdk = typeof import('@aws-sdk/client-s3') & Pick<typeof import('@aws-sdk/lib-storage'), 'Upload'>;
const loadSdk = lazy((): Promise<Sdk> =>
  Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({ ...s3, Upload: storage.Upload })));
/** Only the API's artifact links need the presigner: loaded on the first link, not with the SDK. */
const loadPresigner = lazy(() => import('@aws-sdk/s3-request-presigner'));

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last); lib-storage refuses less. */
const minPartSize = 5 * MiB;

const storageClasses = [
  'STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING',
  'GLACIER', 'GLACIER_IR', 'DEEP_ARCHIVE', 'EXPRESS_ONEZONE', 'OUTPOSTS',
] as const;

export const s3Config = z.object({
  type: z.literal('s3'),
  bucket: z.string().min(3).max(63).regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'an S3 bucket name: lower-case letters, digits, "." and "-"')
    .describe('Bucket the files land in.'),
  prefix: z.string().optional()
    .describe('Key prefix, used as a folder: `incoming/leads` puts `leads.csv` at `incoming/leads/leads.csv`. Default: the bucket root.'),
  region: z.string().min(1).default('us-east-1').describe('AWS region of the bucket (S3-compatible stores usually accept any).'),
  endpoint: z.url().optional()
    .describe('Endpoint of an S3-compatible store (MinIO, Ceph, R2, s3rver): `http://127.0.0.1:9000`. Default: AWS S3 for the region.'),
  force_path_style: z.boolean().default(false)
    .describe('Address the bucket as `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>`; most S3-compatible stores need `true`.'),
  access_key_id: secret().min(1).optional()
    .describe('Access key id, with secret_access_key; write ${env:NAME}. Without both: the AWS default credential chain (environment, shared files, SSO, container or instance role).'),
  secret_access_key: secret().min(1).optional().describe('Secret access key, with access_key_id; write ${env:NAME}. Never shown in messages.'),
  role_arn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN: arn:aws:iam::123456789012:role/name').optional()
    .describe('Assume this IAM role (STS) for the uploads, starting from the access keys above or the default chain. Needs the package @aws-sdk/credential-providers.'),
  storage_class: z.enum(storageClasses).optional().describe('Storage class of the objects. Default: the bucket\'s (STANDARD).'),
  server_side_encryption: z.enum(['AES256', 'aws:kms']).optional()
    .describe('Encrypt the objects at rest with S3-managed keys (AES256) or KMS (aws:kms). Default: the bucket\'s default encryption.'),
  kms_key_id: z.string().min(1).optional().describe('KMS key id or ARN for server_side_encryption: aws:kms. Default: the AWS-managed key aws/s3.'),
  content_type: z.string().min(1).optional()
    .describe('Content-Type of the objects. Default: from the name\'s last extension (text/csv, application/gzip, application/x-ndjson, …).'),
  content_encoding: z.string().min(1).optional()
    .describe('Content-Encoding of the objects, e.g. `gzip` so HTTP clients decompress on download. Default: none.'),
  metadata: objectMetadataConfig()
    .describe('User metadata (x-amz-meta-*) on each object: key → template with {pipeline} {batch_id} {run_id} {records} {sha256}. lading also sets lading-sha256.'),
  part_size: byteSize().refine((n) => n >= minPartSize, { message: 'must be at least 5MiB (S3\'s smallest multipart part)' }).default(8 * MiB)
    .describe('Multipart part size: a file larger than one part is uploaded in parts of this size. Memory held is about queue_size × part_size. Default 8MiB.'),
  queue_size: z.number().int().min(1).max(64).default(4).describe('Parts uploaded in parallel.'),
}).strict().superRefine((config, ctx) => {
  if ((config.access_key_id === undefined) !== (config.secret_access_key === undefined)) {
    ctx.addIssue({ code: 'custom', path: [config.access_key_id === undefined ? 'access_key_id' : 'secret_access_key'], message: 'access_key_id and secret_access_key go together' });
  }
  if (config.kms_key_id !== undefined && config.server_side_encryption !== 'aws:kms') {
    ctx.addIssue({ code: 'custom', path: ['kms_key_id'], message: 'needs server_side_encryption: aws:kms' });
  }
}).meta({ id: 'destination.s3' });

export type S3Config = z.output<typeof s3Config>;

export const s3 = defineDestination({
  type: 's3',
  summary: 'An S3 bucket or S3-compatible store: streamed (multipart above part_size), created only when complete, no-clobber by If-None-Match, size and sha256 verified.',
  schema: s3Config,
  create: (config, ctx) => new S3Destination(config, { sessionName: ctx.pipeline, clock: ctx.clock }),
});

type Credentials = NonNullable<S3ClientConfig['credentials']>;
type CredentialProvider = Exclude<Credentials, { accessKeyId: string }>;

/**
 * fromTemporaryCredentials from @aws-sdk/credential-providers, loaded when a role is first
 * needed. The package is optional: without it, role_arn fails with a message saying so.
 */
function assumeRole(roleArn: string, base: Credentials | undefined, region: string, sessionName: string): CredentialProvider {
  let provider: Promise<CredentialProvider> | undefined;
  const load = async (): Promise<CredentialProvider> => {
    const name = '@aws-sdk/credential-providers';
    let mod: { fromTemporaryCredentials(options: object): CredentialProvider };
    try {
      mod = (await import(name)) as typeof mod;
    } catch {
      throw ladingError('CONFIG_INVALID', `destination.role_arn: assuming ${roleArn} needs the package @aws-sdk/credential-providers, which is not installed. `
        + 'Install it (npm install @aws-sdk/credential-providers), or give access_key_id and secret_access_key, or leave all three out to use the AWS default credential chain');
    }
    return mod.fromTemporaryCredentials({
      params: { RoleArn: roleArn, RoleSessionName: `lading-${sessionName}`.replace(/[^\w+=,.@-]/g, '_').slice(0, 64) },
      ...(base ? { masterCredentials: base } : {}),
      clientConfig: { region },
    });
  };
  return async () => (await (provider ??= load()))();
}

interface Stored {
  readonly bytes: number;
  readonly sha256: string | undefined;
}

/**
 * Files as objects in an S3 bucket. An object exists only once its PutObject or
 * CompleteMultipartUpload succeeds, so no temporary name is needed: a lister never sees a partial
 * object. Without overwrite, the create carries If-None-Match: * (S3 refuses with 412 when the
 * key exists); a HeadObject before the upload also catches collisions on stores that ignore the
 * header (s3rver, older MinIO), with a race between the check and the create on those stores.
 */
export class S3Destination implements Destination {
  readonly type = 's3';
  readonly description: string;
  private clientPromise: Promise<{ client: S3Client; sdk: Sdk }> | undefined;
  private readonly clientConfig: S3ClientConfig;
  private readonly prefix: string;
  private readonly secrets: string[];
  private readonly clock: Clock;

  constructor(private readonly config: S3Config, options: { readonly sessionName?: string; readonly clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
    this.prefix = normalizePrefix(config.prefix);
    this.description = `s3://${config.bucket}/${this.prefix}`;
    this.secrets = config.secret_access_key === undefined ? [] : [config.secret_access_key];
    const keys = config.access_key_id !== undefined && config.secret_access_key !== undefined
      ? { accessKeyId: config.access_key_id, secretAccessKey: config.secret_access_key } : undefined;
    const credentials = config.role_arn === undefined ? keys : assumeRole(config.role_arn, keys, config.region, options.sessionName ?? 'lading');
    this.clientConfig = {
      region: config.region,
      // A bucket in another region than `region` is found rather than failing with a 301.
      followRegionRedirects: true,
      forcePathStyle: config.force_path_style,
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      ...(credentials === undefined ? {} : { credentials }),
    };
  }

  /** The SDK and a client, made on first use. */
  private connect(): Promise<{ client: S3Client; sdk: Sdk }> {
    return (this.clientPromise ??= loadSdk().then((loaded) => ({ client: new loaded.S3Client(this.clientConfig), sdk: loaded })));
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    const key = this.key(name);
    const uri = this.uri(key);
    const reader = new BodyReader(body, opts.signal, opts.expected, uri);
    try {
      if (opts.onCollision !== 'overwrite') {
        const existing = await this.head(key, opts.signal);
        if (existing) {
          await reader.close();
          return await this.collided(key, existing, opts);
        }
      }
      // A body that fits in one part is read first: its sha256 is then known before the object
      // is created (for lading-sha256 and S3's own x-amz-checksum-sha256 check of the bytes).
      const head = await reader.head(this.config.part_size);
      const sha256 = head.complete ? reader.sha256 : opts.expected?.sha256;
      const params = this.params(key, name, opts, sha256);
      if (head.complete) {
        const data = Buffer.concat(head.chunks);
        await (await this.connect()).client.send(new (await this.connect()).sdk.PutObjectCommand({ ...params, Body: data, ContentLength: data.byteLength, ChecksumSHA256: Buffer.from(reader.sha256, 'hex').toString('base64') }), { abortSignal: opts.signal });
      } else {
        await this.multipart(params, reader, head.chunks, opts.signal);
      }
      await this.verify(key, reader);
      return { uri, bytes: reader.bytes, sha256: reader.sha256, attempts: 1, skipped: false };
    } catch (error) {
      const ours = await uploadFailure(reader, opts.signal, uri);
      if (ours) throw ours;
      const e = this.classify(error, `uploading ${uri}`);
      // 412 to If-None-Match: someone created the key between the HeadObject and the create.
      if (e.code === 'DEST_COLLISION' && opts.onCollision === 'skip_if_identical') {
        const existing = await this.head(key, opts.signal);
        if (existing) return this.collided(key, existing, opts);
      }
      throw e;
    }
  }

  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    const stored = await this.head(this.key(name));
    if (!stored) return null;
    return stored.sha256 === undefined ? { bytes: stored.bytes } : { bytes: stored.bytes, sha256: stored.sha256 };
  }

  /** The object's bytes, streamed: a staged file read back for a retry (LADING_STAGING=s3://…). */
  async *read(name: string): AsyncIterable<Uint8Array> {
    const key = this.key(name);
    let body: AsyncIterable<Uint8Array>;
    try {
      const { client, sdk } = await this.connect();
      body = (await client.send(new sdk.GetObjectCommand({ Bucket: this.config.bucket, Key: key }))).Body as AsyncIterable<Uint8Array>;
    } catch (error) {
      throw this.classify(error, `reading ${this.uri(key)}`);
    }
    yield* body;
  }

  /** Deletes a delivered object (rollback); false when it is not there. */
  async remove(name: string): Promise<boolean> {
    const key = this.key(name);
    if (!(await this.head(key))) return false;
    try {
      const { client, sdk } = await this.connect();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return true;
    } catch (error) {
      throw this.classify(error, `removing ${this.uri(key)}`);
    }
  }

  /**
   * A presigned GetObject: SigV4 in the query string, signed locally with the destination's
   * credentials (an assumed role's session credentials put their token in the link too). S3
   * refuses links valid for more than 7 days.
   */
  async signedUrl(name: string, ttlMs: number): Promise<SignedUrl> {
    const key = this.key(name);
    const signingDate = this.clock.now();
    const expiresIn = Math.ceil(ttlMs / 1000);
    try {
      const [{ client, sdk: loaded }, { getSignedUrl }] = await Promise.all([this.connect(), loadPresigner()]);
      const url = await getSignedUrl(client, new loaded.GetObjectCommand({ Bucket: this.config.bucket, Key: key }), { expiresIn, signingDate });
      return { url, expiresAt: new Date(signingDate.getTime() + expiresIn * 1000) };
    } catch (error) {
      throw this.classify(error, `signing a link to ${this.uri(key)}`);
    }
  }

  /** HeadBucket, then creates and deletes a probe object under the prefix. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    const probe = this.key(`.lading-probe-${randomBytes(6).toString('hex')}`);
    try {
      await (await this.connect()).client.send(new (await this.connect()).sdk.HeadBucketCommand({ Bucket: this.config.bucket }), { abortSignal: signal });
      await (await this.connect()).client.send(new (await this.connect()).sdk.PutObjectCommand({ ...this.encryption(), Bucket: this.config.bucket, Key: probe, Body: Buffer.from('lading write probe\n'), ContentType: 'text/plain' }), { abortSignal: signal });
      await (await this.connect()).client.send(new (await this.connect()).sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key: probe }), { abortSignal: signal });
    } catch (error) {
      throw this.classify(error, `probing ${this.description} for writes`);
    }
  }

  async close(): Promise<void> {
    const connected = this.clientPromise;
    this.clientPromise = undefined;
    if (connected) (await connected).client.destroy();
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  private uri(key: string): string {
    return `s3://${this.config.bucket}/${key}`;
  }

  private classify(error: unknown, doing: string): LadingError {
    return classify(error, { ioCode: 'DEST_WRITE_FAILED', doing, objectStore: 's3', secrets: this.secrets });
  }

  private encryption(): Partial<PutObjectCommandInput> {
    const { server_side_encryption: sse, kms_key_id: kms, storage_class: storageClass } = this.config;
    return {
      ...(sse === undefined ? {} : { ServerSideEncryption: sse }),
      ...(kms === undefined ? {} : { SSEKMSKeyId: kms }),
      ...(storageClass === undefined ? {} : { StorageClass: storageClass }),
    };
  }

  private params(key: string, name: string, opts: PutOptions, sha256: string | undefined): PutObjectCommandInput {
    const metadata = renderMetadata(this.config.metadata, opts.metadata);
    if (sha256 !== undefined) metadata[sha256MetadataKey] = sha256;
    return {
      Bucket: this.config.bucket,
      Key: key,
      ContentType: this.config.content_type ?? contentTypeFor(name),
      ...(this.config.content_encoding === undefined ? {} : { ContentEncoding: this.config.content_encoding }),
      ...this.encryption(),
      Metadata: metadata,
      ...(opts.onCollision === 'overwrite' ? {} : { IfNoneMatch: '*' }),
    };
  }

  /**
   * lib-storage's Upload: parts of part_size, queue_size at a time, each with its own
   * x-amz-checksum-sha256. The body is pulled only as parts are taken, so memory stays near
   * queue_size × part_size. On failure the multipart upload is aborted here (best effort), so the
   * original error is the one reported.
   */
  private async multipart(params: PutObjectCommandInput, reader: BodyReader, head: Buffer[], signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const upload = new (await this.connect()).sdk.Upload({
      client: (await this.connect()).client,
      params: { ...params, Body: Readable.from(reader.stream(head), { objectMode: false, highWaterMark: 64 * 1024 }), ChecksumAlgorithm: 'SHA256' },
      partSize: this.config.part_size,
      queueSize: this.config.queue_size,
      leavePartsOnError: true,
      abortController: controller,
    });
    try {
      await upload.done();
    } catch (error) {
      if (upload.uploadId !== undefined) {
        await (await this.connect()).client.send(new (await this.connect()).sdk.AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: upload.uploadId })).catch(() => undefined);
      }
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** HeadObject after the upload: the stored size must be what was sent, or the object is deleted. */
  private async verify(key: string, reader: BodyReader): Promise<void> {
    const stored = await this.head(key);
    if (stored && stored.bytes === reader.bytes && (stored.sha256 === undefined || stored.sha256 === reader.sha256)) return;
    if (stored) await (await this.connect()).client.send(new (await this.connect()).sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key: key })).catch(() => undefined);
    throw ladingError('DEST_VERIFY_MISMATCH', `${this.uri(key)}: sent ${reader.bytes} bytes sha256 ${reader.sha256}; the bucket holds `
      + (stored ? `${stored.bytes} bytes${stored.sha256 === undefined ? '' : ` sha256 ${stored.sha256}`}; the object was deleted` : 'no object under that key'));
  }

  /** null when there is no such key (HeadObject answers 404 without a body, so a missing bucket looks the same). */
  private async head(key: string, signal?: AbortSignal): Promise<Stored | null> {
    try {
      const out = await (await this.connect()).client.send(new (await this.connect()).sdk.HeadObjectCommand({ Bucket: this.config.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      const sha256 = out.Metadata?.[sha256MetadataKey];
      return { bytes: out.ContentLength ?? 0, sha256: sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined };
    } catch (error) {
      const e = this.classify(error, `reading ${this.uri(key)}`);
      if (e.code === 'DEST_NOT_FOUND') return null;
      throw e;
    }
  }

  /** The key exists and onCollision is not overwrite: skip when identical, else DEST_COLLISION. */
  private async collided(key: string, existing: Stored, opts: PutOptions): Promise<PutReceipt> {
    const expected = opts.expected;
    if (opts.onCollision === 'skip_if_identical' && expected && existing.bytes === expected.bytes) {
      const sha256 = existing.sha256 ?? await this.download(key, opts.signal);
      if (sha256 === expected.sha256) return { uri: this.uri(key), bytes: existing.bytes, sha256, attempts: 1, skipped: true };
    }
    const why = opts.onCollision === 'skip_if_identical' ? ' with different content' : '';
    throw ladingError('DEST_COLLISION', `${this.uri(key)} already exists${why}`);
  }

  /** sha256 of a stored object without lading-sha256 metadata: streamed, never held whole. */
  private async download(key: string, signal: AbortSignal): Promise<string> {
    try {
      const out = await (await this.connect()).client.send(new (await this.connect()).sdk.GetObjectCommand({ Bucket: this.config.bucket, Key: key }), { abortSignal: signal });
      const hash = createHash('sha256');
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
      return hash.digest('hex');
    } catch (error) {
      throw this.classify(error, `reading ${this.uri(key)} to compare it`);
    }
  }
}
