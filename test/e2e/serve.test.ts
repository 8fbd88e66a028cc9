/**
 * lading serve over real HTTP: a server on 127.0.0.1 port 0 with a real SQLite file, requests
 * with global fetch. A handler pipeline whose items wait on a gate the test opens makes running
 * jobs observable without sleeping.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { catalogOf, loadCatalog } from '../../src/config/catalog.js';
import { parsePipelineYaml } from '../../src/config/load.js';
import { manualClock, systemClock } from '../../src/core/clock.js';
import type { RunReport } from '../../src/core/report.js';
import { LadingError } from '../../src/errors/lading-error.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/tmp.js';

type Gate = (item: { id: string; data: Record<string, unknown> }) => Promise<void> | void;
const hooks = globalThis as unknown as { __ladingServeGate?: Gate };

const pipelines: Record<string, string> = {
  'leads.yaml': `
name: leads
source: { type: inbox, key_field: id }
validate:
  required: [email]
  rules:
    email: { format: email }
    state: { pattern: "^[A-Z]{2}$", severity: warn }
output:
  type: file
  format: ndjson
  naming: "{pipeline}_{batch_id}.{ext}"
  destination: { type: local, path: out }
`,
  'nested.yaml': `
name: nested
source: { type: inbox, key_field: ref }
validate:
  required: [meta.ip]
  rules:
    score: { type: integer }
output: { type: file, format: ndjson, destination: { type: local, path: out-nested } }
`,
  'small.yaml': `
name: small
source: { type: inbox, max_pending: 2 }
output: { type: file, format: ndjson, destination: { type: local, path: out-small } }
`,
  'products.yaml': `
name: products
source: { type: inline, items: [{ sku: a }] }
validate:
  rules:
    sku: { pattern: "^[a-z]+$" }
output: { type: handler, module: ./gate.mjs }
execution: { chunk_size: 1, concurrency: 1 }
`,
};

/** Collects an SSE stream until the server ends it. */
async function readEvents(response: Response): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const text = await response.text();
  return text.split('\n\n').filter((block) => block.startsWith('event: ')).map((block) => {
    const [eventLine, dataLine] = block.split('\n');
    return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown> };
  });
}

