import { readFile, rm } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import { ladingError } from '../errors/lading-error.js';
import type { StagingStore } from '../store/types.js';
import type { StagedFacts, StagingBackend } from './types.js';

const scheme = 'store:';

/**
 * Files kept in the store itself (a bytea / blob row per delivery), so any worker sharing the
 * database can retry them. Whole files are held in memory on the way in and out: hence the cap.
 */
export class DatabaseStaging implements StagingBackend {
  readonly description = 'database';

  constructor(private readonly store: StagingStore, private readonly clock: Clock, private readonly maxBytes: number) {}

  owns(ref: string): boolean {
    return ref.startsWith(scheme);
  }

  async keep(id: string, path: string, facts: StagedFacts): Promise<string> {
    if (facts.bytes > this.maxBytes) {
      throw ladingError('DEST_STAGING_TOO_LARGE', `${path} (${facts.bytes} bytes) is larger than the ${this.maxBytes} bytes the store keeps (LADING_STAGING_MAX_BYTES): `
        + 'stage files in a bucket with LADING_STAGING=s3://bucket/prefix to retry it from any machine');
    }
    await this.store.putStaged(id, { bytes: await readFile(path), sha256: facts.sha256, at: this.clock.now() });
    await rm(path, { force: true });
    return `${scheme}${id}`;
  }

  async *read(ref: string): AsyncIterable<Uint8Array> {
    const kept = await this.store.getStaged(ref.slice(scheme.length));
    if (!kept) throw ladingError('DEST_NOT_RETRYABLE', `the staged file ${ref} is no longer in the store`);
    yield kept.bytes;
  }

  async has(ref: string): Promise<boolean> {
    return (await this.store.getStaged(ref.slice(scheme.length))) !== null;
  }

  remove(ref: string): Promise<void> {
    return this.store.removeStaged(ref.slice(scheme.length));
  }
}
