// Daily report, lineage, retention and SLAs over a real SQLite store, seeded through the Store
// API with an injected clock; mail goes to a real SMTP server on loopback.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, mkdir, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { parsePipeline, type LoadedPipeline } from '../../../src/config/load.js';
import { manualClock } from '../../../src/core/clock.js';
import type { RunReport } from '../../../src/core/report.js';
import { LadingError } from '../../../src/errors/lading-error.js';
import { dailyReport, dayWindow } from '../../../src/reports/daily.js';
import { Housekeeper } from '../../../src/reports/housekeeping.js';
import { renderDailyHtml, renderDailyText } from '../../../src/reports/render.js';
import { purgePipeline } from '../../../src/reports/retention.js';
import { checkSla, judgeSla, slaStatus } from '../../../src/reports/sla.js';
import { renderTrace, trace } from '../../../src/reports/trace.js';
import { openSqliteStore, type SqliteStore } from '../../../src/store/sqlite/store.js';
import { startSmtpServer } from '../../support/servers/smtp.js';

let dir: string;
let store: SqliteStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lading-reports-'));
  store = await openSqliteStore(join(dir, 'lading.db'));
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const day = '2024-03-01';
const at = (hhmm: string, date = day): Date => new Date(`${date}T${hhmm}:00.000Z`);

function runReport(id: string, batchId: string | null, status: RunReport['status'], failure?: RunReport['failure']): RunReport {
  return {
    job_id: id, pipeline: 'leads', mode: 'full', status, batch_id: batchId, source: 'inbox', started_at: at('09:00').toISOString(), completed_at: at('09:30').toISOString(),
    summary: { total_items: 3, processed: 3, succeeded: 2, failed: 1, skipped: 0, warnings: 0, retries: 0, duration_seconds: 1800, items_per_second: 0 },
    errors: [], errors_truncated: 0, error_categories: {}, warning_categories: {}, artifacts: { files: [] },
    remediation: { can_retry: true, retry_strategy: 'failed_items_only' }, last_checkpoint: null, ...(failure ? { failure } : {}),
  };
}

/**
 * One day of the leads pipeline: 5 records at 09:00; batch_1 (3 records) fails at the SFTP
 * server, then run_2 delivers it at 11:30 with one record dead-lettered; batch_2 (1 record) is
 * cut and not delivered; one record stays pending.
 */
async function seed(): Promise<number[]> {
  await store.ingest('leads', [{ data: { n: 1 }, key: 'lead-1' }, { data: { n: 2 } }, { data: { n: 3 } }, { data: { n: 4 } }, { data: { n: 5 } }], at('09:00'));
  await store.cutBatch('leads', { id: 'batch_1', at: at('09:05'), reason: 'count', maxRecords: 3 });
  await store.cutBatch('leads', { id: 'batch_2', at: at('12:00'), reason: 'age', maxRecords: 1 });
  const ids = (await store.readBatch('batch_1', 0, 10)).map((r) => r.id);
  const run = (id: string, createdAt: Date) => store.createRun({ id, createdAt, batchId: 'batch_1', pipeline: 'leads', mode: 'full', source: 'inbox', config: {} });
  await run('run_1', at('09:05'));
  await store.finishRun('run_1', { ...runReport('run_1', 'batch_1', 'failed', { code: 'DEST_SFTP_AUTH', error_type: 'AuthError', message: 'permission denied' }), completed_at: at('09:10').toISOString() });
  await store.suspendDeliveries('leads', { code: 'DEST_SFTP_AUTH', reason: 'permission denied', at: at('09:10') });
  await store.recordAlert({ pipeline: 'leads', runId: 'run_1', kind: 'deliveries_suspended', code: 'DEST_SFTP_AUTH', message: 'deliveries of leads suspended: permission denied', at: at('09:10') });
  await store.recordAlert({ pipeline: 'leads', runId: null, kind: 'deliveries_resumed', code: null, message: 'deliveries of leads resumed', at: at('11:00') });
  await run('run_2', at('11:00'));
  await store.commitChunk('run_2', {
    index: 0, lastSeq: 3, processed: 3, succeeded: 2, failed: 1, warnings: 0, at: at('11:20'),
    errors: [{ itemId: `inbox:${ids[1]}`, seq: 2, chunkIndex: 0, code: 'VALIDATE_FORMAT', errorType: 'ValidationError', category: 'permanent', severity: 'block', field: 'email', location: null, message: 'invalid email', attempts: 1, payload: { n: 2 } }],
  });
  await store.finishRun('run_2', { ...runReport('run_2', 'batch_1', 'completed_with_errors'), completed_at: at('11:30').toISOString() });
  await store.completeBatch('batch_1', 'run_2', at('11:30'));
  await store.recordFile('run_2', { name: 'leads_1.csv', part: 1, bytes: 120, records: 2, sha256: 'ab12', uri: 'sftp://partner:22/in/leads_1.csv', destination: 'sftp://partner:22/in', deliveredAt: at('11:30') });
  const d = await store.openDelivery({ id: 'dlv_1', pipeline: 'leads', batchId: 'batch_1', part: '1', destination: 'sftp://partner:22/in', runId: 'run_2', name: 'leads_1.csv', at: at('11:00') });
  await store.advanceDelivery(d.id, 'rendered', at('11:25'), { bytes: 120, records: 2, sha256: 'ab12', stagedPath: join(dir, 'staging', 'run_2', 'part-1') });
  await store.advanceDelivery(d.id, 'verified', at('11:30'), { uri: 'sftp://partner:22/in/leads_1.csv' });
  return ids;
}

