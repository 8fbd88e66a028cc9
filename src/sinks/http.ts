import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Agent, Dispatcher } from 'undici';
import { z } from 'zod';
import { defineSink, type BuildContext } from '../core/component.js';
import { authHeaders, drain, headerName, httpAuthConfig, httpSuccessConfig, readText, reservedHeaders, sensitiveHeader } from '../core/http.js';
import { itemRef, type Chunk, type Item } from '../core/item.js';
import { duration, secret } from '../config/units.js';
import { classify, classifyHttpResponse, redact } from '../errors/classify.js';
import { ladingError, type LadingError } from '../errors/lading-error.js';
import type { ChunkContext, RecordSink, RunContext, SinkSummary } from './types.js';

// ---------------------------------------------------------------------------------------------
// Templates. `{name}` reads the record field `name` (dots for nesting: `{customer.id}`), except
// the run tokens below, which always mean the run's values. Nothing else is special: a brace not
// followed by a field name and `}` is literal text.

const runTokens = { pipeline: 'pipeline name', run_id: 'run id', batch_id: 'batch id (the run id for sources without batches)' } as const;
type RunToken = keyof typeof runTokens;
type RunValues = Readonly<Record<RunToken, string>>;

const tokenPattern = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
const isRunToken = (name: string): name is RunToken => Object.hasOwn(runTokens, name);

/** Record fields a template reads (run tokens excluded). */
const recordTokens = (text: string): string[] => [...text.matchAll(tokenPattern)].map((m) => m[1]!).filter((name) => !isRunToken(name));

/** Why a value cannot go into a template, or undefined when it can. */
class TemplateMiss extends Error {
  constructor(readonly field: string, readonly problem: string) {
    super(`{${field}} ${problem}`);
  }
}

/** A value placed inside text (a URL, a header, a string of body_template): a string, number or boolean. */
function scalarText(value: unknown, field: string, allowEmpty: boolean): string {
  if (value === undefined) throw new TemplateMiss(field, 'is missing');
  if (typeof value === 'string') {
    if (value === '' && !allowEmpty) throw new TemplateMiss(field, 'is empty');
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  throw new TemplateMiss(field, `is ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}, not text`);
}

function readField(record: unknown, path: string): unknown {
  if (typeof record === 'object' && record !== null && !Array.isArray(record) && Object.hasOwn(record, path)) return (record as Record<string, unknown>)[path];
  let node = record;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function renderText(text: string, record: unknown, run: RunValues, encode: (value: string) => string, allowEmpty: boolean): string {
  return text.replace(tokenPattern, (_, name: string) =>
    encode(isRunToken(name) ? run[name] : scalarText(readField(record, name), name, allowEmpty)));
}

/**
 * body_template: a JSON object copied for each record. A string that is exactly one token
 * (`"{price}"`) takes the field's value with its type (number, list, object, null); any other
 * string has its tokens replaced by text.
 */
function renderBody(template: unknown, record: unknown, run: RunValues): unknown {
  if (typeof template === 'string') {
    const whole = /^\{([A-Za-z_][A-Za-z0-9_.-]*)\}$/.exec(template);
    if (whole && !isRunToken(whole[1]!)) {
      const value = readField(record, whole[1]!);
      if (value === undefined) throw new TemplateMiss(whole[1]!, 'is missing');
      return value;
    }
    return renderText(template, record, run, (v) => v, true);
  }
  if (Array.isArray(template)) return template.map((v) => renderBody(v, record, run));
  if (typeof template === 'object' && template !== null) {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderBody(v, record, run)]));
  }
  return template;
}

function bodyTokens(template: unknown): string[] {
  if (typeof template === 'string') return recordTokens(template);
  if (Array.isArray(template)) return template.flatMap(bodyTokens);
  if (typeof template === 'object' && template !== null) return Object.values(template).flatMap(bodyTokens);
  return [];
}

// ---------------------------------------------------------------------------------------------
// Config

