import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import type { LoadedPipeline } from '../config/load.js';
import { JsonFieldReader } from '../core/json-fields.js';
import { utf8BomLength } from '../core/utf8.js';
import { codes } from '../errors/codes.js';
import { ladingError } from '../errors/lading-error.js';
import { ndjsonLineText } from '../sources/file/ndjson.js';
import { rootKeys } from '../transform/path.js';
import { buildValidator, validatedFields, type Validator } from '../transform/validate.js';
import type { InboxInput } from '../store/types.js';
import type { InboxSourceConfig } from '../sources/inbox.js';
import { errorBody, errorResponses, guard, inboxPipelineOf, security, sendError, type ApiContext } from './context.js';

/** Seconds a client is asked to wait when an inbox is full: batches are cut on the order of seconds to minutes. */
const inboxFullRetryAfterSeconds = 30;

interface Reason {
  readonly field: string | null;
  readonly code: string;
  readonly message: string;
}

interface Rejected {
  readonly index: number;
  readonly reasons: readonly Reason[];
}

/**
 * A body's values (with their UTF-8 bytes when each came on its own, as an NDJSON line or as the
 * whole JSON body: a view of the body, which the store writes as it came), or why a line is not a
 * value: not UTF-8, or not JSON (NDJSON keeps going past a bad line). A value that came on its own
 * may hold only the fields the pipeline's checks read (see eachEntry).
 */
type Entry = { readonly value: unknown; readonly json?: Uint8Array } | { readonly malformed: string } | { readonly badEncoding: true };

/**
 * An application/json body's bytes after any byte order mark, kept so that a body holding one
 * record is stored as it was sent instead of as the JSON.stringify of what it parsed to. A body
 * that is not UTF-8 is refused rather than stored with U+FFFD in place of its bad bytes.
 */
function jsonBodyBytes(body: Buffer): Buffer {
  if (body.length === 0) throw ladingError('API_BAD_REQUEST', 'the body is empty: send a JSON object, an array of them, or NDJSON');
  if (!isUtf8(body)) throw ladingError('API_BAD_REQUEST', 'the body is not valid UTF-8');
  return body.subarray(utf8BomLength(body));
}

/** As fastify's own JSON parser: `__proto__` and `constructor.prototype` keys refuse the body. */
const jsonParseOptions = { protoAction: 'error', constructorAction: 'error' } as const;

