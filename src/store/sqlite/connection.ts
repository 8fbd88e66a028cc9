import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export interface ConnectionOptions {
  /**
   * `FULL` (default): each commit is fsynced, so an answered ingest survives power loss, as
   * DESIGN.md promises. `NORMAL`: commits survive a process crash but the last ones may be lost
   * on power loss or an OS crash; faster on slow disks.
   */
  readonly synchronous?: 'FULL' | 'NORMAL' | undefined;
  /** How long a write waits for another connection's lock before failing with STORE_BUSY. Default 5000. */
  readonly busyTimeoutMs?: number | undefined;
}

/** Opens a connection to the store's file (creating the file and its folder when missing) with the store's settings. */
export function openConnection(path: string, options: ConnectionOptions): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    // busy_timeout first: switching a new file to WAL can meet another process's lock.
    const busyMs = options.busyTimeoutMs;
    db.pragma(`busy_timeout = ${busyMs !== undefined && Number.isFinite(busyMs) ? Math.max(0, Math.trunc(busyMs)) : 5000}`);
    db.pragma('journal_mode = WAL');
    db.pragma(options.synchronous === 'NORMAL' ? 'synchronous = NORMAL' : 'synchronous = FULL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db?.close();
    throw error;
  }
}

/** A connection's prepared statements, each prepared on first use (after migrations created the tables). */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}

/**
 * What synchronous=FULL does inside a WAL commit — fdatasync the write-ahead log — done by lading
 * on libuv's pool instead, after a commit written at synchronous=NORMAL: the event loop goes on
 * (reading the executor's next chunk) while the disk flushes, and the committer hears only once
 * `sync()` resolved. Every commit written before a sync started is on disk when it resolves.
 * Checkpoint commits use it; ingest groups do not (slower there: docs/benchmarks.md, machine D).
 */
export class WalSync {
  readonly #path: string;
  #handle: Promise<FileHandle> | undefined;

  private constructor(databasePath: string) {
    this.#path = `${resolve(databasePath)}-wal`;
  }

  /** Undefined for an in-memory database, which has no log. */
  static for(databasePath: string): WalSync | undefined {
    return databasePath === ':memory:' || databasePath === '' || databasePath.startsWith('file:') ? undefined : new WalSync(databasePath);
  }

  get path(): string {
    return this.#path;
  }

  /** fdatasync of the log file, opened once. Rejects with the system error (the caller classifies it). */
  async sync(): Promise<void> {
    const handle = (this.#handle ??= open(this.#path, 'r'));
    try {
      await (await handle).datasync();
    } catch (error) {
      // Opened again next time: a handle that failed once is not trusted.
      if (this.#handle === handle) this.#handle = undefined;
      void handle.then((h) => h.close()).catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.then((h) => h.close(), () => {});
  }
}
