import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunReport } from '../../src/core/report.js';
import { loadMigrations } from '../../src/store/migrate.js';
import { postgresMigrationsDir } from '../../src/store/postgres/store.js';
import { lading, lastJsonLine } from '../support/cli.js';
import { postgresSkip, scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';

describe('the CLI on a PostgreSQL store', { skip: postgresSkip }, () => {
  let db: ScratchDatabase;
  before(async () => (db = await scratchDatabase()));
  after(async () => db.drop());

  test('migrate, then ingest, run and runs share one database; --db and LADING_DATABASE_URL name it', async () => {
    const dir = tempDir();
    const described = `postgres://${new URL(db.url).host}${new URL(db.url).pathname}`;
    const migrated = await lading(['--db', db.url, 'migrate', '--json'], { cwd: dir });
    assert.equal(migrated.code, 0, migrated.stderr);
    const own = await loadMigrations(postgresMigrationsDir());
    const latest = own[own.length - 1]!.version;
    assert.deepEqual(lastJsonLine(migrated.stdout), { store: described, applied: own.map((m) => m.name), version: latest });
    const again = await lading(['--db', db.url, 'migrate'], { cwd: dir });
    assert.equal(again.stdout, `${described} is up to date (schema version ${latest})\n`);

    const input = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i + 1, email: `u${i}@example.com` })).join('\n');
    const ingested = await lading(['--db', db.url, 'ingest', 'partner', '-', '--format', 'ndjson', '--key-field', 'id', '--json'], { cwd: dir, input });
    assert.equal(ingested.code, 0, ingested.stderr);
    assert.deepEqual(lastJsonLine(ingested.stdout), { pipeline: 'partner', accepted: 50, duplicates: 0, rejected: 0, pending: 50 });

    // From here on the URL comes from the environment; a LADING_DB file would lose to it.
    const env = { LADING_DATABASE_URL: db.url, LADING_DB: join(dir, 'unused.db') };
    writeFileSync(join(dir, 'inbox.yaml'), 'name: partner\nsource: { type: inbox }\noutput: { type: file, format: ndjson, naming: "{pipeline}_{batch_id}.{ext}", destination: { type: local, path: out } }\n');
    const run = await lading(['run', 'inbox.yaml', '--json'], { cwd: dir, env });
    assert.equal(run.code, 0, run.stderr);
    const report = lastJsonLine<RunReport>(run.stdout);
    assert.equal(report.summary.succeeded, 50);
    const lines = readFileSync(join(dir, 'out', `partner_${report.batch_id}.ndjson`), 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], '{"id":1,"email":"u0@example.com"}', 'records keep their fields in the order ingested');

    const runs = await lading(['runs', '--json'], { cwd: dir, env });
    assert.equal(runs.code, 0, runs.stderr);
    assert.deepEqual(lastJsonLine<{ id: string; status: string; processed: number }[]>(runs.stdout).map((r) => [r.id, r.status, r.processed]), [[report.job_id, 'completed', 50]]);
  });

  test('a store URL of another scheme is a usage error', async () => {
    const result = await lading(['--db', 'mysql://user:pw@host/db', 'runs'], { cwd: tempDir() });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unsupported store URL scheme "mysql"/);
    assert.doesNotMatch(result.stderr, /pw/);
  });
});
