import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareRuns, readRun, type BenchRun } from '../../../bench/compare.js';
import { tempDir } from '../../support/tmp.js';

const delivery = (wall: string, rate: string, ratio: string, rss: string, records = '1,000,000'): BenchRun['tables'][number] => ({
  title: 'delivery: NDJSON → CSV',
  columns: ['records', 'input', 'wall (median)', 'records/s', 'lading ÷ peer (time)', 'peak RSS (median)'],
  rows: [['lading run', records, '345 MB', wall, rate, '—', rss], ['the script', records, '345 MB', '5.36 s', '186,567', ratio, '109 MB']],
});

const run = (args: string[], tables: BenchRun['tables']): BenchRun => ({ heading: `bench ${args.join(' ')}`, args, tables });

test('each measured column of a row both runs have: before, after, and the change said as better or worse for that column', () => {
  const lines = compareRuns(
    run(['--json', 'a.json'], [delivery('4.07 s', '245,700', '0.76×', '222 MB')]),
    run(['--compare', 'a.json'], [delivery('3.70 s', '270,270', '0.69×', '222 MB')]),
  );
  assert.deepEqual(lines.filter((line) => line.startsWith('| lading run') || line.startsWith('| the script')), [
    '| lading run › wall (median) | 4.07 s | 3.70 s | −9.1% (better) |',
    '| lading run › records/s | 245,700 | 270,270 | +10.0% (better) |',
    '| lading run › peak RSS (median) | 222 MB | 222 MB | +0.0% (same) |',
    '| the script › wall (median) | 5.36 s | 5.36 s | +0.0% (same) |',
    '| the script › records/s | 186,567 | 186,567 | +0.0% (same) |',
    '| the script › lading ÷ peer (time) | 0.76× | 0.69× | −9.2% (better) |',
    '| the script › peak RSS (median) | 109 MB | 109 MB | +0.0% (same) |',
  ], 'the input size and the record count are not measures; a dash is not a figure');
  assert.ok(lines.includes('| delivery: NDJSON → CSV | before | after | change |'));
  assert.ok(!lines.some((line) => line.startsWith('The runs\' arguments differ')), '--json and --compare change nothing measured');
});

test('fewer requests a second is worse; a ratio of throughput is better higher', () => {
  const ingest = (rps: string, ratio: string): BenchRun['tables'][number] => ({
    title: 'ingest', columns: ['requests', 'req/s (median)', 'p99 latency (median)', 'lading ÷ peer (throughput)'], rows: [['single POST', '60,000', rps, '5 ms', ratio]],
  });
  const lines = compareRuns(run([], [ingest('20,013', '0.38×')]), run([], [ingest('18,000', '0.42×')]));
  assert.deepEqual(lines.filter((line) => line.startsWith('| single POST')), [
    '| single POST › req/s (median) | 20,013 | 18,000 | −10.1% (worse) |',
    '| single POST › p99 latency (median) | 5 ms | 5 ms | +0.0% (same) |',
    '| single POST › lading ÷ peer (throughput) | 0.38× | 0.42× | +10.5% (better) |',
  ]);
});

test('rows of another size, rows and tables the earlier run lacks, and differing arguments are said, not compared', () => {
  const lines = compareRuns(
    run(['--only', 'delivery'], [delivery('4.07 s', '245,700', '0.76×', '222 MB')]),
    run(['--quick'], [delivery('0.96 s', '104,167', '1.39×', '193 MB', '100,000'), { title: 'executor', columns: ['items', 'wall (median)'], rows: [['lading', '100,000', '0.5 s']] }]),
  );
  assert.ok(!lines.some((line) => line.startsWith('| lading run')), 'a run of 100,000 records is not set against one of 1,000,000');
  assert.ok(lines.includes('2 rows measured a different number of records, items or requests, and were not compared.'));
  assert.ok(lines.includes('1 row of this run had no counterpart in the earlier one (another case, or renamed).'));
  assert.ok(lines.includes('The runs\' arguments differ (before: none; after: --quick).'), '--only only picks cases');
});

test('a file that is not a bench run is refused with its name', () => {
  const dir = tempDir();
  const file = join(dir, 'other.json');
  writeFileSync(file, '{"tables": 1}');
  assert.throws(() => readRun(file), { message: `${file} is not a run written by npm run bench (it has no heading, args and tables)` });
  assert.throws(() => readRun(join(dir, 'missing.json')), /^Error: cannot read the bench run .*missing\.json: ENOENT/);
});