test('the daily report totals a day, lists issues with their resolution, and reconciles the records', async () => {
  const ids = await seed();
  const report = await dailyReport(store, { date: day, timezone: 'UTC' });
  assert.deepEqual(report.totals, { runs: 2, runs_succeeded: 1, runs_failed: 1, success_rate: 0.5, items_processed: 3, items_succeeded: 2, items_failed: 1, files: 1, bytes: 120 });
  assert.deepEqual(report.destinations, [{ destination: 'sftp://partner:22/in', batches: 1, files: 1, records: 2, bytes: 120 }]);
  assert.deepEqual(report.issues.failed_runs.map((f) => [f.run_id, f.code, f.resolution]), [['run_1', 'DEST_SFTP_AUTH', 'batch batch_1 delivered by run run_2']]);
  assert.deepEqual(report.issues.dead_letters, [{ pipeline: 'leads', open: 1, retried: 0, skipped: 0 }]);
  assert.deepEqual(report.issues.alerts.map((a) => a.kind), ['deliveries_suspended', 'deliveries_resumed']);
  assert.deepEqual(report.performance, { average_batch_seconds: 1050, average_run_seconds: 1050, peak_hour: { hour: '11:00', items: 2 } });
  const [rec] = report.reconciliation;
  assert.deepEqual([rec?.accepted, rec?.batched, rec?.delivered, rec?.failed], [5, 4, 2, 1]);
  assert.deepEqual(rec?.differences.map((d) => [d.kind, d.records]), [['not_batched', 1], ['batched_not_delivered', 1], ['failed', 1]]);
  assert.match(rec!.differences[2]!.detail, new RegExp(`records ${ids[1]}$`));

  const text = renderDailyText(report);
  assert.match(text, /^lading daily report 2024-03-01 \(UTC\)$/m);
  assert.match(text, /run_1 +leads +failed +DEST_SFTP_AUTH: permission denied +batch batch_1 delivered by run run_2/);
  const html = renderDailyHtml(report);
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /1 batched but not delivered: batch_2 \(1, cut 2024-03-01T12:00:00.000Z\)/);
  assert.doesNotMatch(html, /<script/);
  // The same day read in New York starts five hours later: the 09:00 UTC records fall on it too.
  assert.deepEqual(dayWindow(day, 'America/New_York'), { from: at('05:00'), to: at('05:00', '2024-03-02') });
  await assert.rejects(dailyReport(store, { date: '2024-3-1', timezone: 'UTC' }), (e: unknown) => e instanceof LadingError && e.code === 'USAGE_INVALID');
});

