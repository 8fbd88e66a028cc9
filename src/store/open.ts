import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** false: open without migrating, so the caller can call migrate() and see what it applied. Default true. */
  readonly migrate?: boolean;
  /** SQLite: commit API ingest groups on a thread of their own (SqliteStoreOptions.ingestThread). PostgreSQL commits off the event loop anyway. */
  readonly ingestThread?: boolean;
  /** SQLite: read the reconciliation (reports, SLAs) on a thread of its own (SqliteStoreOptions.readThread), for a long-running process. PostgreSQL reads off the event loop anyway. */
  readonly readThread?: boolean;
}

/** True for the URLs the PostgreSQL store opens: postgres:// and postgresql://. */
export const isPostgresUrl = (target: string): boolean => /^postgres(?:ql)?:\/\//i.test(target);

/**
 * Opens the store `target` names: a `postgres://` or `postgresql://` URL opens the shared
 * PostgreSQL store; anything else is a SQLite file path (created when missing). The PostgreSQL
 * store module and its driver are imported only then, so a SQLite process never loads them.
 */
export async function openStore(target: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (!isPostgresUrl(target)) return openSqliteStore(target, options);
  const { openPostgresStore } = await import('./postgres/store.js');
  return openPostgresStore(target, options.migrate === undefined ? {} : { migrate: options.migrate });
}
