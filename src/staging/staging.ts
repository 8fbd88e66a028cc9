// Where files awaiting (re)delivery are kept (docs/scale-out.md, "Staged files"). A file is
// rendered under the local data dir and sent from there; only when its delivery fails or is
// held back is it moved to the configured place, so a retry on any machine sends the same bytes.
import { systemClock } from '../core/clock.js';
import { ladingError } from '../errors/lading-error.js';
import type { Store } from '../store/types.js';
import { DatabaseStaging } from './database.js';
import { localStaging } from './local.js';
import { openS3Staging } from './s3.js';
import type { StagedFacts, StagingBackend } from './types.js';

const MB = 1024 * 1024;

/**
 * `local`, `database` or `s3://bucket/prefix?endpoint=…` (env LADING_STAGING, or --staging);
 * default database on PostgreSQL, local on SQLite. LADING_STAGING_MAX_BYTES caps database files.
 */
export function openStaging(store: Store, setting = process.env.LADING_STAGING || undefined, maxBytes = Number(process.env.LADING_STAGING_MAX_BYTES || 64 * MB)): Staging {
  const chosen = setting ?? (store.dialect === 'postgres' ? 'database' : 'local');
  const database = new DatabaseStaging(store, systemClock, maxBytes);
  if (chosen === 'local') return new Staging(localStaging, [database]);
  if (chosen === 'database') return new Staging(database, []);
  if (chosen.startsWith('s3://')) return new Staging(openS3Staging(chosen), [database]);
  throw ladingError('USAGE_INVALID', `LADING_STAGING / --staging must be local, database or s3://bucket/prefix, got "${chosen}"`);
}

const opened = new WeakMap<Store, Staging>();

/** The process's staging for `store`, opened once (an s3 client is reused across deliveries). */
export function stagingFor(store: Store): Staging {
  let staging = opened.get(store);
  if (!staging) opened.set(store, (staging = openStaging(store)));
  return staging;
}

/** Keeps files in one backend; reads and removes a reference in whichever backend holds it (the setting may have changed since). */
export class Staging {
  readonly description: string;
  readonly #keeper: StagingBackend;
  readonly #all: readonly StagingBackend[];

  constructor(keeper: StagingBackend, others: readonly StagingBackend[]) {
    this.description = keeper.description;
    this.#keeper = keeper;
    this.#all = [keeper, ...others, localStaging];
  }

  /** A file rendered on this machine is moved to the keeper; one kept elsewhere already stays where it is. */
  keep(id: string, ref: string, facts: StagedFacts): Promise<string> {
    return localStaging.owns(ref) ? this.#keeper.keep(id, ref, facts) : Promise.resolve(ref);
  }

  read(ref: string): AsyncIterable<Uint8Array> {
    return this.#owner(ref).read(ref);
  }

  has(ref: string): Promise<boolean> {
    return this.#owner(ref).has(ref);
  }

  remove(ref: string): Promise<void> {
    return this.#owner(ref).remove(ref);
  }

  #owner(ref: string): StagingBackend {
    const owner = this.#all.find((b) => b.owns(ref));
    if (!owner) throw ladingError('DEST_NOT_RETRYABLE', `the staged file ${ref} is in a bucket this process does not stage in: set LADING_STAGING (or --staging) to it`);
    return owner;
  }
}
