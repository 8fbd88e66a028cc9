// A real S3-compatible server for tests and the S3 delivery benchmark (bench/run.ts): s3rver
// (in-process, on 127.0.0.1, port 0) with a temp data folder, and one account: access key id
// S3RVER, secret S3RVER.
// What s3rver does not do, and the tests therefore cannot show: SigV4 signature checks (it
// checks the access key id only, so a wrong secret passes), If-None-Match on PUT (ignored:
// the destination's HeadObject pre-check is what refuses a collision here), x-amz-checksum-*
// (ignored), AbortMultipartUpload (405: abandoned parts stay in its data folder), and atomic
// object writes on its own disk (real S3 creates an object only when the request completes).
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly httpServer: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
// s3rver ships no type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** One request s3rver received. */
export interface S3Request {
  readonly method: string;
  /** Path and query, as sent: `/bucket/dir/a.csv?partNumber=2&uploadId=…`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Set once s3rver has sent its answer (for a part: after storing all its bytes). */
  status?: number;
}

export interface S3Server {
  /** `http://127.0.0.1:<port>`, for the destination's `endpoint`. */
  readonly url: string;
  /** The bucket created at start. */
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Every request received, in arrival order. */
  readonly requests: S3Request[];
  /** Called when a request's answer has been sent. */
  onAnswered?: (request: S3Request) => void;
  /** A client for inspecting the bucket. */
  readonly client: S3Client;
  /** Keys in the bucket under `prefix` (completed objects only). */
  list(prefix?: string): Promise<string[]>;
  read(key: string): Promise<Buffer>;
  /** Closes every connection and the server, and removes its data folder. */
  stop(): Promise<void>;
}

export const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export async function startS3(options: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'bucket';
  const directory = mkdtempSync(join(tmpdir(), 'lading-s3rver-'));
  const instance = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await instance.run();
  const url = `http://127.0.0.1:${port}`;
  const requests: S3Request[] = [];
  const server: S3Server = {
    url, bucket, ...s3rverCredentials, requests,
    client: new S3Client({ region: 'us-east-1', endpoint: url, forcePathStyle: true, credentials: s3rverCredentials }),
    async list(prefix = '') {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await server.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
    async read(key) {
      const out = await server.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async stop() {
      server.client.destroy();
      instance.httpServer.closeAllConnections();
      await instance.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
  // A second listener beside s3rver's own: it records, and never touches the body.
  instance.httpServer.on('request', (req, res) => {
    const recorded: S3Request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(recorded);
    res.on('finish', () => {
      recorded.status = res.statusCode;
      server.onAnswered?.(recorded);
    });
  });
  return server;
}