describe('lading serve API', () => {
  const dir = tempDir('lading-serve-');
  const dbPath = join(dir, 'data', 'lading.db');
  let store: SqliteStore;
  let server: LadingServer;
  let url: string;
  const keys: Record<string, string> = {};

  const call = (path: string, init: RequestInit & { key?: string | undefined; json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${url}${path}`, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
  };
  const ingest = (pipeline: string, body: string | Uint8Array, contentType = 'application/json', extra: Record<string, string> = {}, key = keys.ingest) =>
    call(`/v1/pipelines/${pipeline}/records`, { method: 'POST', key, body, headers: { 'content-type': contentType, ...extra } });
  const waitFinished = async (jobId: string, key = keys.alice): Promise<RunReport> => {
    const events = await readEvents(await call(`/v1/jobs/${jobId}/events`, { key }));
    const last = events.at(-1)!;
    assert.equal(last.event, 'run_finished');
    return last.data.report as RunReport;
  };

  before(async () => {
    for (const [name, text] of Object.entries(pipelines)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'gate.mjs'), 'export async function process(item) { await globalThis.__ladingServeGate?.(item); }\n');
    store = await openSqliteStore(dbPath);
    server = await buildServer({ store, catalog: await loadCatalog([dir]), dataDir: join(dir, 'data'), bodyLimit: 64 * 1024, pollMs: 20 });
    url = await server.listen('127.0.0.1', 0);
    const make = async (owner: string, ...scopes: string[]) => (await createApiKey(store, { owner, scopes, clock: systemClock })).key;
    keys.ingest = await make('partner', 'ingest:*');
    keys.leadsOnly = await make('partner', 'ingest:leads');
    keys.alice = await make('alice', 'jobs:write');
    keys.bob = await make('bob', 'jobs:read', 'jobs:write');
    keys.reader = await make('alice', 'jobs:read');
    keys.admin = await make('ops', 'admin');
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  describe('auth', () => {
    test('no key is 401, a wrong scope 403, the right scope 2xx; health and docs are open', async () => {
      const none = await call('/v1/pipelines');
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'API_UNAUTHORIZED');
      const bad = await call('/v1/pipelines', { key: 'lading_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
      assert.equal(bad.status, 401);
      const forbidden = await ingest('small', '{"n":1}', 'application/json', {}, keys.leadsOnly);
      assert.equal(forbidden.status, 403);
      assert.equal(((await forbidden.json()) as { error: { code: string } }).error.code, 'API_FORBIDDEN');
      assert.equal((await call('/v1/jobs', { method: 'POST', key: keys.reader, json: { pipeline: 'products' } })).status, 403);
      const viaHeader = await fetch(`${url}/v1/pipelines`, { headers: { 'x-api-key': keys.reader! } });
      assert.equal(viaHeader.status, 200);
      assert.equal((await call('/healthz')).status, 200);
      assert.deepEqual(await (await call('/readyz')).json(), { status: 'ready' });
      assert.equal((await call('/docs')).status, 200);
    });

    test('a revoked key is refused', async () => {
      const { record, key } = await createApiKey(store, { owner: 'temp', scopes: ['jobs:read'], clock: systemClock });
      assert.equal((await call('/v1/pipelines', { key })).status, 200);
      assert.equal(await store.revokeApiKey(record.id, new Date()), true);
      assert.equal((await call('/v1/pipelines', { key })).status, 401);
    });

    test('with a key cache, a revoked key is refused once the cache time has run out', async () => {
      const clock = manualClock();
      const cached = await buildServer({ store, catalog: catalogOf([]), dataDir: join(dir, 'data-cached'), clock, apiKeyCacheMs: 30_000 });
      try {
        const { record, key } = await createApiKey(store, { owner: 'temp', scopes: ['jobs:read'], clock });
        const list = async () => (await cached.app.inject({ url: '/v1/pipelines', headers: { authorization: `Bearer ${key}` } })).statusCode;
        assert.equal(await list(), 200);
        // Remembered, the key is admitted at once: a scope it lacks is still refused.
        assert.equal((await cached.app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: `Bearer ${key}` }, payload: { pipeline: 'x' } })).statusCode, 403);
        assert.equal(await store.revokeApiKey(record.id, clock.now()), true);
        await clock.advance(29_999);
        assert.equal(await list(), 200, 'still remembered');
        await clock.advance(1);
        assert.equal(await list(), 401);
        assert.equal(await list(), 401, 'a refusal is not remembered as a pass');
      } finally {
        await cached.close();
      }
    });

    test('the OpenAPI document lists the routes', async () => {
      const doc = (await (await call('/docs/json')).json()) as { paths: Record<string, unknown> };
      for (const path of ['/v1/pipelines/{name}/records', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/events', '/v1/jobs/{id}/items', '/v1/pipelines', '/v1/deliveries', '/healthz']) {
        assert.ok(path in doc.paths, `${path} in the OpenAPI paths`);
      }
    });
  });

  describe('ingest', () => {
    test('one object, an array and NDJSON are accepted; an invalid record is rejected with its index and reasons', async () => {
      const single = await ingest('leads', JSON.stringify({ id: 's1', email: 'one@example.com' }));
      assert.equal(single.status, 202);
      assert.deepEqual(await single.json(), { accepted: 1, duplicates: 0, rejected: [] });

      const array = await ingest('leads', JSON.stringify([
        { id: 'a1', email: 'a1@example.com', state: 'ny' }, // a warning only: accepted
        { id: 'a2', email: 'not-an-email' },
        { id: 'a3', email: 'a3@example.com' },
      ]));
      assert.equal(array.status, 202);
      const body = (await array.json()) as { accepted: number; rejected: { index: number; reasons: { field: string; code: string; message: string }[] }[] };
      assert.equal(body.accepted, 2);
      assert.deepEqual(body.rejected.map((r) => [r.index, r.reasons.map((x) => [x.field, x.code])]), [[1, [['email', 'VALIDATE_FORMAT']]]]);

      const ndjson = await ingest('leads', '{"id":"n1","email":"n1@example.com"}\n{"id":"n2"\n[1]\n{"id":"n4","email":"n4@example.com"}\n', 'application/x-ndjson');
      assert.equal(ndjson.status, 202);
      const nd = (await ndjson.json()) as { accepted: number; rejected: { index: number; reasons: { code: string }[] }[] };
      assert.equal(nd.accepted, 2);
      assert.deepEqual(nd.rejected.map((r) => [r.index, r.reasons[0]!.code]), [[1, 'SOURCE_MALFORMED_JSON'], [2, 'SOURCE_NOT_A_RECORD']]);
    });

    test('NDJSON lines are read from the bytes: CRLF and blank lines, non-ASCII text kept as sent, a line that is not UTF-8 rejected', async () => {
      const lines = [
        Buffer.from('{"id":"u1","email":"zoe@example.com","city":"Kraków 東京"}\r\n'),
        Buffer.from('   \r\n\n'),
        Buffer.concat([Buffer.from('{"id":"u2","email":"u2@example.com","note":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
        Buffer.from('\t{"id":"u3","email":"u3@example.com","note":"plain"}  \n'),
        Buffer.from('{"id":"u4","email":"u4@example.com","note":"\u00e9 escaped"}'),
      ];
      const reply = await ingest('leads', Buffer.concat(lines), 'application/x-ndjson');
      assert.equal(reply.status, 202);
      const body = (await reply.json()) as { accepted: number; rejected: { index: number; reasons: { code: string; message: string }[] }[] };
      assert.equal(body.accepted, 3);
      assert.deepEqual(body.rejected.map((r) => [r.index, r.reasons[0]!.code, r.reasons[0]!.message]), [[1, 'SOURCE_BAD_ENCODING', 'record 1 is not valid UTF-8']]);
      const stored = new Map((await store.readPending('leads', 0, 100_000)).map((r) => [r.data.id, r.data]));
      assert.deepEqual(stored.get('u1'), { id: 'u1', email: 'zoe@example.com', city: 'Kraków 東京' });
      assert.deepEqual(stored.get('u3'), { id: 'u3', email: 'u3@example.com', note: 'plain' });
      assert.deepEqual(stored.get('u4'), { id: 'u4', email: 'u4@example.com', note: 'é escaped' });
      assert.equal(stored.has('u2'), false);
    });

    test('NDJSON records are checked on the fields the rules and key field read: dot paths either way, the last of a repeated key, escaped keys, "__proto__"', async () => {
      const lines = [
        '{"ref":"k1","meta":{"ip":"10.0.0.1"},"score":1}',
        '{"ref":"k2","meta.ip":"10.0.0.2","score":2}',
        '{"ref":"k3","meta":{"port":80},"score":3}',
        '{"r\\u0065f":"k1","meta":{"ip":"10.0.0.4"}}',
        '{"ref":"k5","meta":{"ip":"10.0.0.5"},"score":5,"score":"five"}',
        '{"ref":"k6","__proto__":{"polluted":true},"meta":{"ip":"10.0.0.6"},"note":"\\u00e9"}',
        '{"ref":{"n":7},"meta":{"ip":"10.0.0.7"},"score":7.0}',
      ];
      const reply = await ingest('nested', `${lines.join('\n')}\n`, 'application/x-ndjson');
      assert.equal(reply.status, 202);
      const answer = (await reply.json()) as { accepted: number; duplicates: number; rejected: { index: number; reasons: { field: string; code: string }[] }[] };
      assert.deepEqual(answer.rejected.map((r) => [r.index, r.reasons.map((x) => [x.field, x.code])]), [[2, [['meta.ip', 'VALIDATE_REQUIRED']]], [4, [['score', 'VALIDATE_TYPE']]]]);
      // Line 4 spells its key field with an escape: read as "ref" all the same, a re-send of k1.
      assert.deepEqual([answer.accepted, answer.duplicates], [4, 1]);
      const stored = await store.readPending('nested', 0, 100_000);
      assert.deepEqual(stored.map((r) => r.data.ref), ['k1', 'k2', 'k6', { n: 7 }]);
      assert.equal(stored[2]!.data.note, 'é');
      assert.equal(Object.getPrototypeOf({}).polluted, undefined);
    });

    test('a JSON object is checked on the fields the rules and key field read, as an NDJSON line is, and stored as sent', async () => {
      const sent = async (body: string) => {
        const reply = await ingest('nested', body);
        return [reply.status, await reply.json()];
      };
      assert.deepEqual(await sent('{"ref":"o1","meta":{"ip":"10.0.0.1"},"score":1}'), [202, { accepted: 1, duplicates: 0, rejected: [] }]);
      assert.deepEqual(await sent('{"ref":"o1","meta":{"ip":"10.0.0.9"}}'), [202, { accepted: 0, duplicates: 1, rejected: [] }]);
      const [status, answer] = await sent('{"ref":"o3","meta":{"port":80},"score":3}');
      assert.equal(status, 400);
      assert.deepEqual((answer as { error: { details: { rejected: { reasons: { field: string; code: string }[] }[] } } }).error.details.rejected[0]!.reasons.map((r) => [r.field, r.code]), [['meta.ip', 'VALIDATE_REQUIRED']]);
      // The last of a repeated key counts; a body with an escape anywhere is parsed whole, to the same effect.
      assert.deepEqual(await sent('{"ref":"o4","meta":{"ip":"10.0.0.4"},"score":"four","score":4}'), [202, { accepted: 1, duplicates: 0, rejected: [] }]);
      assert.deepEqual(await sent('{"ref":"o5","meta":{"ip":"10.0.0.5"},"score":"five","note":"say \\"hi\\""}'), [400, (await sent('{"ref":"o5","meta":{"ip":"10.0.0.5"},"score":"five"}'))[1]]);
      const stored = await store.readPending('nested', 0, 100_000);
      const o4 = stored.find((r) => r.data.ref === 'o4');
      assert.deepEqual(o4?.data, { ref: 'o4', meta: { ip: '10.0.0.4' }, score: 4 });
      assert.equal(stored.some((r) => r.data.ref === 'o3' || r.data.ref === 'o5'), false);
    });

    test('NDJSON bodies follow the file reader\'s line rules: a byte order mark opening the body is dropped, a line of no-break spaces is a bad record, not a blank line', async () => {
      const body = '\ufeff{"id":"b1","email":"b1@example.com"}\n\u00a0\u00a0\n{"id":"b2","email":"b2@example.com"}\n\ufeff{"id":"b3","email":"b3@example.com"}\n';
      const reply = await ingest('leads', Buffer.from(body), 'application/x-ndjson');
      assert.equal(reply.status, 202);
      const answer = (await reply.json()) as { accepted: number; rejected: { index: number; reasons: { code: string }[] }[] };
      assert.equal(answer.accepted, 2);
      // As `lading run` reads the same bytes from a file: line 2 and line 4 fail, nothing is skipped unseen.
      assert.deepEqual(answer.rejected.map((r) => [r.index, r.reasons[0]!.code]), [[1, 'SOURCE_MALFORMED_JSON'], [3, 'SOURCE_MALFORMED_JSON']]);
      const stored = new Map((await store.readPending('leads', 0, 100_000)).map((r) => [r.data.id, r.data]));
      assert.deepEqual(stored.get('b1'), { id: 'b1', email: 'b1@example.com' });
      assert.ok(stored.has('b2'));
      assert.equal(stored.has('b3'), false);
    });

    test('a JSON body is read as fastify reads it: a byte order mark is dropped; empty, non-UTF-8, malformed and prototype-poisoning bodies are refused with what is wrong', async () => {
      // Sent with white space around it, a byte order mark and a non-ASCII character; an array's records each on their own.
      const one = await ingest('leads', Buffer.from('\ufeff \n{"id": "j1", "email": "j1@example.com", "city": "Kraków"}\r\n'));
      assert.deepEqual(await one.json(), { accepted: 1, duplicates: 0, rejected: [] });
      const many = await ingest('leads', Buffer.from('[{"id":"j2","email":"j2@example.com"},{"id":"j3","email":"j3@example.com","n":1.50}]'), 'application/json; charset=utf-8');
      assert.deepEqual(await many.json(), { accepted: 2, duplicates: 0, rejected: [] });
      const stored = new Map((await store.readPending('leads', 0, 100_000)).map((r) => [r.data.id, r.data]));
      assert.deepEqual(stored.get('j1'), { id: 'j1', email: 'j1@example.com', city: 'Kraków' });
      assert.deepEqual(stored.get('j3'), { id: 'j3', email: 'j3@example.com', n: 1.5 });
      // A body that is one record is stored as it was sent, as an NDJSON line is.
      const raw = new Database(dbPath, { readonly: true });
      try {
        assert.equal(raw.prepare("SELECT data FROM inbox_records WHERE data LIKE '%\"j1\"%'").pluck().get(), '{"id": "j1", "email": "j1@example.com", "city": "Kraków"}');
      } finally {
        raw.close();
      }

      const refused = async (body: Uint8Array | string) => {
        const reply = await ingest('leads', body);
        const { error } = (await reply.json()) as { error: { code: string; message: string } };
        return [reply.status, error.code, error.message];
      };
      assert.deepEqual(await refused(''), [400, 'API_BAD_REQUEST', 'the body is empty: send a JSON object, an array of them, or NDJSON']);
      assert.deepEqual(await refused(Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])), [400, 'API_BAD_REQUEST', 'the body is not valid UTF-8']);
      const [status, code, message] = await refused('{"id":');
      assert.deepEqual([status, code], [400, 'API_BAD_REQUEST']);
      assert.match(String(message), /^the body is not valid JSON: /);
      // Refused below the top level too, written out or spelled with escapes, as fastify refuses them.
      for (const poisoned of [
        '{"id":"p1","email":"p@example.com","__proto__":{"admin":true}}',
        '{"id":"p2","email":"p@example.com","meta":{"__proto__":{"admin":true}}}',
        '{"id":"p3","email":"p@example.com","meta":[{"\\u005f_proto__":{"admin":true}}]}',
        '{"id":"p4","email":"p@example.com","meta":{"constructor":{"prototype":{"admin":true}}}}',
      ]) {
        assert.deepEqual(await refused(poisoned), [400, 'API_BAD_REQUEST', 'the body is not valid JSON: Object contains forbidden prototype property'], poisoned);
      }
      const after = new Set((await store.readPending('leads', 0, 100_000)).map((r) => r.data.id));
      assert.deepEqual(['p1', 'p2', 'p3', 'p4'].filter((id) => after.has(id)), []);
      assert.equal(Object.getPrototypeOf({}).admin, undefined);
    });

    test('a 202 is durable: another connection to the database finds the records', async () => {
      const reply = await ingest('leads', JSON.stringify({ id: 'durable-1', email: 'd@example.com' }));
      assert.equal(reply.status, 202);
      const other = await openSqliteStore(dbPath);
      try {
        const pending = await other.readPending('leads', 0, 10_000);
        assert.ok(pending.some((r) => r.data.id === 'durable-1'));
      } finally {
        await other.close();
      }
    });

    test('an Idempotency-Key re-send gets the same answer and stores nothing again; key_field deduplicates records', async () => {
      const before = (await store.inboxStats('leads')).pending;
      const body = JSON.stringify([{ id: 'k1', email: 'k1@example.com' }, { id: 'k2', email: 'bad' }]);
      const first = await ingest('leads', body, 'application/json', { 'idempotency-key': 'req-42' });
      const again = await ingest('leads', body, 'application/json', { 'idempotency-key': 'req-42' });
      assert.equal(first.status, 202);
      assert.equal(again.status, 202);
      const [a, b] = [(await first.json()) as Record<string, unknown>, (await again.json()) as Record<string, unknown>];
      assert.deepEqual({ ...b, replayed: undefined }, { ...a, replayed: undefined });
      assert.equal(b.replayed, true);
      assert.equal((await store.inboxStats('leads')).pending, before + 1);
      // Without the header, the pipeline's key_field (id) still recognises k1.
      const resent = await ingest('leads', JSON.stringify({ id: 'k1', email: 'k1@example.com' }));
      assert.deepEqual(await resent.json(), { accepted: 0, duplicates: 1, rejected: [] });
    });

    test('400 when no record is accepted, 404 unknown pipeline, 409 non-inbox pipeline, 413 too large, 415 wrong type', async () => {
      const none = await ingest('leads', JSON.stringify([{ id: 'x' }]));
      assert.equal(none.status, 400);
      const error = ((await none.json()) as { error: { code: string; details: { rejected: { index: number }[] } } }).error;
      assert.equal(error.code, 'API_RECORDS_REJECTED');
      assert.deepEqual(error.details.rejected.map((r) => r.index), [0]);

      const codeOf = async (response: Response) => [response.status, ((await response.json()) as { error: { code: string } }).error.code];
      assert.deepEqual(await codeOf(await ingest('nope', '{}')), [404, 'API_PIPELINE_NOT_FOUND']);
      assert.deepEqual(await codeOf(await ingest('products', '{}')), [409, 'API_PIPELINE_NOT_INBOX']);
      const huge = JSON.stringify([{ id: 'big', email: 'b@example.com', note: 'x'.repeat(100 * 1024) }]);
      assert.deepEqual(await codeOf(await ingest('leads', huge)), [413, 'API_BODY_TOO_LARGE']);
      assert.deepEqual(await codeOf(await ingest('leads', 'id,email\n1,a@b.c', 'text/csv')), [415, 'API_UNSUPPORTED_MEDIA_TYPE']);
      assert.deepEqual(await codeOf(await ingest('leads', '{"id":', 'application/json')), [400, 'API_BAD_REQUEST']);
    });

    test('an inbox at max_pending answers 429 with Retry-After', async () => {
      assert.equal((await ingest('small', '[{"n":1},{"n":2}]')).status, 202);
      const full = await ingest('small', '{"n":3}');
      assert.equal(full.status, 429);
      assert.ok(Number(full.headers.get('retry-after')) > 0);
      assert.equal(((await full.json()) as { error: { code: string } }).error.code, 'API_INBOX_FULL');
    });

    test('concurrent requests are all committed (group commit)', async () => {
      const before = (await store.inboxStats('leads')).pending;
      const replies = await Promise.all(Array.from({ length: 20 }, (_, n) => ingest('leads', JSON.stringify({ id: `c${n}`, email: `c${n}@example.com` }))));
      assert.deepEqual(replies.map((r) => r.status), Array(20).fill(202));
      assert.equal((await store.inboxStats('leads')).pending, before + 20);
    });
  });

  describe('jobs', () => {
    test('a submitted job runs to completion: status, report, SSE events, deliveries and the artifact', async () => {
      const submitted = await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'leads', options: { chunk_size: 5 } } });
      assert.equal(submitted.status, 202);
      const { job_id, status_url } = (await submitted.json()) as { job_id: string; status_url: string };
      const events = await readEvents(await call(`${status_url}/events`, { key: keys.alice }));
      assert.ok(events.some((e) => e.event === 'progress'));
      assert.equal(events.at(-1)!.event, 'run_finished');

      const job = (await (await call(status_url, { key: keys.alice })).json()) as { status: string; progress: { processed: number }; report: RunReport };
      assert.equal(job.status, 'completed');
      assert.equal(job.report.job_id, job_id);
      assert.equal(job.report.summary.succeeded, job.progress.processed);
      const [file] = job.report.artifacts.files;
      assert.ok(file);
      // Following a finished job by polling ends at once with its report.
      const replay = await readEvents(await call(`${status_url}/events`, { key: keys.alice }));
      assert.deepEqual(replay.map((e) => e.event), ['run_finished']);

      const artifact = await call(`${status_url}/artifacts/${encodeURIComponent(file.name)}`, { key: keys.alice });
      assert.equal(artifact.status, 200);
      const bytes = Buffer.from(await artifact.arrayBuffer());
      assert.equal(bytes.length, file.bytes);
      assert.match(bytes.toString(), /k1@example\.com/);
      assert.equal((await call(`${status_url}/artifacts/nothing.csv`, { key: keys.alice })).status, 404);

      const deliveries = (await (await call('/v1/deliveries', { key: keys.alice })).json()) as { deliveries: { job_id: string }[] };
      assert.ok(deliveries.deliveries.some((d) => d.job_id === job_id));
      const pipeline = (await (await call('/v1/pipelines/leads', { key: keys.alice })).json()) as { queue: { pending: number }; next_trigger: null };
      assert.equal(pipeline.queue.pending, 0);
      assert.equal(pipeline.next_trigger, null);
    });

    test('jobs are visible only to keys of the same owner, and to admin', async () => {
      const { job_id } = (await (await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'products', items: [{ sku: 'x' }] } })).json()) as { job_id: string };
      await waitFinished(job_id);
      assert.equal((await call(`/v1/jobs/${job_id}`, { key: keys.reader })).status, 200, 'another key of the same owner');
      const foreign = await call(`/v1/jobs/${job_id}`, { key: keys.bob });
      assert.equal(foreign.status, 404);
      assert.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'API_JOB_NOT_FOUND');
      assert.equal((await call(`/v1/jobs/${job_id}/cancel`, { method: 'POST', key: keys.bob })).status, 404);
      assert.equal((await call(`/v1/jobs/${job_id}`, { key: keys.admin })).status, 200);
      const bobs = (await (await call('/v1/deliveries', { key: keys.bob })).json()) as { deliveries: { job_id: string }[] };
      assert.ok(bobs.deliveries.every((d) => d.job_id !== job_id));
    });

    test('failed items are paginated by cursor, grouped in /errors, and retried as a new job', async () => {
      const items = [{ sku: 'ok' }, { sku: 'BAD1' }, { sku: 'BAD2' }, { sku: 'BAD3' }];
      const { job_id } = (await (await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'products', items } })).json()) as { job_id: string };
      const report = await waitFinished(job_id);
      assert.equal(report.summary.failed, 3);

      const first = (await (await call(`/v1/jobs/${job_id}/items?status=failed&limit=2`, { key: keys.alice })).json()) as { items: { item_id: string; data: unknown }[]; next_cursor: string };
      assert.deepEqual(first.items.map((i) => i.data), [{ sku: 'BAD1' }, { sku: 'BAD2' }]);
      const second = (await (await call(`/v1/jobs/${job_id}/items?status=failed&limit=2&cursor=${first.next_cursor}`, { key: keys.alice })).json()) as { items: { data: unknown }[]; next_cursor: string | null };
      assert.deepEqual(second.items.map((i) => i.data), [{ sku: 'BAD3' }]);
      assert.equal(second.next_cursor, null);

      const errors = (await (await call(`/v1/jobs/${job_id}/errors`, { key: keys.alice })).json()) as { error_categories: Record<string, number>; samples: Record<string, unknown[]> };
      assert.deepEqual(errors.error_categories, { ValidationError: 3 });
      assert.equal(errors.samples.ValidationError!.length, 3);

      const retry = await call(`/v1/jobs/${job_id}/retry`, { method: 'POST', key: keys.alice });
      assert.equal(retry.status, 202);
      const retried = (await retry.json()) as { job_id: string; parent_job_id: string };
      assert.equal(retried.parent_job_id, job_id);
      const again = await waitFinished(retried.job_id);
      assert.equal(again.parent_run_id, job_id);
      assert.equal(again.summary.total_items, 3);
      assert.deepEqual(await store.listDeadLetters({ runId: job_id, status: 'dead' }), []);
    });

    test('a running job can be paused, resumed and cancelled', async () => {
      let entered!: () => void;
      const running = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      hooks.__ladingServeGate = async () => {
        entered();
        await gate;
      };
      try {
        const items = Array.from({ length: 5 }, () => ({ sku: 'slow' }));
        const { job_id } = (await (await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'products', items } })).json()) as { job_id: string };
        await running;
        const status = async () => ((await (await call(`/v1/jobs/${job_id}`, { key: keys.alice })).json()) as { status: string }).status;
        assert.equal(await status(), 'running');
        assert.equal((await call(`/v1/jobs/${job_id}/pause`, { method: 'POST', key: keys.alice })).status, 202);
        assert.equal(await status(), 'paused');
        assert.equal((await call(`/v1/jobs/${job_id}/resume`, { method: 'POST', key: keys.alice })).status, 202);
        assert.equal(await status(), 'running');
        const events = call(`/v1/jobs/${job_id}/events`, { key: keys.alice }).then(readEvents);
        assert.equal((await call(`/v1/jobs/${job_id}/cancel`, { method: 'POST', key: keys.alice })).status, 202);
        release();
        const last = (await events).at(-1)!;
        assert.equal(last.event, 'run_finished');
        assert.equal((last.data.report as RunReport).status, 'cancelled');
        assert.equal(await status(), 'cancelled');
        const late = await call(`/v1/jobs/${job_id}/pause`, { method: 'POST', key: keys.alice });
        assert.equal(late.status, 409);
        assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'API_JOB_NOT_RUNNING');
      } finally {
        delete hooks.__ladingServeGate;
        release();
      }
    });

    test('a dry-run job reports without storing a run; a bad request body is 400', async () => {
      const { job_id } = (await (await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'products', items: [{ sku: 'ok' }, { sku: 'NO' }], options: { mode: 'dry_run' } } })).json()) as { job_id: string };
      const events = await readEvents(await call(`/v1/jobs/${job_id}/events`, { key: keys.alice }));
      assert.equal(events.at(-1)!.event, 'run_finished');
      const job = (await (await call(`/v1/jobs/${job_id}`, { key: keys.alice })).json()) as { status: string; report: { summary: { blocked: number } } };
      assert.equal(job.status, 'completed_with_errors');
      assert.equal(job.report.summary.blocked, 1);
      assert.equal(await store.getRun(job_id), null);
      const bad = await call('/v1/jobs', { method: 'POST', key: keys.alice, json: { pipeline: 'products', options: { mode: 'fast' } } });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'API_BAD_REQUEST');
    });
  });
});

describe('pipeline catalog', () => {
  test('two files declaring the same pipeline name are refused, naming both', () => {
    const yaml = 'name: same\nsource: { type: inbox }\noutput: { type: file, format: csv, destination: { type: local, path: out } }\n';
    const one = { ...parsePipelineYaml(yaml, { origin: 'a.yaml' }), baseDir: '.', origin: 'a.yaml' };
    const two = { ...one, origin: 'b.yaml' };
    assert.throws(() => catalogOf([one, two]), (error: unknown) =>
      error instanceof LadingError && error.code === 'CONFIG_DUPLICATE_PIPELINE' && /a\.yaml/.test(error.message) && /b\.yaml/.test(error.message));
  });
});
