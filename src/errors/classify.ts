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
  /** The code for a call that timed out (undici's timeouts, AbortSignal.timeout); default NETWORK_FAILED. */
  readonly timeoutCode?: ErrorCode;
  /** Set when the error came from a SQL driver (pg, better-sqlite3) at this stage: SQLSTATE / SQLite codes are read. */
  readonly sql?: 'sink' | 'source';
}

/** undici's error codes: its timeouts, and sockets that closed under a request. */
const undiciTimeouts = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const undiciNetwork = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_REQ_RETRY']);

/**
 * The only place that looks at foreign errors (Node errno, SQLite codes) and turns them into
 * LadingErrors. LadingErrors pass through unchanged. HTTP answers go through
 * classifyHttpResponse below; later protocols (SFTP status, SQLSTATE) add their branches here.
 */
export function classify(error: unknown, ctx: ClassifyContext): LadingError {
  if (error instanceof LadingError) return error;
  if (ctx.sql !== undefined) return classifySql(error, ctx.sql, ctx);
  const errno = errnoOf(error);
  const detail = error instanceof Error ? error.message : String(error);
  const info = { cause: error, ...(ctx.itemId === undefined ? {} : { itemId: ctx.itemId }) };
  if (errno !== undefined && undiciTimeouts.has(errno)) {
    return ladingError(ctx.timeoutCode ?? 'NETWORK_FAILED', `${ctx.doing}: timed out (${errno})`, info);
  }
  if (errno !== undefined && undiciNetwork.has(errno)) return ladingError('NETWORK_FAILED', `${ctx.doing}: ${detail} (${errno})`, info);
  if (errno === undefined && isTimeout(error)) return ladingError(ctx.timeoutCode ?? 'NETWORK_FAILED', `${ctx.doing}: timed out`, info);
  // undici's HTTPParserError (no code): the peer answered with something that is not HTTP/1.1.
  if (nameOf(error) === 'HTTPParserError') return ladingError('NETWORK_FAILED', `${ctx.doing}: the answer is not valid HTTP`, info);
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
  if (typeof code === 'string') return code;
  // A connect that tried several addresses (happy eyeballs) fails with an AggregateError of errno errors.
  if (error instanceof AggregateError) return errnoOf(error.errors[0]);
  return undefined;
}

const nameOf = (error: unknown): unknown => (typeof error === 'object' && error !== null ? (error as { name?: unknown }).name : undefined);

/** AbortSignal.timeout's reason (a DOMException named TimeoutError). */
const isTimeout = (error: unknown): boolean => nameOf(error) === 'TimeoutError';

// ---------------------------------------------------------------------------------------------
// HTTP answers (the http sink; later http-upload). The decision is made here, from the status,
// Retry-After and, when the pipeline asks for it, one JSON field of a success body.

/** Response headers as undici gives them: lower-case names. */
export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface HttpResponseContext {
  /** The request, for the message, with no credentials and no query string: `POST https://api.example/products/A-1`. */
  readonly doing: string;
  readonly itemId?: string;
  /** Statuses that mean success; default any 2xx. */
  readonly success?: readonly number[];
  /** A success body must be JSON whose field at `jsonPath` (dots for nesting) equals `equals`, or is present and neither null nor false. */
  readonly expect?: { readonly jsonPath: string; readonly equals?: string | number | boolean | undefined };
  /** Values that must never appear in a message (credentials, auth header values); replaced by ***. */
  readonly secrets?: readonly string[];
  /** For a Retry-After given as an HTTP date. */
  readonly now?: Date;
}

const excerptLength = 200;

/**
 * Classifies one HTTP answer: undefined when it is a success, otherwise the item error.
 * 408, 425, 5xx → SINK_HTTP_TRANSIENT and 429 → SINK_HTTP_RATE_LIMITED (both transient, with
 * Retry-After in `retryAfterMs`); 401/403 → SINK_HTTP_AUTH; any other status outside `success`
 * → SINK_HTTP_REJECTED with the start of the body; a success body failing `expect` →
 * SINK_HTTP_BAD_RESPONSE (not the JSON expected) or SINK_HTTP_REJECTED (the field says no).
 */
export function classifyHttpResponse(status: number, headers: HttpHeaders, bodyText: string, ctx: HttpResponseContext): LadingError | undefined {
  const info = ctx.itemId === undefined ? {} : { itemId: ctx.itemId };
  const excerpt = () => {
    const text = redact(bodyText, ctx.secrets ?? []).replace(/\s+/g, ' ').trim();
    if (text === '') return '';
    return `: ${text.length > excerptLength ? `${text.slice(0, excerptLength)}…` : text}`;
  };
  const ok = ctx.success ? ctx.success.includes(status) : status >= 200 && status < 300;
  if (ok) {
    if (!ctx.expect) return undefined;
    const { jsonPath, equals } = ctx.expect;
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return ladingError('SINK_HTTP_BAD_RESPONSE', `${ctx.doing}: HTTP ${status} with a body that is not JSON${excerpt()}`, info);
    }
    const value = readJsonPath(body, jsonPath);
    if (value === undefined) return ladingError('SINK_HTTP_BAD_RESPONSE', `${ctx.doing}: HTTP ${status} with no "${jsonPath}" in the body${excerpt()}`, info);
    const accepted = equals === undefined ? value !== null && value !== false : value === equals;
    if (accepted) return undefined;
    const expected = equals === undefined ? 'present, not null or false' : `expected ${JSON.stringify(equals)}`;
    const shown = typeof value === 'object' && value !== null ? typeof value : redact(JSON.stringify(value), ctx.secrets ?? []);
    return ladingError('SINK_HTTP_REJECTED', `${ctx.doing}: HTTP ${status} but "${jsonPath}" is ${shown} (${expected})${excerpt()}`, info);
  }
  const statusText = `HTTP ${status}`;
  if (status === 429 || status === 408 || status === 425 || (status >= 500 && status <= 599)) {
    const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), ctx.now ?? new Date());
    const retry = retryAfterMs === undefined ? {} : { retryAfterMs };
    const after = retryAfterMs === undefined ? '' : ` (Retry-After ${retryAfterMs} ms)`;
    return ladingError(status === 429 ? 'SINK_HTTP_RATE_LIMITED' : 'SINK_HTTP_TRANSIENT', `${ctx.doing}: ${statusText}${after}${excerpt()}`, { ...info, ...retry });
  }
  if (status === 401 || status === 403) return ladingError('SINK_HTTP_AUTH', `${ctx.doing}: ${statusText}, credentials refused${excerpt()}`, info);
  return ladingError('SINK_HTTP_REJECTED', `${ctx.doing}: ${statusText}${excerpt()}`, info);
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

