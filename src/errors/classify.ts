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
  readonly sql?: SqlStage;
  /** Set when the error came from the FTP client (basic-ftp): reply codes are read, and its errors without a code (timeouts, closed sockets) are connection failures. */
  readonly ftp?: boolean;
  /** Values that must never appear in a message (a password); replaced by ***. */
  readonly secrets?: readonly string[];
  /** Set when the error came from ssh2 (the sftp destination): where it surfaced, and whether the connection had died. */
  readonly ssh?: SshOrigin;
  /** Set when the error came from an object-store SDK (the s3 and gcs destinations): HTTP status and the store's error code are read. */
  readonly objectStore?: 's3' | 'gcs';
  /** Set when the error came from a notification channel: nodemailer (smtp) or an HTTP post (Slack, webhook, PagerDuty). */
  readonly notify?: 'smtp' | 'http';
}

/** undici's error codes: its timeouts, and sockets that closed under a request. */
const undiciTimeouts = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const undiciNetwork = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_REQ_RETRY']);

/** Node's TLS verification failures (OpenSSL's X509 names, and the host name check): retrying cannot fix them. */
const tlsUntrusted = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The only place that looks at foreign errors (Node errno, SQLite codes) and turns them into
 * LadingErrors. LadingErrors pass through unchanged. HTTP answers go through
 * classifyHttpResponse below; later protocols (SFTP status, SQLSTATE) add their branches here.
 */
export function classify(error: unknown, ctx: ClassifyContext): LadingError {
  if (error instanceof LadingError) return error;
  if (ctx.sql !== undefined) return classifySql(error, ctx.sql, ctx);
  if (ctx.notify !== undefined) return classifyNotify(error, ctx);
  const errno = errnoOf(error);
  const detail = redact(error instanceof Error ? error.message : String(error), ctx.secrets ?? []);
  const info = { cause: error, ...(ctx.itemId === undefined ? {} : { itemId: ctx.itemId }) };
  if (ctx.ftp) {
    const reply = ftpReplyOf(error);
    if (reply) return classifyFtpReply(reply.code, redact(reply.text, ctx.secrets ?? []), ctx, info);
  }
  if (ctx.ssh) {
    const ssh = classifySsh(error, ctx.ssh, ctx, detail, info);
    if (ssh) return ssh;
  }
  if (ctx.objectStore) {
    const answer = classifyObjectStore(error, ctx.objectStore, ctx, detail, info);
    if (answer) return answer;
  }
  if (errno !== undefined && tlsUntrusted.has(errno)) {
    return ladingError('NETWORK_TLS_UNTRUSTED', `${ctx.doing}: the server's TLS certificate cannot be verified: ${detail} (${errno})`, info);
  }
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
    // The store's own files (the SQLite file's WAL, fdatasynced by lading): the store failing, not a destination.
    if (ctx.ioCode === 'STORE_FAILED') return ladingError('STORE_FAILED', `${ctx.doing}: ${detail}`, info);
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
  // basic-ftp reports timeouts, closed or reset sockets and unparseable replies as plain errors.
  if (ctx.ftp) return ladingError('NETWORK_FAILED', `${ctx.doing}: ${detail}`, info);
  return ladingError('UNCLASSIFIED', `${ctx.doing}: ${detail}`, info);
}

// ---------------------------------------------------------------------------------------------
// FTP replies (the ftp destination). The three-digit reply code decides; only 550, which RFC 959
// uses both for "no such file" and for "no access", needs its text read, as FTP offers nothing else.

/** basic-ftp's FTPError: a reply of 400 or more, with the numeric reply code. */
function ftpReplyOf(error: unknown): { code: number; text: string } | undefined {
  if (nameOf(error) !== 'FTPError') return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'number') return undefined;
  return { code, text: (error as Error).message.trim() };
}

const ftpNotFound = /no such|not found|not exist|doesn't exist|cannot find|can't find|ENOENT|ENOTDIR/i;

function classifyFtpReply(code: number, text: string, ctx: ClassifyContext, cause: { cause: unknown; itemId?: string }): LadingError {
  const info = { ...cause, partner: { status: code, reply: text } };
  const said = `${ctx.doing}: the server replied ${text}`;
  if (code === 530 || code === 332) return ladingError('DEST_AUTH_FAILED', `${ctx.doing}: login refused: ${text}`, info);
  if (code === 421 || code === 425 || code === 426) return ladingError('NETWORK_FAILED', said, info); // closing, no data connection, transfer aborted
  if (code === 452 || code === 552) return ladingError('DEST_WRITE_FAILED', `${said} (storage full or quota exceeded)`, info);
  if (code === 550) return ladingError(ftpNotFound.test(text) ? 'DEST_NOT_FOUND' : 'DEST_PERMISSION_DENIED', said, info);
  if (code >= 400 && code < 500) return ladingError('DEST_WRITE_FAILED', said, info); // 450 file busy, 451 local error: try again
  return ladingError('DEST_FTP_REJECTED', said, info);
}

