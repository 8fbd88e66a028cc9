import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import { defineDestination } from '../core/component.js';
import { duration } from '../config/units.js';
import { classify, classifyHttpResponse } from '../errors/classify.js';
import { ladingError, LadingError } from '../errors/lading-error.js';
import { authHeaders, drain, headerName, httpAuthConfig, httpSuccessConfig, readText, reservedHeaders, sensitiveHeader } from '../core/http.js';
import type { Destination, PutOptions, PutReceipt } from './types.js';

// ---------------------------------------------------------------------------------------------
// Templates: `{name}` is the file name (each path segment URL-encoded in a URL, `/` kept),
// `{basename}` its last segment; `{pipeline}`, `{batch_id}` and `{run_id}` the run's values.

const tokenNames = ['name', 'basename', 'pipeline', 'batch_id', 'run_id'] as const;
type Token = (typeof tokenNames)[number];
/** stat() knows only the name: stat_url may not use the run's ids. */
const statTokens: readonly Token[] = ['name', 'basename', 'pipeline'];
const tokenPattern = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
const tokensIn = (text: string): string[] => [...text.matchAll(tokenPattern)].map((m) => m[1]!);

function render(text: string, values: Readonly<Partial<Record<Token, string>>>, inUrl: boolean): string {
  return text.replace(tokenPattern, (_, token: Token) => {
    const value = values[token];
    if (value === undefined) {
      throw ladingError('CONFIG_INVALID', `output.destination: {${token}} has no value here (the put carries no ${token}); remove it from the template`);
    }
    if (!inUrl) return value.replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c)); // header values: printable ASCII
    return token === 'name' ? value.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(value);
  });
}

// ---------------------------------------------------------------------------------------------
// Config

/** Headers lading sets for an upload; a config may not set them too. */
const uploadHeaders = new Set(['content-type', 'digest', 'x-checksum-sha256']);

