import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresUrl } from './sql-databases.js';

export { postgresSkip, postgresUrl } from './sql-databases.js';

export interface ScratchDatabase {
  /** The URL of a new, empty database on the test server. */
  readonly url: string;
  /** Drops it, ending any connection still open to it. */
  drop(): Promise<void>;
}

/**
 * A database of its own on LADING_TEST_POSTGRES_URL's server: other test files (and other
 * checkouts) use the same server at the same time. template0 because nobody connects to it,
 * which CREATE DATABASE requires of its template.
 */
export async function scratchDatabase(): Promise<ScratchDatabase> {
  const name = `lading_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name} TEMPLATE template0`);
  const url = new URL(postgresUrl!);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
