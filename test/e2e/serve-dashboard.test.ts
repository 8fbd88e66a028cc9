/**
 * The REST endpoints the dashboard reads and acts through, over real HTTP (127.0.0.1, port 0)
 * with a real SQLite file: job list, chunk timeline, dead letters retried or skipped by item,
 * delivered files, hourly throughput, and who may see what.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/tmp.js';

describe('lading serve: the dashboard\'s API', () => {
  const dir = tempDir('lading-serve-dash-');
  let store: SqliteStore;
  let server: LadingServer;
  let url: string;
  const keys = { alice: '', aliceReader: '', bob: '', admin: '', ingest: '' };
  let jobId: string;

  const call = async (path: string, key: string | undefined, init: { method?: string; json?: unknown } = {}) => {
    const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, { method: init.method ?? 'GET', headers, ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const submit = async (key: string) => {
    const { status, body } = await call('/v1/jobs', key, { method: 'POST', json: { pipeline: 'leads' } });
    assert.equal(status, 202);
    await (await fetch(`${url}/v1/jobs/${body.job_id}/events`, { headers: { authorization: `Bearer ${key}` } })).text();
    return body.job_id as string;
  };

  before(async () => {
    writeFileSync(join(dir, 'leads.yaml'), `
name: leads
source:
  type: inline
  items: [{ email: a@example.com }, { email: bad-1 }, { email: b@example.com }, { email: bad-2 }, { email: bad-3 }]
validate:
  rules:
    email: { format: email }
output: { type: file, format: ndjson, naming: "leads_{run_id}.{ext}", destination: { type: local, path: out } }
execution: { chunk_size: 2, success_threshold: 0.1 }
`);
    store = await openSqliteStore(join(dir, 'data', 'lading.db'));
    server = await buildServer({ store, catalog: await loadCatalog([dir]), dataDir: join(dir, 'data'), pollMs: 20 });
    url = await server.listen('127.0.0.1', 0);
    const make = async (owner: string, ...scopes: string[]) => (await createApiKey(store, { owner, scopes, clock: systemClock })).key;
    keys.alice = await make('alice', 'jobs:write');
    keys.aliceReader = await make('alice', 'jobs:read');
    keys.bob = await make('bob', 'jobs:write');
    keys.admin = await make('ops', 'admin');
    keys.ingest = await make('partner', 'ingest:*');
    jobId = await submit(keys.alice);
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  test('GET /v1/jobs lists the runs a key may see, newest first', async () => {
    const bobsJob = await submit(keys.bob);
    assert.deepEqual((await call('/v1/jobs', keys.alice)).body.jobs.map((j: { job_id: string }) => j.job_id), [jobId]);
    assert.deepEqual((await call('/v1/jobs', keys.admin)).body.jobs.map((j: { job_id: string }) => j.job_id), [bobsJob, jobId]);
    const [job] = (await call('/v1/jobs?limit=1', keys.admin)).body.jobs;
    assert.equal(job.status, 'completed_with_errors');
    assert.deepEqual(job.progress, { processed: 5, succeeded: 2, failed: 3, warnings: 0, total: 5 });
    assert.equal((await call('/v1/jobs', keys.ingest)).status, 403);
    assert.equal((await call('/v1/jobs?limit=0', keys.alice)).status, 400);
  });

  test('the chunk timeline lists each committed chunk with its items and outcome', async () => {
    const { status, body } = await call(`/v1/jobs/${jobId}/chunks`, keys.aliceReader);
    assert.equal(status, 200);
    assert.deepEqual(body.chunks.map((c: Record<string, unknown>) => [c.index, c.items, c.succeeded, c.failed]), [[0, 2, 1, 1], [1, 2, 1, 1], [2, 1, 0, 1]]);
    for (const chunk of body.chunks) assert.ok(!Number.isNaN(Date.parse(chunk.committed_at)));
    assert.equal((await call(`/v1/jobs/${jobId}/chunks`, keys.bob)).status, 404, 'another owner\'s job is not visible');
  });

  test('delivered files carry size, records, SHA-256 and their delivery state', async () => {
    const { body } = await call(`/v1/jobs/${jobId}/files`, keys.alice);
    const [stored] = await store.listFiles(jobId);
    assert.ok(stored);
    assert.equal(body.files.length, 1);
    assert.deepEqual([body.files[0].name, body.files[0].bytes, body.files[0].records, body.files[0].sha256], [stored.name, stored.bytes, 2, stored.sha256]);
    assert.ok(body.files[0].deliveries.every((d: { state: string }) => typeof d.state === 'string'));
  });

  test('dead letters are skipped and retried by item id; the retry is a linked job over those items only', async () => {
    const listed = await call(`/v1/jobs/${jobId}/dead-letters?status=dead`, keys.alice);
    assert.deepEqual(listed.body.dead_letters.map((l: { item_id: string; data: unknown }) => [l.item_id, l.data]),
      [['inline:2', { email: 'bad-1' }], ['inline:4', { email: 'bad-2' }], ['inline:5', { email: 'bad-3' }]]);

    assert.equal((await call(`/v1/jobs/${jobId}/dead-letters/skip`, keys.aliceReader, { method: 'POST', json: { item_ids: ['inline:5'] } })).status, 403);
    assert.equal((await call(`/v1/jobs/${jobId}/dead-letters/skip`, keys.alice, { method: 'POST', json: { item_ids: [] } })).status, 400);
    assert.deepEqual((await call(`/v1/jobs/${jobId}/dead-letters/skip`, keys.alice, { method: 'POST', json: { item_ids: ['inline:5'] } })).body, { job_id: jobId, skipped: 1 });
    const again = await call(`/v1/jobs/${jobId}/dead-letters/skip`, keys.alice, { method: 'POST', json: { item_ids: ['inline:5'] } });
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'API_DEAD_LETTER_NOT_FOUND');
    assert.equal((await call(`/v1/jobs/${jobId}/dead-letters/retry`, keys.alice, { method: 'POST', json: { item_ids: ['inline:1'] } })).body.error.code, 'API_DEAD_LETTER_NOT_FOUND');

    const retry = await call(`/v1/jobs/${jobId}/dead-letters/retry`, keys.alice, { method: 'POST', json: { item_ids: ['inline:2', 'inline:9'] } });
    assert.equal(retry.status, 202);
    assert.deepEqual([retry.body.parent_job_id, retry.body.item_ids], [jobId, ['inline:2']]);
    await (await fetch(`${url}/v1/jobs/${retry.body.job_id}/events`, { headers: { authorization: `Bearer ${keys.alice}` } })).text();
    const child = await store.getRun(retry.body.job_id);
    assert.deepEqual([child?.parentRunId, child?.processed], [jobId, 1]);
    const after = await call(`/v1/jobs/${jobId}/dead-letters`, keys.alice);
    assert.deepEqual(after.body.dead_letters.map((l: { item_id: string; status: string }) => [l.item_id, l.status]),
      [['inline:2', 'retried'], ['inline:4', 'dead'], ['inline:5', 'skipped']]);
  });

  test('throughput lists every hour of the window per pipeline, the current hour holding the commits', async () => {
    const { status, body } = await call('/v1/stats/throughput?hours=3', keys.alice);
    assert.equal(status, 200);
    assert.equal(body.hours.length, 3);
    assert.ok(Date.parse(body.until) > Date.now() && Date.parse(body.until) - Date.now() <= 3_600_000, 'the window ends with the current hour');
    const [leads] = body.pipelines;
    assert.equal(leads.pipeline, 'leads');
    assert.deepEqual(leads.hours.map((h: { hour: string }) => h.hour), body.hours);
    const total = leads.hours.reduce((n: number, h: { processed: number; failed: number }) => n + h.processed, 0);
    const runs = (await store.listRuns({ submittedBy: 'alice' })).filter((r) => r.pipeline === 'leads');
    assert.equal(total, runs.reduce((n, r) => n + r.processed, 0), 'alice sees her own runs\' items');
    assert.equal((await call('/v1/stats/throughput?hours=0', keys.alice)).status, 400);
    assert.equal((await call('/v1/stats/throughput', keys.ingest)).status, 403);
  });

  test('the OpenAPI document lists the dashboard\'s routes; / serves the page without a key', async () => {
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    for (const path of ['/v1/jobs/{id}/chunks', '/v1/jobs/{id}/dead-letters', '/v1/jobs/{id}/dead-letters/retry', '/v1/jobs/{id}/dead-letters/skip', '/v1/jobs/{id}/files', '/v1/stats/throughput']) {
      assert.ok(path in doc.paths, `${path} in the OpenAPI paths`);
    }
    assert.ok(!('/' in doc.paths), 'the page is not an API route');
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /<script type="module" src="\/ui\/app\.js">/);
  });
});