// ---------------------------------------------------------------------------------------------
// SSH and SFTP (the sftp destination, ssh2). ssh2 marks transport and login errors with a
// `level`; an SFTP request fails with the numeric status the server sent (SFTPv3: 2 no such
// file, 3 permission denied, 4 failure…); a DISCONNECT from the server surfaces as a connection
// error whose numeric code is the disconnect reason. Requests cut off by a lost connection fail
// with plain errors, so the caller says whether the connection had died.

export interface SshOrigin {
  /** 'connection': the ssh2 Client's own error (socket, handshake, login, disconnect); 'sftp': an SFTP request's. */
  readonly from: 'connection' | 'sftp';
  /** The SSH connection was gone when the error arrived. */
  readonly connectionLost: boolean;
}

const sftpStatusNames: Record<number, string> = {
  1: 'EOF', 2: 'NO_SUCH_FILE', 3: 'PERMISSION_DENIED', 4: 'FAILURE', 5: 'BAD_MESSAGE', 6: 'NO_CONNECTION', 7: 'CONNECTION_LOST', 8: 'OP_UNSUPPORTED',
};
/** SSH disconnect reasons (RFC 4253 11.1) that mean the login itself is refused. */
const sshAuthDisconnects = new Set([13, 14]); // ILLEGAL_USER_NAME, NO_MORE_AUTH_METHODS_AVAILABLE

/** undefined: not recognisably SSH; the caller goes on with errno and the rest. */
function classifySsh(error: unknown, origin: SshOrigin, ctx: ClassifyContext, detail: string, info: { cause: unknown; itemId?: string }): LadingError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, level } = error as { code?: unknown; level?: unknown };
  if (level === 'client-authentication') {
    return ladingError('DEST_AUTH_FAILED', `${ctx.doing}: the server refused the login (${detail}); check the username, key, passphrase or password`, info);
  }
  if (level === 'client-timeout') return ladingError('NETWORK_FAILED', `${ctx.doing}: timed out (${detail})`, info);
  if (level === 'client-dns') return ladingError('NETWORK_FAILED', `${ctx.doing}: ${detail}`, info);
  if (level === 'protocol') return ladingError('NETWORK_FAILED', `${ctx.doing}: the SSH connection broke (${detail})`, info);
  // No algorithm in common (ciphers, key exchange, host key types): retrying the same settings will not help soon.
  if (level === 'handshake') return ladingError('UNCLASSIFIED', `${ctx.doing}: the SSH handshake failed (${detail}); check destination.ciphers against what the server offers`, info);
  if (typeof code === 'number' && origin.from === 'connection') {
    if (sshAuthDisconnects.has(code)) return ladingError('DEST_AUTH_FAILED', `${ctx.doing}: the server refused the login and disconnected (${detail})`, info);
    return ladingError('NETWORK_FAILED', `${ctx.doing}: the server disconnected (${detail}, reason ${code})`, info);
  }
  if (typeof code === 'number') {
    const said = `${ctx.doing}: ${detail} (SFTP status ${code} ${sftpStatusNames[code] ?? 'unknown'})`;
    if (code === 2) return ladingError('DEST_NOT_FOUND', said, info);
    if (code === 3) return ladingError('DEST_PERMISSION_DENIED', said, info);
    // OpenSSH answers every other errno (a full disk, an exhausted quota, an I/O error) with a bare FAILURE.
    if (code === 4) return ladingError(ctx.ioCode, `${said}; usually a full disk or an exhausted quota on the server`, info);
    if (code === 6 || code === 7) return ladingError('NETWORK_FAILED', said, info);
    return ladingError('UNCLASSIFIED', said, info);
  }
  if (typeof code === 'string') return undefined; // a socket errno (ECONNREFUSED, ECONNRESET, ENOTFOUND…)
  if (origin.connectionLost) return ladingError('NETWORK_FAILED', `${ctx.doing}: the SSH connection was lost (${detail})`, info);
  return undefined;
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
  /** The code for 401/403; default SINK_HTTP_AUTH (the http_upload destination uses DEST_AUTH_FAILED, which suspends deliveries). */
  readonly authCode?: ErrorCode;
}

