import type { ErrorCode } from './codes.js';
import { ladingError, LadingError } from './lading-error.js';

/** errno values that mean "try again later" wherever they come from. */
const transientErrno = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND',
]);

export interface ClassifyContext {
  /** The code to use when the foreign error is an I/O failure at this stage. */
  readonly ioCode: ErrorCode;
  /** Describes what was being done, for the message: `writing out/leads.csv`. */
  readonly doing: string;
  readonly itemId?: string;
}

/**
 * The only place that looks at foreign errors (Node errno, SQLite codes) and turns them into
 * LadingErrors. LadingErrors pass through unchanged. Later protocols (HTTP status, SFTP status,
 * SQLSTATE) add their branches here.
 */
export function classify(error: unknown, ctx: ClassifyContext): LadingError {
  if (error instanceof LadingError) return error;
  const errno = errnoOf(error);
  const detail = error instanceof Error ? error.message : String(error);
  const info = { cause: error, ...(ctx.itemId === undefined ? {} : { itemId: ctx.itemId }) };
  if (errno !== undefined) {
    // Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE…) are the same condition.
    if (errno.startsWith('SQLITE_BUSY') || errno.startsWith('SQLITE_LOCKED')) return ladingError('STORE_BUSY', `${ctx.doing}: database is locked`, info);
    if (errno.startsWith('SQLITE_')) return ladingError('STORE_FAILED', `${ctx.doing}: ${detail}`, info);
    if (transientErrno.has(errno)) return ladingError('NETWORK_FAILED', `${ctx.doing}: ${errno}`, info);
    if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') {
      return ladingError(ctx.ioCode === 'SOURCE_READ_FAILED' ? 'SOURCE_NOT_FOUND' : 'DEST_PERMISSION_DENIED', `${ctx.doing}: permission denied (${errno})`, info);
    }
    if (errno === 'ENOENT' || errno === 'ENOTDIR' || errno === 'EISDIR') {
      return ladingError(ctx.ioCode === 'SOURCE_READ_FAILED' ? 'SOURCE_NOT_FOUND' : 'DEST_NOT_FOUND', `${ctx.doing}: no such file or directory (${errno})`, info);
    }
    if (errno === 'ENOSPC' || errno === 'EIO' || errno === 'EMFILE' || errno === 'ENFILE') {
      return ladingError(ctx.ioCode, `${ctx.doing}: ${errno}`, info);
    }
  }
  return ladingError('UNCLASSIFIED', `${ctx.doing}: ${detail}`, info);
}

function errnoOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
