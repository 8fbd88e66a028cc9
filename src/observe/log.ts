import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';
import { redact } from '../errors/classify.js';
import type { LogLevel } from './levels.js';

/**
 * The one logger of long-running commands (`lading serve`, `lading triggers`): JSON lines, one
 * pino instance shared with fastify. Secrets are kept out in two ways: by field (pino `redact`
 * paths: credential headers, and keys named like passwords, tokens or secrets at any of the first
 * levels), and by value in every message and error text (the secret values of the served
 * pipelines' configs, plus patterns of credentials: API keys, bearer tokens, URL passwords,
 * `password=…`).
 */

export { logLevels, type LogLevel } from './levels.js';

const secretKeys = ['password', 'passphrase', 'token', 'secret', 'api_key', 'apiKey', 'private_key', 'secret_access_key', 'authorization', 'routing_key', 'webhook_url'];

/** Field paths pino replaces with [Redacted]: request credentials, and secret-named keys up to three levels deep. */
export const redactPaths: readonly string[] = [
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'res.headers["set-cookie"]',
  ...secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
];

const patterns: readonly [RegExp, string][] = [
  // lading API keys keep their id (it names the key in `lading keys list`), never their secret.
  [/\blading_([0-9a-z]{16})_[A-Za-z0-9_-]{20,}/g, 'lading_$1_***'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 ***'],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^/@\s:]*):[^/@\s]*@/gi, '$1:***@'],
  [/\b(password|passwd|pwd|passphrase|token|secret|api[_-]?key)(["']?\s*[=:]\s*["']?)[^\s"',;&]+/gi, '$1$2***'],
];

/** A text with every known secret value and every credential pattern replaced by ***. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = redact(text, secrets);
  for (const [pattern, replacement] of patterns) out = out.replace(pattern, replacement);
  return out;
}

/** Cleans the strings of plain objects and arrays; other objects (errors, requests) are left to their serializers. */
function scrub(value: unknown, clean: (text: string) => string): unknown {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, clean));
  if (value === null || typeof value !== 'object') return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, clean)]));
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where the lines go; default stderr (stdout belongs to the command's own output). */
  readonly destination?: DestinationStream;
  /** Secret values to mask wherever they appear (asked at each line: a reload may add some). */
  readonly secrets?: () => readonly string[];
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = opts.secrets ?? (() => []);
  const clean = (text: string): string => redactText(text, secrets());
  return pino({
    level: opts.level ?? 'info',
    base: { service: 'lading' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...redactPaths], censor: '[Redacted]' },
    serializers: {
      err: (error: Error) => {
        const out = stdSerializers.err(error);
        return { ...out, message: clean(out.message), ...(out.stack === undefined ? {} : { stack: clean(out.stack) }) };
      },
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? clean(arg) : arg)) as Parameters<typeof method>);
      },
    },
    formatters: {
      // Event fields carry messages of foreign errors (a partner's answer may echo a credential).
      log: (object) => scrub(object, clean) as Record<string, unknown>,
    },
  }, opts.destination ?? pino.destination(2));
}

/** What the HTTP access line says about a request. */
export interface AccessEntry {
  readonly reqId: string;
  readonly method: string;
  /** Without the query string, any API key in it masked (the caller's business). */
  readonly path: string;
  readonly statusCode: number;
  readonly responseTimeMs: number;
  /** The id of the API key the request carried. */
  readonly keyId?: string | undefined;
}

/** Writes access lines; `flush` writes at once the lines still held. */
export interface AccessLog {
  (entry: AccessEntry): void;
  flush(): void;
}

/**
 * The HTTP access line (`request completed`, info) as `logger` would write it — the same stream,
 * level, time format, base and fields — from a template rather than pino's generic serializer:
 * its fields are fixed and hold no secret, so redaction and scrubbing have nothing to do, and the
 * template writes a line in about a quarter of the time (`npx tsx bench/access-line.ts`, which
 * checks both write the same JSON).
 *
 * The lines of one turn of the event loop (the answers of a group commit, say) go out in one
 * write at its end: a write per request held single-record POSTs to 17.1-18.7k req/s against
 * 18.6-18.7k (3 alternating pairs; at --log-level warn 18.1-22.1k; docs/benchmarks.md, machine K).
 * A line can thus follow another logger line of the same turn; a crash loses at most that turn's
 * lines and those the stream holds. The stream is pino's default SonicBoom, asynchronous: its
 * write(2) runs on libuv's pool, and what is written meanwhile waits in its buffer for the next.
 * A synchronous stream cost less CPU but served fewer POSTs: 28.6k against 31.8k req/s (8
 * alternating rounds; docs/benchmarks.md, machine Z).
 */
export function accessLog(logger: Logger): AccessLog {
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  const level = pino.levels.values.info!;
  // Requests answered together share a millisecond: its ISO text is made once.
  let ms = 0;
  let time = '';
  let held = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (held === '') return;
    const lines = held;
    held = '';
    stream.write(lines);
  };
  const write = (entry: AccessEntry) => {
    if (!logger.isLevelEnabled('info')) return;
    const now = Date.now();
    if (now !== ms) time = new Date((ms = now)).toISOString();
    const key = entry.keyId === undefined ? '' : `"key":${JSON.stringify(entry.keyId)},`;
    held += `{"level":${level},"time":"${time}","service":"lading","reqId":${JSON.stringify(entry.reqId)},`
      + `"req":{"method":${JSON.stringify(entry.method)},"url":${JSON.stringify(entry.path)}},"res":{"statusCode":${entry.statusCode}},`
      + `"responseTime":${JSON.stringify(entry.responseTimeMs)},${key}"msg":"request completed"}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return Object.assign(write, { flush });
}

/** A logger that writes nothing: the default of embedded servers and tests. */
export const silentLogger = (): Logger => createLogger({ level: 'silent' });