export const httpUploadConfig = z.object({
  type: z.literal('http_upload'),
  url: z.string().min(1)
    .describe('Where each file is sent. Tokens: `{name}` (the file name; each path segment URL-encoded, `/` kept), `{basename}` (its last segment), `{pipeline}`, `{batch_id}`, `{run_id}`: `https://files.partner.example/inbound/{name}`. The file name must reach the receiver: through url, a header, or encoding: multipart.'),
  method: z.enum(['PUT', 'POST']).default('PUT').describe('HTTP method.'),
  encoding: z.enum(['raw', 'multipart']).default('raw')
    .describe('`raw`: the body is the file\'s bytes. `multipart`: multipart/form-data with a `name` field (the file name), a `sha256` field (when known) and the file in `file_field`; both stream.'),
  file_field: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . -').default('file').describe('multipart: the form field that carries the file.'),
  content_type: z.string().min(1).regex(/^[^\r\n\0]+$/, 'one line').default('application/octet-stream')
    .describe('Content-Type of the file: of the request (raw) or of the file part (multipart), e.g. `text/csv` or `application/gzip`.'),
  headers: z.record(z.string(), z.string()).default({})
    .describe('Extra request headers. Values may use the url tokens (`X-File-Name: {name}`; non-ASCII is percent-encoded) and ${env:NAME}; values of headers named like a credential (auth, key, token, secret, cookie…) are never shown in messages.'),
  auth: httpAuthConfig.default({ type: 'none' })
    .describe('`{type: none}`, `{type: basic, username, password}`, `{type: bearer, token}` or `{type: api_key, header, value}`, as for the http sink. Credentials are secrets: write ${env:NAME}.'),
  success: httpSuccessConfig.prefault({})
    .describe('What counts as delivered: `status` (default any 2xx) and optionally a field of the JSON answer (`json_path`, `equals`).'),
  idempotency_header: z.string().regex(headerName, 'a header name').default('Idempotency-Key')
    .describe('Header carrying a key derived from the file name and its sha256: equal on every retry and re-run of the same file, so the receiver can drop duplicates. Sent when the sha256 is known before sending (always for files the file sink renders).'),
  timeout: duration().refine((ms) => ms > 0, 'must be more than 0').default(60_000)
    .describe('How long an upload may make no progress (no body bytes taken, no answer) before it fails as transient (SINK_HTTP_TIMEOUT). Not a limit on the whole upload: a large file may take longer. Default: 60s.'),
  stat_url: z.string().min(1).optional()
    .describe('A URL answering HEAD for a delivered file, with `{name}`, `{basename}`, `{pipeline}`: 200 with Content-Length (and X-Checksum-SHA256, Digest or Content-Digest when the receiver has them) or 404. Enables stat and the on_collision check before sending. Without it, stat reports nothing and refusing a second copy is the receiver\'s job.'),
  healthcheck_url: z.string().min(1).optional()
    .describe('URL that `lading validate`, `lading destinations test` and run start send OPTIONS to (with auth and headers). Healthy unless it answers 401/403, 408, 425, 429 or 5xx, or cannot be reached. Default: the origin of url (`https://files.partner.example/`).'),
}).strict().superRefine((config, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const checkUrl = (key: 'url' | 'stat_url' | 'healthcheck_url', allowed: readonly string[]) => {
    const text = config[key];
    if (text === undefined) return;
    const unknown = tokensIn(text).filter((t) => !allowed.includes(t));
    if (unknown.length > 0) issue([key], `uses ${unknown.map((t) => `{${t}}`).join(' ')}; allowed here: ${allowed.length === 0 ? 'no tokens' : allowed.map((t) => `{${t}}`).join(' ')}`);
    let url: URL | undefined;
    try {
      url = new URL(text.replace(tokenPattern, 'x'));
    } catch {
      issue([key], 'is not an absolute URL (with tokens replaced)');
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') issue([key], 'must start with http:// or https://');
    if (url && (url.username !== '' || url.password !== '')) issue([key], 'must not hold credentials; use auth');
  };
  checkUrl('url', tokenNames);
  checkUrl('stat_url', statTokens);
  checkUrl('healthcheck_url', []);
  const names = new Set<string>();
  for (const [name, value] of Object.entries(config.headers)) {
    const lower = name.toLowerCase();
    if (!headerName.test(name)) issue(['headers', name], 'is not a valid header name');
    if (reservedHeaders.has(lower) || uploadHeaders.has(lower)) issue(['headers', name], lower === 'content-type' ? 'is set from content_type; use that' : 'is set by lading; remove it');
    if (lower === config.idempotency_header.toLowerCase()) issue(['headers', name], 'is the idempotency_header, which lading sets');
    if (names.has(lower)) issue(['headers', name], 'appears twice (header names ignore case)');
    names.add(lower);
    if (/[\r\n\0]/.test(value)) issue(['headers', name], 'holds a line break or NUL');
    const unknown = tokensIn(value).filter((t) => !(tokenNames as readonly string[]).includes(t));
    if (unknown.length > 0) issue(['headers', name], `uses ${unknown.map((t) => `{${t}}`).join(' ')}; allowed: ${tokenNames.map((t) => `{${t}}`).join(' ')}`);
  }
  const authHeader = config.auth.type === 'api_key' ? config.auth.header.toLowerCase() : config.auth.type === 'none' ? undefined : 'authorization';
  if (authHeader && names.has(authHeader)) issue(['headers'], `sets ${authHeader}, which auth sets; remove one`);
  if (authHeader && authHeader === config.idempotency_header.toLowerCase()) issue(['idempotency_header'], 'is the header auth sets');
  const carriesName = [config.url, ...Object.values(config.headers)].some((t) => tokensIn(t).some((x) => x === 'name' || x === 'basename'));
  if (!carriesName && config.encoding === 'raw') {
    issue(['url'], 'does not carry the file name: put {name} in url or in a header (X-File-Name: {name}), or use encoding: multipart; otherwise every file goes to the same place');
  }
  if (config.success.equals !== undefined && config.success.json_path === undefined) issue(['success', 'equals'], 'needs success.json_path');
}).meta({ id: 'destination.http_upload' });

export type HttpUploadConfig = z.output<typeof httpUploadConfig>;

export const httpUpload = defineDestination({
  type: 'http_upload',
  summary: 'Sends each file in one HTTP request (PUT or POST, raw or multipart), streamed, with its sha256 and an idempotency key; the receiver makes it visible.',
  schema: httpUploadConfig,
  create: (config, ctx) => new HttpUploadDestination(config, { pipeline: ctx.pipeline, clock: ctx.clock }),
});

// ---------------------------------------------------------------------------------------------
// The destination

/** Response bytes kept for the success check and error excerpts. */
const responseCap = 64 * 1024;

const stripQuery = (url: URL): string => `${url.origin}${url.pathname}`;

/** The body as it goes out: counted and hashed; the last chunk is held back until the totals check out. */
interface Sent {
  bytes: number;
  readonly hash: ReturnType<typeof createHash>;
  sha256?: string;
  /** Set when the body (the rendered file) failed or did not match what was expected. */
  failure?: unknown;
}

/** Aborts when nothing happened for `ms`; every sign of progress calls touch(). */
class Watchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(private readonly ms: number) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new DOMException(`no progress for ${this.ms} ms`, 'TimeoutError'));
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

