import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ladingError } from '../errors/lading-error.js';
import { isPostgresUrl, openStore, type OpenStoreOptions } from '../store/open.js';
import type { Store } from '../store/types.js';

export interface GlobalOptions {
  readonly dataDir: string;
  /** An absolute SQLite file path, or a postgres:// URL (which may hold a password: never print it). */
  readonly db: string;
}

/**
 * --data-dir / LADING_HOME (default .lading); the store: --db, else LADING_DATABASE_URL (a
 * postgres:// URL, kept out of the process list), else LADING_DB, else <data-dir>/lading.db.
 */
export function globals(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{ dataDir?: string; db?: string }>();
  const dataDir = resolve(opts.dataDir ?? process.env.LADING_HOME ?? '.lading');
  const url = process.env.LADING_DATABASE_URL || undefined;
  // The variable's text is not repeated: it may hold a password.
  if (opts.db === undefined && url !== undefined && !isPostgresUrl(url)) throw ladingError('USAGE_INVALID', 'LADING_DATABASE_URL must be a postgres:// or postgresql:// URL');
  const target = opts.db ?? url ?? (process.env.LADING_DB || join(dataDir, 'lading.db'));
  if (isPostgresUrl(target)) return { dataDir, db: target };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    throw ladingError('USAGE_INVALID', `unsupported store URL scheme "${target.slice(0, target.indexOf(':'))}": give a postgres:// URL or a SQLite file path`);
  }
  return { dataDir, db: resolve(target) };
}

export async function withStore<T>(command: Command, use: (store: Store, g: GlobalOptions) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
  const g = globals(command);
  const store = await openStore(g.db, options);
  try {
    return await use(store, g);
  } finally {
    await store.close();
  }
}

/** Exit codes: 0 completed, 3 completed_with_errors, 1 failed or cancelled, 2 usage or config error. */
export const exitCodes = { completed: 0, completed_with_errors: 3, failed: 1, cancelled: 1, timed_out: 1, queued: 1, running: 1, usage: 2 } as const;

export const parsePositiveInt = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
  return n;
};

export const parseInteger = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
  return n;
};
