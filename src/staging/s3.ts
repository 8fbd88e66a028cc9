import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { S3Destination, s3Config } from '../destinations/s3.js';
import { ladingError } from '../errors/lading-error.js';
import type { StagedFacts, StagingBackend } from './types.js';

/**
 * `s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1&force_path_style=true`
 * as the s3 destination's config; credentials come from the AWS default chain (AWS_ACCESS_KEY_ID…).
 */
export function parseS3Staging(setting: string) {
  const url = new URL(setting);
  const q = url.searchParams;
  const parsed = s3Config.safeParse({
    type: 's3', bucket: url.hostname, prefix: decodeURIComponent(url.pathname),
    ...(q.has('endpoint') ? { endpoint: q.get('endpoint') } : {}), ...(q.has('region') ? { region: q.get('region') } : {}),
    ...(q.has('force_path_style') ? { force_path_style: q.get('force_path_style') === 'true' } : {}),
  });
  if (!parsed.success) throw ladingError('USAGE_INVALID', `LADING_STAGING ${url.protocol}//${url.host}${url.pathname}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Files kept as objects in an S3-compatible bucket, through the s3 destination (streamed, size and sha256 verified). */
export class S3Staging implements StagingBackend {
  readonly description: string;

  constructor(private readonly bucket: S3Destination) {
    this.description = bucket.description;
  }

  owns(ref: string): boolean {
    return ref.startsWith(this.description);
  }

  async keep(id: string, path: string, facts: StagedFacts): Promise<string> {
    const receipt = await this.bucket.put(id, createReadStream(path) as AsyncIterable<Buffer>, {
      onCollision: 'overwrite', signal: new AbortController().signal, expected: facts,
    });
    await rm(path, { force: true });
    return receipt.uri;
  }

  read(ref: string): AsyncIterable<Uint8Array> {
    return this.bucket.read(this.name(ref));
  }

  async has(ref: string): Promise<boolean> {
    return (await this.bucket.stat(this.name(ref))) !== null;
  }

  async remove(ref: string): Promise<void> {
    await this.bucket.remove(this.name(ref));
  }

  private name(ref: string): string {
    return ref.slice(this.description.length);
  }
}

export const openS3Staging = (setting: string): S3Staging => new S3Staging(new S3Destination(parseS3Staging(setting), { sessionName: 'staging' }));