export class HttpUploadDestination implements Destination {
  readonly type = 'http_upload';
  readonly description: string;
  private agent: Agent | undefined;
  private readonly fixedHeaders: Record<string, string>;
  private readonly templatedHeaders: [string, string][];
  private readonly secrets: string[];

  constructor(private readonly config: HttpUploadConfig, private readonly build: { readonly pipeline: string; readonly clock: Clock }) {
    this.description = `http_upload:${config.method} ${config.url.split(/[?#]/)[0]}`;
    const credentials = authHeaders(config.auth);
    const fixed: Record<string, string> = { 'user-agent': 'lading', ...credentials.headers };
    const templated: [string, string][] = [];
    const secrets = [...credentials.secrets];
    for (const [name, value] of Object.entries(config.headers)) {
      if (sensitiveHeader.test(name)) secrets.push(value, ...value.split(/\s+/).filter((part) => part.length >= 8));
      if (tokensIn(value).length > 0) templated.push([name.toLowerCase(), value]);
      else fixed[name.toLowerCase()] = value;
    }
    this.fixedHeaders = fixed;
    this.templatedHeaders = templated;
    this.secrets = secrets.filter((s) => s.length > 0);
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    const values = this.values(name, opts);
    const url = new URL(render(this.config.url, values, true));
    const doing = `${this.config.method} ${stripQuery(url)}`;
    if (this.config.stat_url && opts.onCollision !== 'overwrite') {
      const existing = await this.stat(name);
      if (existing) {
        const { expected } = opts;
        const identical = opts.onCollision === 'skip_if_identical' && expected !== undefined
          && existing.bytes === expected.bytes && existing.sha256 === expected.sha256;
        if (identical) return { uri: stripQuery(url), bytes: existing.bytes, sha256: expected.sha256, attempts: 1, skipped: true };
        const why = existing.sha256 === undefined && opts.onCollision === 'skip_if_identical' ? ' (its HEAD answer carries no sha256, so it cannot be shown identical)' : ' with different content';
        throw ladingError('DEST_COLLISION', `${stripQuery(url)} already exists${why}`);
      }
    }

    // Known before sending: from what the file sink rendered, or from a body already in memory (sidecars, manifests).
    const known = opts.expected ?? (Array.isArray(body) ? measure(body as readonly Uint8Array[]) : undefined);
    const headers: Record<string, string> = { ...this.fixedHeaders };
    for (const [header, value] of this.templatedHeaders) headers[header] = render(value, values, false);
    let prefix: Buffer | undefined;
    let suffix: Buffer | undefined;
    if (this.config.encoding === 'multipart') {
      const boundary = `lading-${randomBytes(16).toString('hex')}`;
      prefix = multipartHead(boundary, name, this.config.file_field, this.config.content_type, known?.sha256);
      suffix = Buffer.from(`\r\n--${boundary}--\r\n`);
      headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
    } else {
      headers['content-type'] = this.config.content_type;
      if (known) headers.digest = `sha-256=${Buffer.from(known.sha256, 'hex').toString('base64')}`;
    }
    if (known) {
      headers['content-length'] = String(known.bytes + (prefix?.length ?? 0) + (suffix?.length ?? 0));
      headers['x-checksum-sha256'] = known.sha256;
      headers[this.config.idempotency_header.toLowerCase()] = createHash('sha256').update(`${name}\0${known.sha256}`).digest('hex');
    }

    const sent: Sent = { bytes: 0, hash: createHash('sha256') };
    const watchdog = new Watchdog(this.config.timeout);
    try {
      const response = await (await this.dispatcher()).request({
        origin: url.origin, path: `${url.pathname}${url.search}`, method: this.config.method, headers,
        body: Readable.from(streamed(body, sent, known, doing, () => watchdog.touch(), prefix, suffix), { objectMode: false }),
        signal: AbortSignal.any([opts.signal, watchdog.signal]), headersTimeout: 0, bodyTimeout: 0,
      });
      watchdog.touch();
      const error = await this.answer(response, doing);
      if (error) throw error;
      return { uri: stripQuery(url), bytes: sent.bytes, sha256: sent.sha256!, attempts: 1, skipped: false };
    } catch (error) {
      if (opts.signal.aborted) throw opts.signal.reason ?? error;
      if (sent.failure !== undefined) throw classify(sent.failure, { ioCode: 'DEST_WRITE_FAILED', doing });
      if (error instanceof LadingError) throw error;
      if (watchdog.fired) throw ladingError('SINK_HTTP_TIMEOUT', `${doing}: no progress for ${this.config.timeout} ms (after ${sent.bytes} bytes)`, { cause: error });
      throw classify(error, { ioCode: 'NETWORK_FAILED', doing, timeoutCode: 'SINK_HTTP_TIMEOUT' });
    } finally {
      watchdog.stop();
    }
  }

