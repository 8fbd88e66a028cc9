import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonProgress, ttyProgress } from '../../../src/cli/progress.js';
import type { RunEvent } from '../../../src/engine/run.js';

function screen() {
  let written = '';
  const stream = { columns: 120, write: (s: string) => { written += s; return true; } } as unknown as NodeJS.WriteStream;
  // What a terminal shows: the text after the last carriage return + clear-line.
  return { stream, shown: () => written.split('\r\x1b[2K').at(-1)!, raw: () => written };
}

const progress = (processed: number, extra: Partial<Extract<RunEvent, { type: 'progress' }>> = {}): RunEvent => ({
  type: 'progress', run_id: 'r', chunk_index: 0, processed, succeeded: processed, failed: 0, warnings: 0, retries: 0, total: null, source_progress: null, chunk_ms: 1, ...extra,
});

test('on a terminal: a bar with percent, counts, rate and ETA from the known total', () => {
  let now = 0;
  const s = screen();
  const render = ttyProgress(s.stream, () => now);
  render({ type: 'run_started', run_id: 'r', pipeline: 'p', source: 'inbox', batch_id: 'b', total: 1000, resumed_from: null });
  now = 2000;
  render(progress(250, { total: 1000, failed: 3 }));
  assert.equal(s.shown(), '[██████░░░░░░░░░░░░░░░░░░]  25%  250/1,000 items  125/s  ETA 6s  ✗ 3 failed');
});

test('without an item total the bar follows the bytes read; redraws are throttled', () => {
  let now = 0;
  const s = screen();
  const render = ttyProgress(s.stream, () => now);
  render({ type: 'run_started', run_id: 'r', pipeline: 'p', source: 'f.ndjson', batch_id: null, total: null, resumed_from: null });
  now = 1000;
  render(progress(5000, { source_progress: { done: 50, total: 100, unit: 'bytes' } }));
  assert.match(s.shown(), /^\[█{12}░{12}\]  50%  5,000 items  5,000\/s  ETA 1s$/);
  now = 1050;
  render(progress(6000, { source_progress: { done: 60, total: 100, unit: 'bytes' } }));
  assert.match(s.shown(), /5,000 items/, 'a redraw within 100 ms is skipped');
  render({ type: 'run_finished', run_id: 'r', report: {} as never });
  assert.equal(s.shown(), '', 'the bar is cleared when the run ends');
});

test('not a terminal: one JSON line per event', () => {
  let out = '';
  const render = jsonProgress({ write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WritableStream);
  render(progress(10));
  render(progress(20));
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; processed: number; ts: string });
  assert.deepEqual(lines.map((l) => [l.type, l.processed]), [['progress', 10], ['progress', 20]]);
  assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.ts))));
});