/** Parses an application/json body as fastify's own parser does (secure-json-parse). */
function parseJsonBody(bytes: Buffer): unknown {
  try {
    return secureJsonParse(bytes.toString('utf8'), null, jsonParseOptions) as unknown;
  } catch (error) {
    throw ladingError('API_BAD_REQUEST', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Whether a JSON text may hold a key secure-json-parse refuses: `__proto__` or `constructor`,
 * written out or spelled with escapes. Only a body without any of them is read by the field
 * reader, which never looks at keys below the top level: for it, secure-json-parse is JSON.parse.
 */
const forbiddenKeys = [Buffer.from('__proto__'), Buffer.from('constructor')];
const mayHoldForbiddenKey = (bytes: Buffer): boolean => bytes.includes(0x5c) || forbiddenKeys.some((key) => bytes.includes(key));

/**
 * Hands each entry of a body to `each` in order, as soon as it is parsed: a record validated at
 * once is garbage before the next is parsed, where a list of all 1,000 parsed records of a bulk
 * request outlived several young-generation collections (GC 18.7% → 11.4% of the event loop,
 * NDJSON requests/s +13%; docs/benchmarks.md). An NDJSON line's value, and a lone JSON object's,
 * is only the fields `fields` reads from its bytes, where it can (core/json-fields.ts); the line's
 * JSON.parse, the body's secure-json-parse otherwise.
 */
function eachEntry(bytes: Buffer, ndjson: boolean, fields: JsonFieldReader, each: (entry: Entry, index: number) => void): void {
  if (!ndjson) {
    // A lone object is read as an NDJSON line is (a single-lead POST: 1.84 against 3.14 us a lead
    // on machine X; docs/benchmarks.md); an array, or a body that may hold a refused key, is parsed.
    const read = mayHoldForbiddenKey(bytes) ? undefined : fields.read(bytes, 0, bytes.length);
    const value = read ?? parseJsonBody(bytes);
    if (Array.isArray(value)) value.forEach((item: unknown, index) => each({ value: item }, index));
    else each({ value, json: bytes }, 0);
    return;
  }
  // Checked per line only when the body as a whole is not UTF-8: one pass over the bytes otherwise.
  const utf8 = isUtf8(bytes);
  let index = 0;
  // A byte order mark opening the body is skipped once, as the file reader drops it: the first
  // line's text and bytes then start after it.
  for (let at = utf8BomLength(bytes); ;) {
    const lf = bytes.indexOf(0x0a, at);
    const end = lf === -1 ? bytes.length : lf;
    const valid = utf8 || isUtf8(bytes.subarray(at, end));
    const read = valid ? fields.read(bytes, at, end) : undefined;
    if (read !== undefined) each({ value: read, json: bytes.subarray(at, end) }, index++);
    else {
      // Each line decoded on its own: the many all-ASCII lines then stay one-byte strings, which
      // parse faster than slices of one body-sized string that a single non-ASCII character makes
      // two-byte (1,000-lead NDJSON bodies: 1.3× the requests/s; docs/benchmarks.md).
      const line = ndjsonLineText(bytes.toString('utf8', at, end), false);
      if (line !== undefined) {
        if (!valid) {
          // As the file reader: invalid bytes fail their record rather than turn into U+FFFD unseen.
          each({ badEncoding: true }, index++);
        } else {
          let entry: Entry;
          try {
            entry = { value: JSON.parse(line) as unknown, json: bytes.subarray(at, end) };
          } catch (error) {
            entry = { malformed: (error as Error).message };
          }
          each(entry, index++);
        }
      }
    }
    if (lf === -1) return;
    at = lf + 1;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function keyOf(record: Record<string, unknown>, field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const value = record[field];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** POST /v1/pipelines/{name}/records: validated records into the pipeline's inbox, answered once committed. */
export async function ingestRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  // NDJSON arrives as bytes and is split here, so a malformed line rejects that record only.
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  // This scope's JSON bodies only: the other routes keep fastify's parser.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    let bytes: Buffer;
    try {
      bytes = jsonBodyBytes(body as Buffer);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    done(null, bytes);
  });
  /** Per pipeline: its validator, and the top-level fields that and its key field read from a record. */
  const checkers = new Map<string, { validate: Validator; fields: JsonFieldReader }>();
  const checkerOf = (pipeline: LoadedPipeline) => {
    let checker = checkers.get(pipeline.config.name);
    if (checker === undefined) {
      const { validate, source } = pipeline.config;
      const read = validatedFields(validate).flatMap(rootKeys);
      const keyField = (source as InboxSourceConfig).key_field;
      checker = { validate: buildValidator(validate), fields: new JsonFieldReader(keyField === undefined ? read : [...read, keyField]) };
      checkers.set(pipeline.config.name, checker);
    }
    return checker;
  };

  app.post<{ Params: { name: string }; Headers: { 'idempotency-key'?: string } }>('/v1/pipelines/:name/records', {
    onRequest: guard(ctx, (request) => `ingest:${(request.params as { name: string }).name}`),
    schema: {
      summary: 'Ingest records into a pipeline\'s inbox',
      description: 'One JSON object, a JSON array of objects, or NDJSON (application/x-ndjson). Each record is checked with the pipeline\'s validate rules; '
        + 'failures (severity block) are rejected with their index and reasons, warnings are accepted. 202 is sent only once the accepted records are committed.',
      tags: ['ingest'],
      security,
      params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200, description: 'A re-send with the same key gets the first answer and stores nothing.' } } },
      body: { description: 'A record, an array of records, or NDJSON text' },
      response: {
        202: {
          description: 'Accepted: committed to the store',
          type: 'object',
          properties: {
            accepted: { type: 'integer' }, duplicates: { type: 'integer' }, replayed: { type: 'boolean' },
            rejected: { type: 'array', items: { type: 'object', additionalProperties: true, properties: { index: { type: 'integer' }, reasons: { type: 'array', items: { type: 'object', additionalProperties: true } } } } },
          },
        },
        ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429),
      },
    },
  }, async (request, reply) => {
    const pipeline = inboxPipelineOf(ctx, request.params.name);
    const source = pipeline.config.source as InboxSourceConfig;
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const ndjson = contentType === 'application/x-ndjson';
    if (!ndjson && contentType !== 'application/json') {
      throw ladingError('API_UNSUPPORTED_MEDIA_TYPE', `records are sent as application/json or application/x-ndjson, not ${contentType || 'a body without Content-Type'}`);
    }
    if (source.max_pending !== undefined) {
      const { pending } = await ctx.store.inboxStats(pipeline.config.name);
      if (pending >= source.max_pending) {
        return reply.code(codes.API_INBOX_FULL.http).header('retry-after', String(inboxFullRetryAfterSeconds))
          .send(errorBody('API_INBOX_FULL', `the inbox of ${pipeline.config.name} holds ${pending} pending records; source.max_pending is ${source.max_pending}`));
      }
    }

    const { validate, fields } = checkerOf(pipeline);
    const records: InboxInput[] = [];
    const rejected: Rejected[] = [];
    eachEntry(request.body as Buffer, ndjson, fields, (entry, index) => {
      if ('badEncoding' in entry) {
        rejected.push({ index, reasons: [{ field: null, code: 'SOURCE_BAD_ENCODING', message: `record ${index} is not valid UTF-8` }] });
        return;
      }
      if ('malformed' in entry) {
        rejected.push({ index, reasons: [{ field: null, code: 'SOURCE_MALFORMED_JSON', message: `record ${index} is not valid JSON: ${entry.malformed}` }] });
        return;
      }
      if (!isRecord(entry.value)) {
        rejected.push({ index, reasons: [{ field: null, code: 'SOURCE_NOT_A_RECORD', message: `record ${index} is ${Array.isArray(entry.value) ? 'an array' : entry.value === null ? 'null' : `a ${typeof entry.value}`}, not a JSON object` }] });
        return;
      }
      const { failures } = validate(entry.value, { id: `record:${index}`, describe: `record ${index}` });
      if (failures.length > 0) {
        rejected.push({ index, reasons: failures.map((f) => ({ field: f.field ?? null, code: f.code, message: f.message })) });
        return;
      }
      const key = keyOf(entry.value, source.key_field);
      // A record that came as bytes of its own keeps only those until the commit: the store writes them.
      const keyed = key === undefined ? {} : { key };
      records.push(entry.json === undefined ? { data: entry.value, ...keyed } : { json: entry.json, ...keyed });
    });
    if (records.length === 0) {
      return sendError(reply, 'API_RECORDS_REJECTED', rejected.length === 0 ? 'the request holds no records' : `none of the ${rejected.length} records was accepted`, { rejected });
    }

    const requestKey = request.headers['idempotency-key'];
    const outcome = await ctx.commits.submit({
      pipeline: pipeline.config.name, records, ...(requestKey === undefined ? {} : { requestKey, extra: rejected }),
    });
    if (!outcome.replayed) ctx.observer.metrics.ingested(pipeline.config.name, outcome.accepted);
    return reply.code(202).send({
      accepted: outcome.accepted, duplicates: outcome.duplicates, rejected: outcome.replayed ? (outcome.extra ?? []) : rejected,
      ...(outcome.replayed ? { replayed: true } : {}),
    });
  });
}
