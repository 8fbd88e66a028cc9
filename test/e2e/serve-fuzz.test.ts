/**
 * Ingest fuzzing against the real server on loopback: generated requests mix valid records with
 * malformed NDJSON lines, values that are not objects, fields beyond validate's max_length, wrong
 * types, missing fields, unicode edge cases and formula-injection strings, plus whole bodies that
 * are not JSON or exceed the body limit. Every answer is checked against what the request holds;
 * at the end the inbox is flushed to a CSV file (formula_escape: quote_prefix) whose rows must be
 * exactly the accepted records, with formula cells neutralised.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/tmp.js';

const bodyLimit = 16 * 1024;
const maxNameLength = 64;

const pipelineYaml = `
name: fuzz
source: { type: inbox }
validate:
  required: [id, name]
  rules:
    name: { max_length: ${maxNameLength} }
    age: { type: integer }
map:
  - { name: id }
  - { name: name }
  - { name: age }
output:
  type: file
  format: { type: csv, formula_escape: quote_prefix }
  naming: "fuzz_{batch_id}.{ext}"
  destination: { type: local, path: out }
`;

/** Characters that have broken encoders and parsers: lone surrogates, NUL, bidi marks, emoji, combining marks, CSV specials. */
const edgeChar = fc.constantFrom(
  '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\u0000', '\u200F', '\u202E', '\u200E', '\uFEFF',
  '😀', '👩‍👩‍👧', '\u0301', 'e\u0301', 'ﷺ', '"', ',', ';', '\n', '\r\n', ' ', "'",
);
const textUnit = fc.oneof(edgeChar, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
/** At most 5 code points a unit, so 12 units stay within max_length. */
const plainName = fc.string({ unit: textUnit, minLength: 1, maxLength: 12 })
  .filter((s) => s.trim().length > 0 && !/^[=+\-@\t\r]/.test(s));
/** None of these is a plain number, so every one must be escaped. */
const formulaName = fc.tuple(fc.constantFrom('=', '+', '-', '@', '\t', '\r'), fc.constantFrom("cmd|' /C calc'!A0", 'SUM(1+1)*cmd|x', 'HYPERLINK("http://x","y")', '1+1', 'a'))
  .map(([lead, rest]) => lead + rest);

type Entry =
  | { kind: 'valid'; name: string; age?: number }
  | { kind: 'malformed'; line: string }
  | { kind: 'not_a_record'; value: unknown }
  | { kind: 'bad'; field: 'id' | 'name' | 'age'; record: Record<string, unknown> };

const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ name: fc.oneof(plainName, formulaName), age: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }) })
    .map(({ name, age }): Entry => (age === undefined ? { kind: 'valid', name } : { kind: 'valid', name, age })) },
  fc.constantFrom('{"id":"x","name":', '{bad', "{'id':1}", 'nul', '\u0000', '{"a":1}}', '["unterminated').map((line): Entry => ({ kind: 'malformed', line })),
  fc.constantFrom<unknown>(1, 'text', null, true, [1, 2], []).map((value): Entry => ({ kind: 'not_a_record', value })),
  // Counted in code points, as max_length counts: a lone high surrogate unit followed by a lone low
  // one makes one character, so 65 units can be a valid name of 64 (it failed a CI run once).
  fc.string({ unit: textUnit, minLength: maxNameLength + 1, maxLength: 150 }).filter((name) => [...name].length > maxNameLength)
    .map((name): Entry => ({ kind: 'bad', field: 'name', record: { name } })),
  fc.constantFrom<unknown>('12', 1.5, true, [], { n: 1 }).map((age): Entry => ({ kind: 'bad', field: 'age', record: { name: 'typed', age } })),
  fc.constantFrom<Entry>({ kind: 'bad', field: 'id', record: { name: 'no id' } }, { kind: 'bad', field: 'name', record: { name: ' \t' } }),
);

type Request =
  | { kind: 'records'; ndjson: boolean; entries: Entry[]; resend: boolean }
  | { kind: 'garbage'; body: string }
  | { kind: 'oversized'; ndjson: boolean };

