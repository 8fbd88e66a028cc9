import { parseDatabaseUrl, type DatabaseConfig, type OpenOptions, type SqlDatabase } from './connection.js';
import { openPostgres } from './postgres.js';
import { openSqlite } from './sqlite.js';

/** Opens a database; the sink and the source take it injected so tests can count statements. */
export type OpenDatabase = (config: DatabaseConfig, baseDir: string, options: OpenOptions) => SqlDatabase;

/**
 * Opens the database `config.url` names. PostgreSQL connects lazily (the first session); a SQLite
 * file is opened at once, so a missing file fails here (SQLITE_CANTOPEN) unless `create` is set.
 * Errors are the drivers' own; callers classify them with their stage.
 */
export const openDatabase: OpenDatabase = (config, baseDir, options) => {
  const target = parseDatabaseUrl(config.url, baseDir);
  if (target.dialect === 'postgres') {
    return openPostgres(target.url, target.description, {
      ...options, maxConnections: config.max_connections, connectTimeoutMs: config.connect_timeout,
    });
  }
  return openSqlite(target.path, target.description, { ...options, busyTimeoutMs: config.busy_timeout });
};
