import { isPostgresUrl, openPostgresStore } from './postgres/store.js';
import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** false: open without migrating, so the caller can call migrate() and see what it applied. Default true. */
  readonly migrate?: boolean;
}

/**
 * Opens the store `target` names: a `postgres://` or `postgresql://` URL opens the shared
 * PostgreSQL store; anything else is a SQLite file path (created when missing).
 */
export async function openStore(target: string, options: OpenStoreOptions = {}): Promise<Store> {
  return isPostgresUrl(target) ? openPostgresStore(target, options) : openSqliteStore(target, options);
}