const excerptLength = 200;
/** How much of a partner's reply is kept as the error's structured `partner.reply`: enough for on_rejection patterns. */
const replyLength = 2000;

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
  const answered = { ...info, partner: { status, reply: redact(bodyText, ctx.secrets ?? []).trim().slice(0, replyLength) } };
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
    return ladingError('SINK_HTTP_REJECTED', `${ctx.doing}: HTTP ${status} but "${jsonPath}" is ${shown} (${expected})${excerpt()}`, answered);
  }
  const statusText = `HTTP ${status}`;
  if (status === 429 || status === 408 || status === 425 || (status >= 500 && status <= 599)) {
    const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), ctx.now ?? new Date());
    const retry = retryAfterMs === undefined ? {} : { retryAfterMs };
    const after = retryAfterMs === undefined ? '' : ` (Retry-After ${retryAfterMs} ms)`;
    return ladingError(status === 429 ? 'SINK_HTTP_RATE_LIMITED' : 'SINK_HTTP_TRANSIENT', `${ctx.doing}: ${statusText}${after}${excerpt()}`, { ...answered, ...retry });
  }
  if (status === 401 || status === 403) return ladingError(ctx.authCode ?? 'SINK_HTTP_AUTH', `${ctx.doing}: ${statusText}, credentials refused${excerpt()}`, answered);
  return ladingError('SINK_HTTP_REJECTED', `${ctx.doing}: ${statusText}${excerpt()}`, answered);
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
// SQL databases (the sql sink and source, the PostgreSQL store): SQLSTATE from PostgreSQL, result codes from SQLite.
// Row-level kinds (constraint, data) let the sink isolate the offending rows; the rest decide
// whether the whole chunk is retried (transient, connect) or stopped (refused).

export type SqlErrorKind = 'constraint' | 'data' | 'transient' | 'connect' | 'refused';

export type SqlStage = 'sink' | 'source' | 'store';

const sqlCodes: Record<SqlStage, Record<SqlErrorKind, ErrorCode>> = {
  // The store's own rows never break a constraint on purpose (conflicts are ON CONFLICT): one that does is a fault.
  store: { constraint: 'STORE_FAILED', data: 'STORE_FAILED', transient: 'STORE_BUSY', connect: 'STORE_UNAVAILABLE', refused: 'STORE_FAILED' },
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

function classifySql(error: unknown, stage: SqlStage, ctx: ClassifyContext): LadingError {
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

// ---------------------------------------------------------------------------------------------
// Object stores (the s3 and gcs destinations). An HTTP answer surfaces as an error carrying its
// status: the AWS SDK puts it in `$metadata.httpStatusCode` with S3's error code as `name`;
// Google's client gives a numeric `code` (ApiError, resumable uploads) or gaxios' `status`, with
// a `reason` in `errors[]`. Errors without a status (refused, reset, DNS) fall through to errno.

const objectStoreTransient = new Set([
  'SlowDown', 'RequestTimeout', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded',
  'InternalError', 'ServiceUnavailable', 'OperationAborted', 'ConditionalRequestConflict', // S3
  'rateLimitExceeded', 'userRateLimitExceeded', 'backendError', 'internalError', // GCS
]);
const objectStoreAuth = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired',
  'AllAccessDisabled', 'AccountProblem', 'InvalidClientTokenId', 'RequestTimeTooSkewed', // S3 (and STS for role_arn)
  'invalid_grant', 'invalid_client', 'unauthorized_client', // Google's OAuth token endpoint
]);
/** The store computed another digest of the bytes than the one sent with them. */
const objectStoreDigest = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);

function objectStoreAnswer(error: unknown, store: 's3' | 'gcs'): { status: number; reason: string | undefined } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if (store === 's3') {
    const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
    if (typeof status !== 'number') return undefined;
    const name = nameOf(error);
    return { status, reason: typeof name === 'string' && name !== 'Error' ? name : undefined };
  }
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown; data?: { error?: unknown } }; errors?: { reason?: unknown }[] };
  const isStatus = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599;
  const status = [e.code, e.status, e.response?.status].find(isStatus);
  if (status === undefined) return undefined;
  const reason = Array.isArray(e.errors) ? e.errors.find((x) => typeof x?.reason === 'string')?.reason : undefined;
  const oauth = e.response?.data?.error;
  return { status, reason: typeof reason === 'string' ? reason : typeof oauth === 'string' ? oauth : undefined };
}