  /** HEAD stat_url: size from Content-Length, sha256 when the receiver sends one; null on 404/410 or without stat_url. */
  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    if (this.config.stat_url === undefined) return null;
    const url = new URL(render(this.config.stat_url, this.values(name), true));
    const doing = `HEAD ${stripQuery(url)}`;
    const watchdog = new Watchdog(this.config.timeout);
    try {
      const headers: Record<string, string> = { ...this.fixedHeaders };
      for (const [header, value] of this.templatedHeaders) {
        if (tokensIn(value).every((t) => (statTokens as readonly string[]).includes(t))) headers[header] = render(value, this.values(name), false);
      }
      const response = await (await this.dispatcher()).request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'HEAD', headers, signal: watchdog.signal, headersTimeout: 0, bodyTimeout: 0 });
      await drain(response.body);
      if (response.statusCode === 404 || response.statusCode === 410) return null;
      const error = classifyHttpResponse(response.statusCode, response.headers, '', { doing, secrets: this.secrets, now: this.build.clock.now(), authCode: 'DEST_AUTH_FAILED' });
      if (error) throw error;
      const length = header(response.headers, 'content-length');
      if (length === undefined || !/^\d+$/.test(length)) throw ladingError('SINK_HTTP_BAD_RESPONSE', `${doing}: HTTP ${response.statusCode} without a Content-Length`);
      const sha256 = answeredSha256(response.headers);
      return { bytes: Number(length), ...(sha256 === undefined ? {} : { sha256 }) };
    } catch (error) {
      if (error instanceof LadingError) throw error;
      if (watchdog.fired) throw ladingError('SINK_HTTP_TIMEOUT', `${doing}: no answer within ${this.config.timeout} ms`, { cause: error });
      throw classify(error, { ioCode: 'NETWORK_FAILED', doing, timeoutCode: 'SINK_HTTP_TIMEOUT' });
    } finally {
      watchdog.stop();
    }
  }

  /** OPTIONS to healthcheck_url (default: url's origin) with auth: reachable, credentials not refused, no 5xx. Uploads nothing. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    const url = new URL(this.config.healthcheck_url ?? `${new URL(this.config.url.replace(tokenPattern, 'x')).origin}/`);
    const doing = `OPTIONS ${stripQuery(url)}`;
    const watchdog = new Watchdog(this.config.timeout);
    try {
      const response = await (await this.dispatcher()).request({
        origin: url.origin, path: `${url.pathname}${url.search}`, method: 'OPTIONS', headers: this.fixedHeaders,
        signal: AbortSignal.any([signal, watchdog.signal]), headersTimeout: 0, bodyTimeout: 0,
      });
      const status = response.statusCode;
      const failed = status === 401 || status === 403 || status === 408 || status === 425 || status === 429 || status >= 500;
      const text = failed ? await readText(response.body, responseCap) : await drain(response.body);
      if (failed) throw classifyHttpResponse(status, response.headers, text, { doing, secrets: this.secrets, now: this.build.clock.now(), success: [], authCode: 'DEST_AUTH_FAILED' })!;
    } catch (error) {
      if (error instanceof LadingError) throw error;
      if (signal.aborted) throw signal.reason ?? error;
      if (watchdog.fired) throw ladingError('SINK_HTTP_TIMEOUT', `${doing}: no answer within ${this.config.timeout} ms`, { cause: error });
      throw classify(error, { ioCode: 'NETWORK_FAILED', doing, timeoutCode: 'SINK_HTTP_TIMEOUT' });
    } finally {
      watchdog.stop();
    }
  }

  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await agent?.close();
  }

  /** undici loads on first use: importing it costs every `lading` command a tenth of a second. */
  private async dispatcher(): Promise<Agent> {
    if (this.agent === undefined) {
      const { Agent } = await import('undici');
      this.agent ??= new Agent({ pipelining: 1 });
    }
    return this.agent;
  }

  private values(name: string, opts?: PutOptions): Partial<Record<Token, string>> {
    const meta = opts?.metadata ?? {};
    return {
      name, basename: name.split('/').at(-1)!, pipeline: meta.pipeline ?? this.build.pipeline,
      ...(meta.batch_id === undefined ? {} : { batch_id: meta.batch_id }),
      ...(meta.run_id === undefined ? {} : { run_id: meta.run_id }),
    };
  }

  /** Reads the answer (to the end, so the connection is reused) and decides: undefined when delivered. */
  private async answer(response: Dispatcher.ResponseData, doing: string): Promise<LadingError | undefined> {
    const { success } = this.config;
    const status = response.statusCode;
    const accepted = success.status ? success.status.includes(status) : status >= 200 && status < 300;
    const text = accepted && success.json_path === undefined ? await drain(response.body) : await readText(response.body, responseCap);
    return classifyHttpResponse(status, response.headers, text, {
      doing, secrets: this.secrets, now: this.build.clock.now(), authCode: 'DEST_AUTH_FAILED',
      ...(success.status ? { success: success.status } : {}),
      ...(success.json_path === undefined ? {} : { expect: { jsonPath: success.json_path, equals: success.equals } }),
    });
  }
}

