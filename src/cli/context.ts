import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { openSqliteStore } from '../store/sqlite/store.js';
import type { Store } from '../store/types.js';

export interface GlobalOptions {
  readonly dataDir: string;
  readonly db: string;
}

/** --data-dir / LADING_HOME (default .lading) and --db / LADING_DB (default <data-dir>/lading.db). */
export function globals(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals<{ dataDir?: string; db?: string }>();
  const dataDir = resolve(opts.dataDir ?? process.env.LADING_HOME ?? '.lading');
  const db = resolve(opts.db ?? process.env.LADING_DB ?? join(dataDir, 'lading.db'));
  return { dataDir, db };
}

export async function withStore<T>(command: Command, use: (store: Store, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = globals(command);
  const store = await openSqliteStore(g.db);
  try {
    return await use(store, g);
  } finally {
    await store.close();
  }
}

/** Exit codes: 0 completed, 3 completed_with_errors, 1 failed or cancelled, 2 usage or config error. */
export const exitCodes = { completed: 0, completed_with_errors: 3, failed: 1, cancelled: 1, timed_out: 1, running: 1, usage: 2 } as const;

export const parsePositiveInt = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
  return n;
};
