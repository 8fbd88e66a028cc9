import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ladingError } from '../errors/lading-error.js';

/**
 * Numbered, append-only SQL migrations (graphile-worker's habit): `NNNN_name.sql` files applied in
 * version order, each in its own transaction together with its row in the ledger table
 * `lading_migrations`. A database whose ledger holds a version higher than any file this build
 * knows was migrated by a newer lading: the runner refuses to touch it.
 *
 * The runner is dialect-free; each store supplies a small `MigrationDriver` (SQLite's lives in
 * sqlite/store.ts; PostgreSQL's, in postgres/store.ts, takes an advisory lock around the same steps).
 */

export interface Migration {
  readonly version: number;
  /** The file name without extension: `0001_init`. */
  readonly name: string;
  readonly sql: string;
}

/** The ledger's DDL for SQLite (dates are ISO text there); PostgreSQL's driver declares its own with timestamptz. */
export const ledgerDdl =
  'CREATE TABLE IF NOT EXISTS lading_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)';

export interface MigrationDriver {
  /** Creates the ledger table when it is missing. */
  ensureLedger(): Promise<void>;
  /** Versions recorded in the ledger. */
  appliedVersions(): Promise<number[]>;
  /**
   * In ONE transaction: re-check the ledger, insert the ledger row (first), run `migration.sql`.
   * Returns false when another process applied this version meanwhile (nothing done).
   * Migration files must not contain their own BEGIN/COMMIT.
   */
  apply(migration: Migration, appliedAt: Date): Promise<boolean>;
}

const fileName = /^(\d{4})_([A-Za-z0-9_-]+)\.sql$/;

/** Reads `NNNN_name.sql` files from `dir`, sorted by version. Other extensions are ignored. */
export async function loadMigrations(dir: URL | string): Promise<Migration[]> {
  const folder = typeof dir === 'string' ? dir : fileURLToPath(dir);
  const names = (await readdir(folder)).filter((name) => name.endsWith('.sql'));
  const migrations: Migration[] = [];
  const seen = new Map<number, string>();
  for (const name of names) {
    const match = fileName.exec(name);
    if (match === null) {
      throw ladingError('STORE_FAILED', `migration file ${join(folder, name)} is not named NNNN_name.sql`);
    }
    const version = Number(match[1]);
    const other = seen.get(version);
    if (other !== undefined) throw ladingError('STORE_FAILED', `migrations ${other} and ${name} share version ${version}`);
    seen.set(version, name);
    migrations.push({ version, name: name.slice(0, -'.sql'.length), sql: await readFile(join(folder, name), 'utf8') });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

export interface MigrateOptions {
  /** Names the database in messages: a file path or a password-free URL. */
  readonly description: string;
  /** Ledger timestamps; defaults to the system clock. */
  readonly now?: () => Date;
}

export interface MigrationResult {
  /** What this call applied, in order (empty when the database was up to date). */
  readonly applied: readonly Migration[];
  /** The database's schema version afterwards (0: empty). */
  readonly version: number;
}

/**
 * Applies every pending migration in version order. Idempotent: a second call applies nothing.
 * Throws STORE_SCHEMA_NEWER (before applying anything) when the database is ahead of `migrations`.
 */
export async function runMigrations(
  driver: MigrationDriver,
  migrations: readonly Migration[],
  options: MigrateOptions,
): Promise<MigrationResult> {
  const now = options.now ?? (() => new Date());
  await driver.ensureLedger();
  const applied = new Set(await driver.appliedVersions());
  const known = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const newest = [...applied].reduce((max, v) => Math.max(max, v), 0);
  if (newest > known) {
    throw ladingError(
      'STORE_SCHEMA_NEWER',
      `${options.description}: database schema is at version ${newest}, this lading knows up to ${known}`,
    );
  }
  const done: Migration[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    if (await driver.apply(migration, now())) done.push(migration);
  }
  // Versions another process applied meanwhile count too: the database is at the newest file.
  return { applied: done, version: Math.max(newest, known) };
}