function classifyObjectStore(error: unknown, store: 's3' | 'gcs', ctx: ClassifyContext, detail: string, info: { cause: unknown; itemId?: string }): LadingError | undefined {
  const answer = objectStoreAnswer(error, store);
  if (!answer) {
    // The AWS default credential chain found nothing to sign with.
    if (store === 's3' && nameOf(error) === 'CredentialsProviderError') return ladingError('DEST_AUTH_FAILED', `${ctx.doing}: no AWS credentials: ${detail}`, info);
    return undefined;
  }
  const { status, reason } = answer;
  const what = `${reason === undefined ? '' : `${reason} `}(HTTP ${status})`;
  const said = `${ctx.doing}: ${what}${detail === '' || detail === reason || detail === 'UnknownError' ? '' : `: ${detail}`}`;
  if (reason !== undefined && objectStoreDigest.has(reason)) return ladingError('DEST_VERIFY_MISMATCH', `${said}; the store refused the bytes it received`, info);
  // 501: the store does not implement something asked of it (a conditional write, a checksum): retrying cannot help.
  if (status === 501) return ladingError(store === 's3' ? 'DEST_S3_REJECTED' : 'DEST_GCS_REJECTED', said, info);
  if (status >= 500 || status === 429 || status === 408 || status === 409 || (reason !== undefined && objectStoreTransient.has(reason))) {
    return ladingError(ctx.ioCode, said, info);
  }
  if (status === 401 || status === 403 || (reason !== undefined && objectStoreAuth.has(reason))) {
    return ladingError('DEST_AUTH_FAILED', `${said}; the credentials are refused or lack permission`, info);
  }
  if (status === 404) return ladingError('DEST_NOT_FOUND', said, info);
  if (status === 412) return ladingError('DEST_COLLISION', `${ctx.doing}: the object already exists (${what})`, info);
  return ladingError(store === 's3' ? 'DEST_S3_REJECTED' : 'DEST_GCS_REJECTED', said, info);
}

// ---------------------------------------------------------------------------------------------
// Notification channels (notify/): nodemailer's errors and the HTTP answers of Slack, webhooks and
// PagerDuty. Three codes only: try later, credentials refused, message refused for good.

/** nodemailer error codes that mean the message or its addresses were refused, not the connection. */
const smtpRefused = new Set(['EENVELOPE', 'EMESSAGE', 'ETLS', 'EREQUIRETLS', 'EMAXRECIPIENTS', 'ECONFIG']);

function classifyNotify(error: unknown, ctx: ClassifyContext): LadingError {
  const detail = redact(error instanceof Error ? error.message : String(error), ctx.secrets ?? []);
  const info = { cause: error };
  const code = errnoOf(error);
  const reply = typeof error === 'object' && error !== null ? (error as { responseCode?: unknown }).responseCode : undefined;
  if (code === 'EAUTH' || code === 'ENOAUTH' || reply === 530 || reply === 534 || reply === 535) {
    return ladingError('NOTIFY_AUTH_FAILED', `${ctx.doing}: credentials refused: ${detail}`, info);
  }
  if (typeof reply === 'number' && reply >= 500) return ladingError('NOTIFY_REJECTED', `${ctx.doing}: ${detail}`, info);
  if (code !== undefined && smtpRefused.has(code) && !(typeof reply === 'number' && reply < 500)) return ladingError('NOTIFY_REJECTED', `${ctx.doing}: ${detail} (${code})`, info);
  return ladingError('NOTIFY_UNAVAILABLE', `${ctx.doing}: ${isTimeout(error) ? 'timed out' : detail}${code === undefined ? '' : ` (${code})`}`, info);
}

/** A notification channel's HTTP answer: undefined on 2xx, else the same decision as classifyHttpResponse under NOTIFY_ codes. */
export function classifyNotifyResponse(status: number, headers: HttpHeaders, bodyText: string, ctx: HttpResponseContext): LadingError | undefined {
  const answer = classifyHttpResponse(status, headers, bodyText, { ...ctx, authCode: 'NOTIFY_AUTH_FAILED' });
  if (answer === undefined || answer.code === 'NOTIFY_AUTH_FAILED') return answer;
  return ladingError(answer.transient ? 'NOTIFY_UNAVAILABLE' : 'NOTIFY_REJECTED', answer.message, answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs });
}

/** Fastify's own request errors (its FST_ERR_* codes) → the API's codes; anything else goes through classify(). */
const fastifyRequestErrors: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'API_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'API_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'API_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'API_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'API_BAD_REQUEST',
  FST_ERR_VALIDATION: 'API_BAD_REQUEST',
};

/** An error met while the HTTP API handled a request: fastify's body and schema errors become API_* codes. */
export function classifyRequestError(error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  const e = error as { code?: unknown; validation?: unknown; statusCode?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? fastifyRequestErrors[e.code] : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (code !== undefined) return ladingError(code, message, { cause: error });
  // A body the JSON parser refused surfaces as a SyntaxError with status 400.
  if (e.validation !== undefined || (error instanceof SyntaxError && e.statusCode === 400)) return ladingError('API_BAD_REQUEST', message, { cause: error });
  return classify(error, { ioCode: 'UNCLASSIFIED', doing: 'handling a request' });
}