test('a record is traced to its batch, delivery, checksum and runs; a failed one shows its dead letter', async () => {
  const ids = await seed();
  const byKey = await trace(store, 'lead-1');
  const [record] = byKey.records;
  assert.equal(record?.status, 'delivered');
  assert.equal(record?.batch?.id, 'batch_1');
  assert.deepEqual(record?.deliveries.map((d) => [d.name, d.destination, d.sha256, d.state, d.delivered_at]), [['leads_1.csv', 'sftp://partner:22/in', 'ab12', 'verified', at('11:30').toISOString()]]);
  assert.deepEqual(record?.runs.map((r) => [r.run_id, r.status, r.files.map((f) => f.sha256)]), [['run_1', 'failed', []], ['run_2', 'completed_with_errors', ['ab12']]]);
  const failed = await trace(store, `inbox:${ids[1]}`);
  assert.equal(failed.records[0]?.status, 'failed');
  assert.deepEqual(failed.records[0]?.failures.map((f) => [f.run_id, f.code, f.status]), [['run_2', 'VALIDATE_FORMAT', 'dead']]);
  assert.match(renderTrace(byKey), /delivery dlv_1 part 1 → sftp:\/\/partner:22\/in: verified at 2024-03-01T11:30:00.000Z/);
  await assert.rejects(trace(store, 'nope'), (e: unknown) => e instanceof LadingError && e.code === 'TRACE_NOT_FOUND');
});

test('purge archives what it removes to JSON Lines and removes released staged files; a dry run touches nothing', async () => {
  await seed();
  const staged = join(dir, 'staging', 'run_2', 'part-1');
  await mkdir(join(dir, 'staging', 'run_2'), { recursive: true });
  await writeFile(staged, 'n\n1\n3\n');
  // The verify step above cleared nothing: the file is still named by its settled delivery.
  await store.advanceDelivery('dlv_1', 'verified', at('11:30'), { stagedPath: staged });
  const now = at('12:00', '2024-05-01');
  const retention = { records: 30 * 86_400_000, files: 7 * 86_400_000, dead_letters: 90 * 86_400_000, runs: 180 * 86_400_000 };
  const dry = await purgePipeline(store, 'leads', retention, { now, dataDir: dir, dryRun: true, archive: true });
  assert.deepEqual([dry.records, dry.files, dry.archive], [2, 1, null]);
  await access(staged);
  const done = await purgePipeline(store, 'leads', retention, { now, dataDir: dir, archive: true });
  assert.deepEqual([done.records, done.files, done.dead_letters, done.runs, done.files_not_removed], [2, 1, 0, 0, []]);
  await assert.rejects(access(staged));
  const lines = (await readFile(done.archive!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; data: unknown });
  assert.deepEqual(lines.map((l) => [l.kind, l.data]), [['record', { n: 1 }], ['record', { n: 3 }]]);
  assert.equal((await store.inboxStats('leads')).pending, 1);
});

test('purge with an archive that cannot be written removes nothing', async () => {
  await seed();
  // Where the archive folder should be, a file: the first page cannot be archived.
  await writeFile(join(dir, 'archive'), 'not a folder');
  const now = at('12:00', '2024-05-01');
  const retention = { records: 30 * 86_400_000 };
  await assert.rejects(purgePipeline(store, 'leads', retention, { now, dataDir: dir, archive: true }), /EEXIST|ENOTDIR/);
  const dry = await purgePipeline(store, 'leads', retention, { now, dataDir: dir, dryRun: true });
  assert.equal(dry.records, 2, 'the records the failed purge was to remove are all still there');
});

