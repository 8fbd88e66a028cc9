// GET /v1/jobs/{id}/artifacts/{name} for files delivered to buckets: lading serve on loopback,
// jobs delivering to s3rver (a real S3-compatible server; it checks a link's expiry but not its
// SigV4 signature, see test/unit/destinations/signed-url.test.ts) and to the GCS STAND-IN (no
// authentication; used here only to deliver a file whose link cannot be signed).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import type { RunReport } from '../../src/core/report.js';
import { createLogger } from '../../src/observe/log.js';
import { Metrics } from '../../src/observe/metrics.js';
import { observer } from '../../src/observe/observer.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { startGcsStandin, type GcsStandin } from '../support/servers/gcs-standin.js';
import { startS3, type S3Server } from '../support/servers/s3.js';
import { tempDir } from '../support/tmp.js';

describe('artifact links', () => {
  const dir = tempDir('lading-serve-links-');
  let s3: S3Server;
  let gcs: GcsStandin;
  let store: SqliteStore;
  let server: LadingServer;
  let url: string;
  let key: string;
  const lines: string[] = [];

  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, { redirect: 'manual', ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } });

  /** Runs the pipeline on two inline items and answers the job id and its one delivered file. */
  async function deliver(pipeline: string): Promise<{ jobId: string; file: RunReport['artifacts']['files'][number] }> {
    const submitted = await call('/v1/jobs', { method: 'POST', body: JSON.stringify({ pipeline, items: [{ id: 1, email: 'ann@example.com' }, { id: 2, email: 'bo@example.com' }] }) });
    assert.equal(submitted.status, 202);
    const { job_id: jobId } = (await submitted.json()) as { job_id: string };
    const events = await (await call(`/v1/jobs/${jobId}/events`)).text();
    const finished = events.split('\n\n').find((block) => block.startsWith('event: run_finished'))!;
    const report = (JSON.parse(finished.split('\ndata: ')[1]!) as { report: RunReport }).report;
    assert.equal(report.status, 'completed');
    return { jobId, file: report.artifacts.files[0]! };
  }

  before(async () => {
    [s3, gcs] = await Promise.all([startS3(), startGcsStandin()]);
    // The run's stored config keeps ${env:…} references: rebuilding its destination for a link reads them again.
    process.env.LINKS_S3_KEY = s3.accessKeyId;
    process.env.LINKS_S3_SECRET = s3.secretAccessKey;
    writeFileSync(join(dir, 'to-s3.yaml'), `
name: to-s3
source: { type: inline, items: [] }
output:
  type: file
  format: ndjson
  naming: "{pipeline}_{run_id}.{ext}"
  destination: { type: s3, bucket: ${s3.bucket}, prefix: outbox, endpoint: "${s3.url}", force_path_style: true, access_key_id: "\${env:LINKS_S3_KEY}", secret_access_key: "\${env:LINKS_S3_SECRET}" }
`);
    writeFileSync(join(dir, 'to-gcs.yaml'), `
name: to-gcs
source: { type: inline, items: [] }
output:
  type: file
  format: ndjson
  destination: { type: gcs, bucket: ${gcs.bucket}, api_endpoint: "${gcs.url}", project_id: test }
`);
    store = await openSqliteStore(join(dir, 'data', 'lading.db'));
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
    server = await buildServer({
      store, catalog: await loadCatalog([dir]), dataDir: join(dir, 'data'), pollMs: 20,
      observer: observer(new Metrics(systemClock), logger), artifactUrlTtlMs: 5 * 60_000,
    });
    url = await server.listen('127.0.0.1', 0);
    key = (await createApiKey(store, { owner: 'alice', scopes: ['jobs:write'], clock: systemClock })).key;
  });
  after(async () => {
    await server.close();
    await store.close();
    await Promise.all([s3.stop(), gcs.stop()]);
  });

  test('a file in S3 is answered 302 to a signed link that fetches exactly the delivered bytes', async () => {
    const { jobId, file } = await deliver('to-s3');
    const answer = await call(`/v1/jobs/${jobId}/artifacts/${encodeURIComponent(file.name)}`);
    assert.equal(answer.status, 302);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const location = new URL(answer.headers.get('location')!);
    assert.equal(location.pathname, `/${s3.bucket}/outbox/${file.name}`);
    assert.equal(location.searchParams.get('X-Amz-Expires'), '300');

    const fetched = await fetch(location);
    assert.equal(fetched.status, 200);
    assert.equal(createHash('sha256').update(Buffer.from(await fetched.arrayBuffer())).digest('hex'), file.sha256);

    const logged = lines.filter((line) => line.includes('artifact link signed'));
    assert.equal(logged.length, 1);
    assert.ok(logged[0]!.includes(`/${s3.bucket}/outbox/${file.name}`), 'the log names the object');
    assert.ok(lines.every((line) => !line.includes(location.searchParams.get('X-Amz-Signature')!) && !line.includes('X-Amz-')), 'no log line carries the signature');
  });

  test('redirect=false answers the link and its expiry as JSON', async () => {
    const { jobId, file } = await deliver('to-s3');
    const started = Date.now();
    const answer = await call(`/v1/jobs/${jobId}/artifacts/${encodeURIComponent(file.name)}?redirect=false`);
    assert.equal(answer.status, 200);
    const body = (await answer.json()) as { url: string; expires_at: string };
    assert.deepEqual(Object.keys(body).sort(), ['expires_at', 'url']);
    assert.ok(Math.abs(Date.parse(body.expires_at) - (started + 300_000)) < 5_000);
    const fetched = await fetch(body.url);
    assert.equal(createHash('sha256').update(Buffer.from(await fetched.arrayBuffer())).digest('hex'), file.sha256);
  });

  test('a file in a bucket whose credentials cannot sign is a clear 409, not a 500', async () => {
    const { jobId, file } = await deliver('to-gcs');
    const answer = await call(`/v1/jobs/${jobId}/artifacts/${encodeURIComponent(file.name)}`);
    assert.equal(answer.status, 409);
    const { error } = (await answer.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'API_ARTIFACT_UNSIGNABLE');
    assert.match(error.message, /key_file/);
    assert.equal((await call(`/v1/jobs/${jobId}/artifacts/missing.ndjson`)).status, 404);
  });
});