const request: fc.Arbitrary<Request> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ ndjson: fc.boolean(), entries: fc.array(entry, { minLength: 1, maxLength: 12 }), resend: fc.boolean() })
    .map(({ ndjson, entries, resend }): Request => ({ kind: 'records', ndjson, entries: ndjson ? entries : entries.filter((e) => e.kind !== 'malformed'), resend }))
    .filter((r) => r.kind === 'records' && r.entries.length > 0) },
  fc.constantFrom('', '{"id":', '[1,', 'nul', '\u0000', '{"a":1}}').map((body): Request => ({ kind: 'garbage', body })),
  fc.boolean().map((ndjson): Request => ({ kind: 'oversized', ndjson })),
);

interface Reason { field: string | null; code: string; message: string }
interface Rejected { index: number; reasons: Reason[] }
interface Answer { status: number; body: { accepted?: number; replayed?: boolean; rejected?: Rejected[]; error?: { code: string; details?: { rejected?: Rejected[] } } } }

let dir: string;
let store: SqliteStore;
let server: LadingServer;
let url: string;
let ingestKey: string;
let flushKey: string;
let nextId = 0;
/** id → the name each accepted record was sent with. */
const accepted = new Map<string, string>();

before(async () => {
  dir = tempDir('lading-serve-fuzz-');
  writeFileSync(join(dir, 'fuzz.yaml'), pipelineYaml);
  store = await openSqliteStore(join(dir, 'data', 'lading.db'));
  server = await buildServer({ store, catalog: await loadCatalog([dir]), dataDir: join(dir, 'data'), bodyLimit });
  url = await server.listen('127.0.0.1', 0);
  ingestKey = (await createApiKey(store, { owner: 'fuzz', scopes: ['ingest:fuzz'], clock: systemClock })).key;
  flushKey = (await createApiKey(store, { owner: 'fuzz', scopes: ['jobs:write'], clock: systemClock })).key;
});
after(async () => {
  await server.close();
  await store.close();
});