test('SLAs are judged from the store: freshness, completeness, accuracy and availability', async () => {
  await seed();
  const now = at('13:00');
  const status = await slaStatus(store, 'leads', { freshness: 4 * 3_600_000, completeness: true, accuracy: 0, availability: 0.99, window: 86_400_000 }, now);
  assert.deepEqual(status.objectives.map((o) => [o.name, o.observed, o.met]), [
    ['freshness', 4 * 3_600_000, true], // the pending record has waited 4h; delivered ones took 2h30
    ['completeness', null, null], // nothing is due yet: every record arrived less than 4h ago
    ['accuracy', 0, true],
    ['availability', 0.5, false],
  ]);
  assert.equal(status.met, false);
  const later = judgeSla('leads', { freshness: 3_600_000, completeness: true, window: 86_400_000 }, {
    now, runs: [],
    window: { pipeline: 'leads', accepted: 5, batched: 4, delivered: 2, failed: 1, duplicates: 0, oldestUndelivered: at('09:00'), maxLatencyMs: 9_000_000, openBatches: [], failedIds: [] },
    due: { pipeline: 'leads', accepted: 5, batched: 4, delivered: 2, failed: 1, duplicates: 0, oldestUndelivered: at('09:00'), maxLatencyMs: 9_000_000, openBatches: [], failedIds: [] },
  });
  assert.deepEqual(later.objectives.map((o) => [o.name, o.met]), [['freshness', false], ['completeness', false]]);
  assert.match(later.objectives[1]!.summary, /2 of 5 due records delivered \(1 failed, 1 not batched\)/);
});

const smtp = await startSmtpServer();
after(() => smtp.stop());
const email = { type: 'email', to: 'ops@example.com', from: 'lading@example.com', smtp: { host: smtp.host, port: smtp.port } };
const loaded = (extra: Record<string, unknown>): LoadedPipeline => {
  const { config, snapshot } = parsePipeline({ name: 'leads', source: { type: 'inbox' }, output: { type: 'file', format: { type: 'csv' }, destination: { type: 'local', path: dir } }, ...extra });
  return { config, snapshot, origin: 'leads.yaml', baseDir: dir };
};

test('an SLA breach is mailed through notify once per min_interval', async () => {
  await seed();
  const clock = manualClock('2024-03-01T13:00:00Z');
  const { config } = loaded({ sla: { availability: 0.99, window: '1d' }, notify: { on_failure: [email] } });
  const before = smtp.mails.length;
  await checkSla('leads', config.sla, config.notify, 'run_2', { store, clock });
  await checkSla('leads', config.sla, config.notify, 'run_2', { store, clock });
  const mails = smtp.mails.slice(before);
  assert.equal(mails.length, 1);
  assert.equal(mails[0]?.subject, '[lading] leads: SLA availability: 1 of 2 runs succeeded: 50.00% (objective 99.00%)');
  const told = (await store.listNotifications({ pipeline: 'leads' })).map((n) => [n.rule, n.status]);
  assert.deepEqual(told, [['sla_availability', 'suppressed'], ['sla_availability', 'sent']]);
});

test('serve\'s housekeeping mails the previous day\'s report at reports.daily.at and purges once a day', async () => {
  await seed();
  const clock = manualClock('2024-03-01T23:00:00Z');
  const pipeline = loaded({ reports: { daily: { at: '07:00', timezone: 'UTC', email } }, retention: { records: '30d' } });
  const events: string[] = [];
  const keeper = new Housekeeper({ store, dataDir: dir, pipelines: [pipeline], clock, onEvent: (e) => events.push(e.type === 'report_sent' ? `report ${e.date}` : e.type) });
  const before = smtp.mails.length;
  await keeper.tick(); // arms the report, purges (nothing old enough)
  await clock.advance(7 * 3_600_000); // 06:00
  await keeper.tick();
  assert.equal(smtp.mails.length, before);
  await clock.advance(3_600_000); // 07:00
  await keeper.tick();
  await keeper.tick();
  assert.deepEqual(events, ['purged', 'report 2024-03-01']);
  const [mail] = smtp.mails.slice(before);
  assert.equal(mail?.subject, '[lading] leads: daily report 2024-03-01 - 1 failed run');
  assert.match(mail!.raw, /Content-Type: text\/html/);
  assert.match(mail!.raw, /Content-Type: text\/plain/);
});