function measure(chunks: readonly Uint8Array[]): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const chunk of chunks) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** The head of a multipart/form-data body up to the file's bytes (HTML's encoding: UTF-8, `"` CR LF percent-encoded in names). */
function multipartHead(boundary: string, name: string, field: string, contentType: string, sha256: string | undefined): Buffer {
  const quoted = (text: string) => text.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const text = (fieldName: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${fieldName}"\r\n\r\n${value}\r\n`;
  return Buffer.from(
    text('name', name)
    + (sha256 === undefined ? '' : text('sha256', sha256))
    + `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${quoted(name.split('/').at(-1)!)}"\r\nContent-Type: ${contentType}\r\n\r\n`,
    'utf8',
  );
}

/**
 * The request body: prefix, the file's bytes counted and hashed on their way out, suffix. The
 * last chunk is held back until the totals are checked against `expected`, so a file that does
 * not match never reaches the receiver complete (the request is cut short instead).
 */
async function* streamed(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sent: Sent, expected: { readonly bytes: number; readonly sha256: string } | undefined,
  doing: string, progress: () => void, prefix: Buffer | undefined, suffix: Buffer | undefined,
): AsyncGenerator<Buffer> {
  try {
    if (prefix) {
      yield prefix;
      progress();
    }
    let held: Buffer | undefined;
    for await (const chunk of body) {
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      sent.hash.update(buffer);
      sent.bytes += buffer.length;
      if (expected && sent.bytes > expected.bytes) throw mismatch(doing, sent, expected);
      if (held) {
        yield held;
        progress();
      }
      held = buffer;
    }
    sent.sha256 = sent.hash.digest('hex');
    if (expected && (sent.bytes !== expected.bytes || sent.sha256 !== expected.sha256)) throw mismatch(doing, sent, expected);
    if (held) yield held;
    if (suffix) yield suffix;
    progress();
  } catch (error) {
    sent.failure = error;
    throw error;
  }
}

function mismatch(doing: string, sent: Sent, expected: { readonly bytes: number; readonly sha256: string }): LadingError {
  const got = sent.sha256 === undefined ? `more than ${expected.bytes} bytes` : `${sent.bytes} bytes sha256 ${sent.sha256}`;
  return ladingError('DEST_VERIFY_MISMATCH', `${doing}: the file read ${got}, expected ${expected.bytes} bytes sha256 ${expected.sha256}; the upload was cut short`);
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The sha256 a receiver reports for a stored file: X-Checksum-SHA256 (hex), Content-Digest or Digest (base64). */
function answeredSha256(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const hex = header(headers, 'x-checksum-sha256')?.trim().toLowerCase();
  if (hex && /^[0-9a-f]{64}$/.test(hex)) return hex;
  for (const name of ['content-digest', 'digest']) {
    const match = /(?:^|,)\s*sha-256=:?([A-Za-z0-9+/=]+):?/i.exec(header(headers, name) ?? '');
    if (match) {
      const bytes = Buffer.from(match[1]!, 'base64');
      if (bytes.length === 32) return bytes.toString('hex');
    }
  }
  return undefined;
}