async function post(body: string, ndjson: boolean, idempotencyKey?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${ingestKey}`, 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' };
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  const response = await fetch(`${url}/v1/pipelines/fuzz/records`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** The wire form of each entry, with a fresh id on the records that should carry one. */
function render(entries: readonly Entry[], ndjson: boolean): { body: string; ids: (string | undefined)[] } {
  const ids: (string | undefined)[] = [];
  const values = entries.map((e) => {
    if (e.kind === 'malformed') {
      ids.push(undefined);
      return e.line;
    }
    if (e.kind === 'not_a_record') {
      ids.push(undefined);
      return JSON.stringify(e.value);
    }
    const id = e.kind === 'bad' && e.field === 'id' ? undefined : `r${nextId++}`;
    ids.push(id);
    const record = e.kind === 'valid' ? { name: e.name, ...(e.age === undefined ? {} : { age: e.age }) } : e.record;
    return JSON.stringify(id === undefined ? record : { id, ...record });
  });
  if (ndjson) return { body: `${values.join('\n')}\n`, ids };
  // A lone object is sent bare; anything else bare would be read as the array of records itself.
  const bare = entries.length === 1 && (entries[0]!.kind === 'valid' || entries[0]!.kind === 'bad');
  return { body: bare ? values[0]! : `[${values.join(',')}]`, ids };
}

function checkRejections(entries: readonly Entry[], rejected: readonly Rejected[]): void {
  const bad = entries.flatMap((e, index) => (e.kind === 'valid' ? [] : [index]));
  assert.deepEqual(rejected.map((r) => r.index), bad, 'exactly the bad records are rejected, by index');
  for (const r of rejected) {
    const e = entries[r.index]!;
    assert.ok(r.reasons.length > 0);
    for (const reason of r.reasons) assert.match(reason.message, new RegExp(`^record ${r.index}\\b`), 'the reason names the record');
    if (e.kind === 'malformed') assert.deepEqual(r.reasons.map((x) => [x.field, x.code]), [[null, 'SOURCE_MALFORMED_JSON']]);
    if (e.kind === 'not_a_record') assert.deepEqual(r.reasons.map((x) => [x.field, x.code]), [[null, 'SOURCE_NOT_A_RECORD']]);
    if (e.kind === 'bad') {
      assert.ok(r.reasons.some((x) => x.field === e.field && x.code.startsWith('VALIDATE_')), `a reason names field ${e.field}: ${JSON.stringify(r.reasons)}`);
      for (const reason of r.reasons) assert.match(reason.message, new RegExp(`field "${reason.field}"`), 'the reason names the field');
    }
  }
}

test('every bad record is rejected with its index and field, no request gets a 5xx, and exactly the accepted records are delivered', async () => {
  await fc.assert(fc.asyncProperty(request, async (req) => {
    if (req.kind === 'garbage') {
      const answer = await post(req.body, false);
      assert.deepEqual([answer.status, answer.body.error?.code], [400, 'API_BAD_REQUEST']);
      return;
    }
    if (req.kind === 'oversized') {
      const { body } = render([{ kind: 'bad', field: 'name', record: { name: 'x'.repeat(bodyLimit) } }], req.ndjson);
      const answer = await post(body, req.ndjson);
      assert.deepEqual([answer.status, answer.body.error?.code], [413, 'API_BODY_TOO_LARGE']);
      return;
    }
    const { body, ids } = render(req.entries, req.ndjson);
    const idempotencyKey = req.resend ? `fuzz-${nextId}` : undefined;
    const answer = await post(body, req.ndjson, idempotencyKey);
    assert.ok(answer.status < 500, `no 5xx: ${JSON.stringify(answer.body)}`);
    if (Buffer.byteLength(body) > bodyLimit) {
      assert.deepEqual([answer.status, answer.body.error?.code], [413, 'API_BODY_TOO_LARGE']);
      return;
    }
    const valid = req.entries.filter((e) => e.kind === 'valid').length;
    if (valid === 0) {
      assert.deepEqual([answer.status, answer.body.error?.code], [400, 'API_RECORDS_REJECTED']);
      checkRejections(req.entries, answer.body.error!.details!.rejected!);
      return;
    }
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal(answer.body.accepted, valid);
    checkRejections(req.entries, answer.body.rejected!);
    req.entries.forEach((e, i) => {
      if (e.kind === 'valid') accepted.set(ids[i]!, e.name);
    });
    if (idempotencyKey !== undefined) {
      const again = await post(body, req.ndjson, idempotencyKey);
      assert.deepEqual([again.status, again.body.replayed, again.body.accepted], [202, true, valid], 'a re-send is answered from the first commit');
    }
  }), { numRuns: 50 });

  const flushed = await fetch(`${url}/v1/pipelines/fuzz/flush`, { method: 'POST', headers: { authorization: `Bearer ${flushKey}` } });
  assert.equal(flushed.status, 200);
  const { batch, report } = (await flushed.json()) as { batch: { records: number }; report: { status: string } };
  assert.deepEqual([batch.records, report.status], [accepted.size, 'completed']);
  const [file, ...more] = readdirSync(join(dir, 'out'));
  assert.equal(more.length, 0);
  const rows = parse(readFileSync(join(dir, 'out', file!), 'utf8'), { columns: true }) as { id: string; name: string; age: string }[];
  assert.equal(rows.length, accepted.size, 'as many CSV rows as records accepted');
  for (const row of rows) {
    const sent = accepted.get(row.id);
    assert.ok(sent !== undefined, `row ${row.id} was accepted`);
    // UTF-8 output writes a lone surrogate as U+FFFD; a formula cell gets a leading quote.
    const text = Buffer.from(sent, 'utf8').toString('utf8');
    assert.equal(row.name, /^[=+\-@\t\r]/.test(sent) ? `'${text}` : text);
    accepted.delete(row.id);
  }
  assert.equal(accepted.size, 0, 'every accepted record is delivered once');
});
