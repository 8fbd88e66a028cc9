import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parsePipeline } from '../../../src/config/load.js';
import type { Item } from '../../../src/core/item.js';
import { sequentialIds } from '../../../src/core/ids.js';
import { runPipeline, type RunEvent } from '../../../src/engine/run.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { tempDir } from '../../support/tmp.js';

// A full collection on demand: the flag exposes gc() to contexts made after it is set.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const hooks = globalThis as unknown as { __ladingRetained?: (items: readonly Item[]) => void };

test('while the next chunk is read, the engine holds none of the chunks it has committed', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(join(dir, 'lading.db'));
  const module = join(dir, 'handler.mjs');
  writeFileSync(module, 'export function processChunk(items) { globalThis.__ladingRetained(items); }\n');
  // Weak references to every record handed to the handler: a record the engine still holds stays.
  const handed: WeakRef<object>[] = [];
  hooks.__ladingRetained = (items) => {
    for (const item of items) handed.push(new WeakRef(item), new WeakRef(item.data));
  };
  const input = new PassThrough();
  let committed = 0;
  let onCommit = (): void => {};
  const line = (n: number) => `${JSON.stringify({ n, name: `lead ${n}`, nested: { at: n } })}\n`;
  try {
    const pipeline = { name: 'retention', source: { type: 'file', path: '-', format: 'ndjson' }, output: { type: 'handler', module }, execution: { chunk_size: 5 } };
    const running = runPipeline({ ...parsePipeline(pipeline, { env: {} }), baseDir: dir, origin: '<test>' }, {
      store, dataDir: join(dir, '.lading'), ids: sequentialIds(), stdin: input,
      onEvent: (event: RunEvent) => {
        if (event.type !== 'progress') return;
        committed++;
        onCommit();
      },
    });
    // Two chunks' lines, then nothing: the run reads on, waiting for a third.
    const twoCommitted = new Promise<void>((resolve) => { onCommit = () => { if (committed === 2) resolve(); }; });
    input.write(Array.from({ length: 10 }, (_, i) => line(i + 1)).join(''));
    await twoCommitted;
    assert.equal(handed.length, 20);
    // A WeakRef keeps its target until the job that made or read it ends.
    await nextMacrotask();
    gc();
    await nextMacrotask();
    // Only the last record read may remain, in a reader's variable: no chunk, which is what V8's
    // young-generation collections would otherwise copy again and again (docs/benchmarks.md, machine T).
    const held = handed.flatMap((ref, at) => (ref.deref() === undefined ? [] : [Math.floor(at / 2) + 1]));
    assert.ok(held.every((n) => n === 10), `records ${[...new Set(held)].join(', ')} of the committed chunks are still held while the run waits for more input`);
    input.end(line(11));
    const report = await running;
    assert.equal(report.status, 'completed');
    assert.equal(report.summary.succeeded, 11);
  } finally {
    delete hooks.__ladingRetained;
    await store.close();
  }
});