function header(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return typeof value === 'string' ? value : value?.[0];
}

/** Own properties only (no prototype), dots for nesting, numeric segments index arrays. */
function readJsonPath(root: unknown, path: string): unknown {
  let node = root;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** Replaces every occurrence of each secret (longest first) with ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}

// ---------------------------------------------------------------------------------------------
// SQL databases (the sql sink and source): SQLSTATE from PostgreSQL, result codes from SQLite.
// Row-level kinds (constraint, data) let the sink isolate the offending rows; the rest decide
// whether the whole chunk is retried (transient, connect) or stopped (refused).

export type SqlErrorKind = 'constraint' | 'data' | 'transient' | 'connect' | 'refused';

const sqlCodes: Record<'sink' | 'source', Record<SqlErrorKind, ErrorCode>> = {
  sink: { constraint: 'SINK_SQL_CONSTRAINT', data: 'SINK_SQL_DATA', transient: 'SINK_SQL_TRANSIENT', connect: 'SINK_SQL_CONNECT', refused: 'SINK_SQL_REFUSED' },
  source: { constraint: 'SOURCE_SQL_QUERY', data: 'SOURCE_SQL_QUERY', transient: 'SOURCE_SQL_UNAVAILABLE', connect: 'SOURCE_SQL_UNAVAILABLE', refused: 'SOURCE_SQL_QUERY' },
};

/** SQLSTATEs outside the classes below that still mean "try again". */
const transientSqlstate = new Set([
  '40001', '40P01', '40003', // serialization failure, deadlock, statement completion unknown
  '55P03', '55006', '57014', // lock not available, object in use, statement timeout / cancel
]);
const connectSqlstate = new Set(['57P01', '57P02', '57P03', '57P05']); // admin/crash shutdown, cannot connect now, idle timeout

/** PostgreSQL's DatabaseError carries a five-character SQLSTATE and a severity. */
const sqlstateOf = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

/** What kind of failure a SQL driver error is; undefined when it is not a database error at all. */
export function sqlErrorKind(error: unknown): SqlErrorKind | undefined {
  const state = sqlstateOf(error);
  if (state !== undefined) {
    const cls = state.slice(0, 2);
    if (cls === '23' || state === '21000' || state === '40002') return 'constraint'; // 21000: upsert touched one row twice
    if (cls === '22') return 'data';
    if (cls === '08' || connectSqlstate.has(state)) return 'connect';
    if (transientSqlstate.has(state) || cls === '53' || cls === '58') return 'transient'; // insufficient resources, system error
    return 'refused';
  }
  const code = errnoOf(error);
  if (code?.startsWith('SQLITE_')) {
    if (code === 'SQLITE_CONSTRAINT_DATATYPE') return 'data'; // STRICT table, wrong type
    if (code.startsWith('SQLITE_CONSTRAINT')) return 'constraint';
    if (code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG') return 'data';
    if (['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_NOMEM', 'SQLITE_INTERRUPT', 'SQLITE_PROTOCOL', 'SQLITE_SCHEMA']
      .some((c) => code === c || code.startsWith(`${c}_`))) return 'transient';
    return 'refused';
  }
  if (code !== undefined && transientErrno.has(code)) return 'connect';
  // node-postgres reports a dropped or timed-out connection as a plain Error without a code.
  if (error instanceof Error && error.constructor === Error && code === undefined) return 'connect';
  return undefined;
}

function classifySql(error: unknown, stage: 'sink' | 'source', ctx: ClassifyContext): LadingError {
  const kind = sqlErrorKind(error);
  const info = { cause: error, ...(ctx.itemId === undefined ? {} : { itemId: ctx.itemId }) };
  const message = error instanceof Error ? error.message : String(error);
  if (kind === undefined) return ladingError('UNCLASSIFIED', `${ctx.doing}: ${message}`, info);
  // PostgreSQL's detail names the key and value (`Key (email)=(a@x.io) already exists.`).
  const detail = (error as { detail?: unknown }).detail;
  const state = sqlstateOf(error) ?? errnoOf(error);
  const text = `${message}${typeof detail === 'string' && detail !== '' ? ` (${detail})` : ''}${state === undefined ? '' : ` [${state}]`}`;
  return ladingError(sqlCodes[stage][kind], `${ctx.doing}: ${text}`, info);
}
