/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core against
 * `lading serve` on a loopback port with a real SQLite file. A job pushes items to an HTTP sink
 * on loopback that holds its answers until the test lets them go, so progress is visible and
 * every wait is for a state, never for time. Screenshots land in test-artifacts/dashboard/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createApiKey } from '../../src/api/auth.js';
import { buildServer, type LadingServer } from '../../src/api/server.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/tmp.js';

const executablePath = process.env.LADING_TEST_CHROMIUM || '/usr/bin/chromium';
const skip = existsSync(executablePath) ? false : `no chromium at ${executablePath}: run scripts/ensure-chromium.sh as root (or install Debian's chromium) to run the browser tests`;
const artifacts = join('test-artifacts', 'dashboard');

/** An HTTP receiver that answers each request only once `release(n)` let n more through. */
function heldReceiver(): Promise<{ url: string; received: () => number; release: (n: number) => void; server: Server }> {
  let allowed = 0;
  let received = 0;
  const waiting: (() => void)[] = [];
  const pump = () => {
    while (allowed > 0 && waiting.length > 0) {
      allowed -= 1;
      waiting.shift()!();
    }
  };
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      waiting.push(() => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
      pump();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/items`,
    received: () => received,
    release(n) {
      allowed += n;
      pump();
    },
    server,
  })));
}

describe('dashboard in a browser', { skip }, () => {
  const dir = tempDir('lading-dashboard-');
  let store: SqliteStore;
  let server: LadingServer;
  let receiver: Awaited<ReturnType<typeof heldReceiver>>;
  let context: BrowserContext;
  let url: string;
  let key: string;

  const submit = async (pipeline: string): Promise<string> => {
    const response = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ pipeline }) });
    assert.equal(response.status, 202);
    return ((await response.json()) as { job_id: string }).job_id;
  };
  const finished = async (jobId: string): Promise<void> => {
    // The event stream ends after run_finished.
    await (await fetch(`${url}/v1/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${key}` } })).text();
  };
  const signIn = async (page: Page, withKey = key): Promise<void> => {
    await page.goto(url);
    await page.fill('#api-key', withKey);
    await page.click('form.sign-in button[type=submit]');
  };
  // Page scripts are given as strings: the tests compile without the DOM's types.
  const shot = (page: Page, name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    receiver = await heldReceiver();
    writeFileSync(join(dir, 'push.yaml'), `
name: push
source: { type: inline, items: [${Array.from({ length: 10 }, (_, n) => `{ sku: "p${n}" }`).join(', ')}] }
output: { type: http, url: "${receiver.url}" }
execution: { chunk_size: 1, concurrency: 1 }
`);
    writeFileSync(join(dir, 'leads.yaml'), `
name: leads
source:
  type: inline
  items:
    - { id: "1", email: "ann@example.com" }
    - { id: "2", email: "not-an-email" }
    - { id: "3", email: "bob@example.com" }
    - { id: "4", email: "also-bad" }
validate:
  required: [email]
  rules:
    email: { format: email }
output:
  type: file
  format: ndjson
  naming: "leads_{run_id}.{ext}"
  destination: { type: local, path: out }
execution: { chunk_size: 2, success_threshold: 0.5 }
sla: { availability: 0.4 }
`);
    writeFileSync(join(dir, 'nightly.yaml'), `
name: nightly
source: { type: inline, items: [{ id: "1" }, { id: "2" }] }
validate: { required: [email] }
output: { type: file, format: ndjson, naming: "nightly_{run_id}.{ext}", destination: { type: local, path: out } }
sla: { availability: 0.99, completeness: true }
`);
    store = await openSqliteStore(join(dir, 'data', 'lading.db'));
    server = await buildServer({ store, catalog: await loadCatalog([dir]), dataDir: join(dir, 'data'), pollMs: 50 });
    url = await server.listen('127.0.0.1', 0);
    key = (await createApiKey(store, { owner: 'ops', scopes: ['jobs:write'], clock: systemClock })).key;
    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
  });
  after(async () => {
    await context?.close();
    receiver?.release(1_000);
    await server?.close();
    await store?.close();
    receiver?.server.close();
  });

  test('/ is served with a Content-Security-Policy that allows only the page\'s own scripts and styles', async () => {
    const response = await fetch(`${url}/`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.equal((await fetch(`${url}/ui/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await fetch(`${url}/ui/..%2Fserve.ts`)).status, 404);
  });

  test('a wrong key shows the sign-in error and signs nobody in', async () => {
    const page = await context.newPage();
    try {
      await signIn(page, 'lading_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      const error = page.locator('form.sign-in .error');
      await error.waitFor();
      assert.match(await error.textContent() ?? '', /refused \(API_UNAUTHORIZED\)/);
      assert.equal(await page.evaluate('sessionStorage.getItem("lading.apiKey")'), null);
      assert.equal(await page.locator('#nav').isHidden(), true);
      await shot(page, 'sign-in-error');
    } finally {
      await page.close();
    }
  });

  test('signed in, the overview lists the pipelines and a run\'s bar moves to 100% as it completes', async () => {
    const page = await context.newPage();
    try {
      await signIn(page);
      await page.locator('#pipelines tr[data-pipeline="push"]').waitFor();
      assert.equal(await page.evaluate('sessionStorage.getItem("lading.apiKey")'), key);

      const jobId = await submit('push');
      receiver.release(3);
      const row = page.locator(`#runs tr[data-job="${jobId}"]`);
      // Three answers let through, the fourth held: the run is part way.
      await row.locator('.bar[aria-valuenow="30"]').waitFor();
      assert.equal(await row.locator('.status').getAttribute('data-status'), 'running');
      await shot(page, 'overview-running');

      receiver.release(1_000);
      await row.locator('.bar[aria-valuenow="100"]').waitFor();
      await row.locator('.status[data-status="completed"]').waitFor();
      assert.match(await row.locator('.figures').textContent() ?? '', /100% · 10 \/ 10/);
      assert.equal(receiver.received(), 10);
      await shot(page, 'overview-completed');

      await page.click(`#runs a[href="#/runs/${jobId}"]`);
      await page.locator('#chunks svg.chart').waitFor();
      assert.equal(await page.locator('#chunks svg.chart .bar-group').count(), 10, 'one bar per committed chunk');
    } finally {
      await page.close();
    }
  });

  test('a run\'s page shows errors, files and dead letters; Retry sends one letter through the API', async () => {
    const jobId = await submit('leads');
    await finished(jobId);
    const page = await context.newPage();
    try {
      await signIn(page);
      await page.goto(`${url}/#/runs/${jobId}`);
      const status = (await store.getRun(jobId))?.status;
      await page.locator(`#run .status[data-status="${status}"]`).waitFor();
      await page.locator('#errors .category[data-category="ValidationError"]').waitFor();
      assert.match(await page.locator('#errors .category .count').textContent() ?? '', /2/);
      const file = page.locator('#files tr[data-file]');
      await file.waitFor();
      const [stored] = await store.listFiles(jobId);
      assert.ok(stored, 'the run delivered a file');
      assert.equal(await file.locator('.hash').getAttribute('title'), stored.sha256);
      assert.equal(await file.locator('td[data-label="Records"]').textContent(), '2');

      const letter = page.locator('#dead-letters tr[data-item="inline:2"]');
      await letter.waitFor();
      await shot(page, 'run-dead-letters');
      await letter.locator('button[data-action="retry"]').click();
      const note = page.locator('#dead-letters .ok-note');
      await note.waitFor();
      const retryId = await note.locator('a').textContent();
      assert.ok(retryId);
      await letter.locator('.letter-status.ls-retried').waitFor();
      await finished(retryId);

      const letters = await store.listDeadLetters({ runId: jobId });
      assert.deepEqual(letters.map((l) => [l.itemId, l.status]), [['inline:2', 'retried'], ['inline:4', 'dead']]);
      const retry = await store.getRun(retryId);
      assert.equal(retry?.parentRunId, jobId);
      assert.equal(retry?.processed, 1, 'only the letter asked for was retried');
      await shot(page, 'run-retried');
    } finally {
      await page.close();
    }
  });

  test('the overview shows each pipeline\'s SLA verdicts: a failed run breaches availability, with the measured rate', async () => {
    const jobId = await submit('nightly');
    await finished(jobId);
    assert.equal((await store.getRun(jobId))?.status, 'failed');
    const page = await context.newPage();
    try {
      await signIn(page);
      const availability = page.locator('#sla tr[data-pipeline="nightly"][data-objective="availability"]');
      await availability.locator('.status[data-verdict="breached"]').waitFor();
      assert.equal(await availability.locator('td[data-label="Measured"]').textContent(), '0.00%');
      assert.equal(await availability.locator('td[data-label="Target"]').textContent(), '≥ 99.00%');
      assert.match(await availability.locator('td[data-label="Detail"]').textContent() ?? '', /0 of 1 runs succeeded/);
      assert.equal(await page.locator('#sla tr[data-pipeline="nightly"][data-objective="completeness"] .status').getAttribute('data-verdict'), 'no data', 'an inline source has no inbox records to judge');
      assert.equal(await page.locator('#sla tr[data-pipeline="leads"][data-objective="availability"] .status').getAttribute('data-verdict'), 'met');
      assert.equal(await page.locator('#sla tr[data-pipeline="push"]').count(), 0, 'a pipeline without an sla: section has no rows');
      await shot(page, 'overview-sla');
    } finally {
      await page.close();
    }
  });

  test('at phone width (390 px) the overview and a run page fit without horizontal scrolling', async () => {
    const [run] = await store.listRuns({ pipeline: 'leads', limit: 1 });
    assert.ok(run);
    const page = await context.newPage();
    try {
      await page.setViewportSize({ width: 390, height: 844 });
      await signIn(page);
      await page.locator('#runs tr[data-job]').first().waitFor();
      await page.locator('#throughput svg.chart').waitFor();
      const overflow = () => page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.equal(await overflow(), 0);
      await shot(page, 'phone-overview');
      await page.goto(`${url}/#/runs/${run.parentRunId ?? run.id}`);
      await page.locator('#files tr[data-file]').waitFor();
      await page.locator('#dead-letters tr[data-item]').first().waitFor();
      assert.equal(await overflow(), 0);
      await shot(page, 'phone-run');
    } finally {
      await page.close();
    }
  });
});
