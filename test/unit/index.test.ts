import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { definePipeline, openSqliteStore, parsePipeline, runPipeline } from '../../src/index.js';
import { tempDir } from '../support/tmp.js';

test('the library API runs a pipeline declared in TypeScript (README example)', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const pipeline = definePipeline({ name: 'p', source: { type: 'inline', items: [{ a: 1 }] }, output: { type: 'file', format: 'ndjson', naming: 'p.{ext}', destination: { type: 'local', path: 'out' } } });
  const report = await runPipeline({ ...parsePipeline(pipeline), baseDir: dir, origin: '<code>' }, { store, dataDir: join(dir, '.lading') });
  await store.close();
  assert.equal(report.status, 'completed');
  assert.equal(readFileSync(join(dir, 'out', 'p.ndjson'), 'utf8'), '{"a":1}\n');
});