export const httpSinkConfig = z.object({
  type: z.literal('http'),
  url: z.string().min(1)
    .describe('Request URL. `{field}` inserts a record field, URL-encoded (`https://api.example/products/{sku}`); `{pipeline}`, `{run_id}` and `{batch_id}` insert the run\'s values. With batch_size > 1 only those run tokens are allowed.'),
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST').describe('HTTP method.'),
  headers: z.record(z.string(), z.string()).default({})
    .describe('Extra request headers. Values may use the same tokens as url and ${env:NAME}; values of headers named like a credential (auth, key, token, secret, cookie…) are never shown in messages.'),
  auth: httpAuthConfig.default({ type: 'none' })
    .describe('`{type: none}`, `{type: basic, username, password}`, `{type: bearer, token}` or `{type: api_key, header, value}`. Credentials are secrets: write ${env:NAME}.'),
  batch_size: z.number().int().min(1).max(10_000).default(1)
    .describe('Records per request. 1 sends each record as a JSON object; more sends a JSON array (body: json) or NDJSON lines (body: ndjson).'),
  body: z.enum(['json', 'ndjson']).default('json').describe('Body encoding: `json` (object, or array when batching) or `ndjson` (one line per record).'),
  body_template: z.record(z.string(), z.unknown()).optional()
    .describe('A JSON object sent instead of the record. A string value that is exactly `{field}` takes the field\'s value and type; other strings have their `{field}` tokens replaced by text. A missing field fails the item (SINK_HTTP_TEMPLATE).'),
  success: httpSuccessConfig.prefault({}).describe('What counts as success. A 200 whose json_path check fails is a permanent SINK_HTTP_REJECTED.'),
  timeout: duration().refine((ms) => ms > 0, 'must be more than 0').optional().describe('Per request, until the whole answer is read. Default: execution.timeout when set, else 30s.'),
  idempotency_header: z.string().regex(headerName, 'a header name').default('Idempotency-Key')
    .describe('Header carrying the idempotency key (`<run>:<item id>`, or a digest of the ids for a batch), equal across retries.'),
  max_connections: z.number().int().min(1).max(1024).default(10).describe('Keep-alive connections per origin.'),
}).strict().superRefine((config, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const sample = config.url.replace(tokenPattern, 'x');
  let url: URL | undefined;
  try {
    url = new URL(sample);
  } catch {
    issue(['url'], 'is not an absolute URL (with tokens replaced)');
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') issue(['url'], 'must start with http:// or https://');
  if (url && (url.username !== '' || url.password !== '')) issue(['url'], 'must not hold credentials; use output.auth');
  const names = new Set<string>();
  for (const [name, value] of Object.entries(config.headers)) {
    const lower = name.toLowerCase();
    if (!headerName.test(name)) issue(['headers', name], 'is not a valid header name');
    if (reservedHeaders.has(lower)) issue(['headers', name], 'is set by lading; remove it');
    if (lower === config.idempotency_header.toLowerCase()) issue(['headers', name], 'is the idempotency_header, which lading sets');
    if (names.has(lower)) issue(['headers', name], 'appears twice (header names ignore case)');
    names.add(lower);
    if (/[\r\n\0]/.test(value)) issue(['headers', name], 'holds a line break or NUL');
  }
  const authHeader = config.auth.type === 'api_key' ? config.auth.header.toLowerCase() : config.auth.type === 'none' ? undefined : 'authorization';
  if (authHeader && names.has(authHeader)) issue(['headers'], `sets ${authHeader}, which output.auth sets; remove one`);
  if (authHeader && authHeader === config.idempotency_header.toLowerCase()) issue(['idempotency_header'], 'is the header output.auth sets');
  if (config.batch_size > 1) {
    const fields = recordTokens(config.url);
    if (fields.length > 0) issue(['url'], `uses record fields (${fields.map((f) => `{${f}}`).join(' ')}); with batch_size > 1 a request carries many records, so only {pipeline}, {run_id} and {batch_id} are allowed`);
    for (const [name, value] of Object.entries(config.headers)) {
      const inHeader = recordTokens(value);
      if (inHeader.length > 0) issue(['headers', name], `uses record fields (${inHeader.map((f) => `{${f}}`).join(' ')}); not allowed with batch_size > 1`);
    }
  }
  if (config.success.equals !== undefined && config.success.json_path === undefined) issue(['success', 'equals'], 'needs success.json_path');
}).meta({ id: 'sink.http' });

export type HttpSinkConfig = z.output<typeof httpSinkConfig>;

export const httpSink = defineSink({
  type: 'http',
  summary: 'Sends records to an HTTP API, one per request or in batches, with idempotency keys, auth, and per-item failure classification.',
  schema: httpSinkConfig,
  create: (config, ctx) => new HttpSink(config, ctx),
});

// ---------------------------------------------------------------------------------------------
// The sink

const defaultTimeoutMs = 30_000;
/** Response bytes kept for the success check and error excerpts; the rest is discarded. */
const responseCap = 1024 * 1024;

interface Prepared {
  readonly item: Item;
  readonly json: string;
}

interface Target {
  readonly origin: string;
  readonly path: string;
  /** For messages: method, origin and path; never the query string (it may hold a key). */
  readonly describe: string;
  readonly headers: Record<string, string>;
}

export class HttpSink implements RecordSink {
  readonly type = 'http';
  readonly ordering = 'parallel';
  private agent: Agent | undefined;
  private run: RunValues;
  private readonly secrets: string[];
  private readonly fixedHeaders: Record<string, string>;
  private readonly templatedHeaders: [string, string][];
  private readonly perRecordTarget: boolean;

  constructor(private readonly config: HttpSinkConfig, private readonly build: Pick<BuildContext, 'pipeline' | 'clock'>) {
    this.run = { pipeline: build.pipeline, run_id: '', batch_id: '' };
    const fixed: Record<string, string> = {
      'content-type': config.body === 'ndjson' ? 'application/x-ndjson' : 'application/json',
      'user-agent': 'lading',
    };
    const templated: [string, string][] = [];
    const secrets: string[] = [];
    for (const [name, value] of Object.entries(config.headers)) {
      if (sensitiveHeader.test(name)) secrets.push(value, ...value.split(/\s+/).filter((part) => part.length >= 8));
      if ([...value.matchAll(tokenPattern)].length > 0) templated.push([name.toLowerCase(), value]);
      else fixed[name.toLowerCase()] = value;
    }
    const credentials = authHeaders(config.auth);
    Object.assign(fixed, credentials.headers);
    secrets.push(...credentials.secrets);
    this.fixedHeaders = fixed;
    this.templatedHeaders = templated;
    this.secrets = secrets.filter((s) => s.length > 0);
    this.perRecordTarget = recordTokens(config.url).length > 0 || templated.some(([, v]) => recordTokens(v).length > 0);
  }

  async open(ctx: RunContext): Promise<void> {
    this.run = { pipeline: ctx.pipeline, run_id: ctx.runId, batch_id: ctx.batchId };
    // Loaded here, not at import: undici costs every `lading` command a tenth of a second.
    const { Agent } = await import('undici');
    this.agent = new Agent({ connections: this.config.max_connections, pipelining: 1 });
  }

  async write(chunk: Chunk, ctx: ChunkContext): Promise<{ readonly failures: ReadonlyMap<string, LadingError> }> {
    const agent = this.agent;
    if (!agent) throw new Error('http sink: write() before open()');
    const failures = new Map<string, LadingError>();
    const prepared: Prepared[] = [];
    for (const item of chunk.items) {
      const problem = this.prepare(item);
      if ('error' in problem) failures.set(item.id, problem.error);
      else prepared.push(problem);
    }
    const size = this.config.batch_size;
    for (let i = 0; i < prepared.length; i += size) {
      const group = prepared.slice(i, i + size);
      let target: Target;
      try {
        target = this.target(group[0]!.item);
      } catch (error) {
        if (!(error instanceof TemplateMiss)) throw error;
        for (const { item } of group) failures.set(item.id, this.templateError(item, error));
        continue;
      }
      await ctx.gate.acquire(ctx.signal);
      const error = await this.send(agent, group, target, ctx);
      if (error) for (const { item } of group) failures.set(item.id, forItem(error, item.id));
    }
    return { failures };
  }

  async close(_ctx: RunContext, outcome: 'completed' | 'aborted'): Promise<SinkSummary> {
    const agent = this.agent;
    this.agent = undefined;
    if (agent) await (outcome === 'aborted' ? agent.destroy() : agent.close());
    return { files: [], destination: `http:${this.config.method} ${stripQuery(this.config.url)}` };
  }

  /** Resolves the host and opens a connection (a TLS handshake for https), sending nothing. */
  async healthcheck(signal: AbortSignal): Promise<void> {
    const [, scheme = '', authority = ''] = /^([a-z]+:\/\/)([^/?#]*)/i.exec(this.config.url) ?? [];
    if (recordTokens(authority).length > 0) return; // the host depends on the record: nothing to probe before a record comes
    const url = new URL(`${scheme}${renderText(authority, undefined, this.run, encodeURIComponent, true)}/`);
    const doing = `connecting to ${url.origin}`;
    const timeout = AbortSignal.timeout(this.config.timeout ?? defaultTimeoutMs);
    try {
      await probe(url, AbortSignal.any([signal, timeout]));
    } catch (error) {
      if (timeout.aborted && !signal.aborted) throw ladingError('SINK_HTTP_TIMEOUT', `${doing}: no connection within ${this.config.timeout ?? defaultTimeoutMs} ms`, { cause: error });
      throw classify(error, { ioCode: 'NETWORK_FAILED', doing, timeoutCode: 'SINK_HTTP_TIMEOUT' });
    }
  }

  /** The record as it goes into the body, serialized once; a record that cannot be is a per-item failure. */
  private prepare(item: Item): Prepared | { error: LadingError } {
    let value: unknown;
    try {
      value = this.config.body_template ? renderBody(this.config.body_template, item.data, this.run) : item.data;
    } catch (error) {
      if (error instanceof TemplateMiss) return { error: this.templateError(item, error) };
      throw error;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      return { error: ladingError('FORMAT_UNENCODABLE_VALUE', `${itemRef(item).describe}: the record cannot be sent as JSON (${error instanceof Error ? error.message : String(error)})`, { itemId: item.id, cause: error }) };
    }
    if (json === undefined) return { error: ladingError('FORMAT_UNENCODABLE_VALUE', `${itemRef(item).describe}: the record cannot be sent as JSON`, { itemId: item.id }) };
    return { item, json };
  }

  /** URL and headers for a request; with batch_size > 1 they use run tokens only, so the first item stands for all. */
  private target(item: Item): Target {
    const record = this.perRecordTarget ? item.data : undefined;
    const rendered = renderText(this.config.url, record, this.run, encodeURIComponent, false);
    let url: URL;
    try {
      url = new URL(rendered);
    } catch {
      throw new TemplateMiss('url', 'renders to something that is not a URL');
    }
    const headers = { ...this.fixedHeaders };
    for (const [name, value] of this.templatedHeaders) {
      const text = renderText(value, record, this.run, (v) => v, false);
      if (/[\r\n\0]/.test(text)) throw new TemplateMiss(name, 'renders a line break or NUL into a header');
      headers[name] = text;
    }
    return { origin: url.origin, path: `${url.pathname}${url.search}`, describe: `${this.config.method} ${url.origin}${url.pathname}`, headers };
  }

  private templateError(item: Item, miss: TemplateMiss): LadingError {
    return ladingError('SINK_HTTP_TEMPLATE', `${itemRef(item).describe}: cannot build the request: ${redact(miss.message, this.secrets)}`, { itemId: item.id, field: miss.field });
  }

  private body(group: readonly Prepared[]): string {
    if (this.config.body === 'ndjson') return group.map((p) => `${p.json}\n`).join('');
    return this.config.batch_size === 1 ? group[0]!.json : `[${group.map((p) => p.json).join(',')}]`;
  }

  /** One request: undefined when accepted, else the error for every item in it. Throws only when the run is cancelled. */
  private async send(agent: Agent, group: readonly Prepared[], target: Target, ctx: ChunkContext): Promise<LadingError | undefined> {
    const timeoutMs = this.config.timeout ?? ctx.timeoutMs ?? defaultTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    const doing = group.length === 1 ? target.describe : `${target.describe} (${group.length} records)`;
    const headers = { ...target.headers, [this.config.idempotency_header.toLowerCase()]: ctx.idempotencyKey(group.map((p) => p.item)) };
    try {
      const response = await agent.request({ origin: target.origin, path: target.path, method: this.config.method, headers, body: this.body(group), signal });
      const { success } = this.config;
      const accepted = success.status ? success.status.includes(response.statusCode) : response.statusCode >= 200 && response.statusCode < 300;
      // Read to the end either way: the connection goes back to the pool, and a body that stops arriving times out.
      const text = accepted && success.json_path === undefined ? await drain(response.body) : await readText(response.body, responseCap);
      const error = classifyHttpResponse(response.statusCode, response.headers, text, {
        doing, secrets: this.secrets, now: this.build.clock.now(),
        ...(success.status ? { success: success.status } : {}),
        ...(success.json_path === undefined ? {} : { expect: { jsonPath: success.json_path, equals: success.equals } }),
      });
      if (error?.retryAfterMs !== undefined && (response.statusCode === 429 || response.statusCode === 503)) ctx.gate.pauseFor(error.retryAfterMs);
      return error;
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? error;
      if (timeout.aborted) return ladingError('SINK_HTTP_TIMEOUT', `${doing}: no complete answer within ${timeoutMs} ms`, { cause: error });
      return classify(error, { ioCode: 'NETWORK_FAILED', doing, timeoutCode: 'SINK_HTTP_TIMEOUT' });
    }
  }
}

/** The same error for another item of the request. */
function forItem(error: LadingError, itemId: string): LadingError {
  return ladingError(error.code, error.message, {
    itemId, cause: error.cause,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}

const stripQuery = (url: string): string => url.split(/[?#]/)[0]!;

function probe(url: URL, signal: AbortSignal): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const https = url.protocol === 'https:';
    const socket: Socket = https
      ? tlsConnect({ host, port, ALPNProtocols: ['http/1.1'], ...(isIP(host) === 0 ? { servername: host } : {}) })
      : netConnect({ host, port });
    const onAbort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once(https ? 'secureConnect' : 'connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
