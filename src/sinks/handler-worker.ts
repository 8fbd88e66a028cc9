/**
 * A handler thread of sinks/handler-threads.ts: a write's NDJSON lines in, the records parsed by
 * the file reader's own rule, taken through the pipeline's validate and map, and handed to this
 * thread's instance of the handler module, as the main thread would; their failures out.
 */
import { isUtf8 } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { idempotencyKey } from '../core/idempotency.js';
import type { Item } from '../core/item.js';
import { buildProcessor } from '../transform/process.js';
import { crashJson, errorJson } from '../errors/error-json.js';
import type { LadingError } from '../errors/lading-error.js';
import { parseLine } from '../sources/file/ndjson.js';
import { loadHandler, writeThrough } from './handler.js';
import { errorsJson, type HandlerAnswer, type HandlerCall, type HandlerThreadSetup } from './handler-threads.js';
import type { ChunkContext } from './types.js';

const setup = workerData as HandlerThreadSetup;
const handler = await loadHandler(setup.module);
const processor = buildProcessor(setup.stages);
const noLimit: ChunkContext['gate'] = { acquire: async () => {}, pauseFor: () => {} };
const running = new Map<number, AbortController>();
/** Aborts that came before their call: the two travel on different ports, in no set order. */
const early = new Set<number>();

setup.aborts.on('message', (key: number) => {
  const controller = running.get(key);
  if (controller) controller.abort();
  else early.add(key);
});

async function handle(call: HandlerCall): Promise<HandlerAnswer> {
  const { file, ends, lines, seqs } = call;
  const bytes = Buffer.from(call.bytes.buffer, call.bytes.byteOffset, call.bytes.byteLength);
  // One check of the whole write, as the reader checks a read's lines: UTF-8 lines need no strict decoder.
  const utf8 = isUtf8(bytes);
  const items: Item[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) items[i] = parseLine(bytes, i === 0 ? 0 : ends[i - 1]!, ends[i]!, utf8, file, lines[i]!, seqs[i]!);
  const { ok, failures: invalid, warnings } = processor(items);
  const controller = new AbortController();
  if (early.delete(call.key)) controller.abort();
  running.set(call.key, controller);
  try {
    const { lineage } = call.context;
    const ctx: ChunkContext = { ...call.context, signal: controller.signal, gate: noLimit, idempotencyKey: (group) => idempotencyKey(lineage, group) };
    const failures = ok.length === 0 ? new Map<string, LadingError>() : await writeThrough(handler, ok, ctx);
    return { failures: [...failures].map(([id, error]) => [id, errorJson(error)] as const), invalid: errorsJson(invalid), warnings: errorsJson(warnings) };
  } finally {
    running.delete(call.key);
  }
}

parentPort!.on('message', (call: HandlerCall & { readonly id: number }) => {
  handle(call).then(
    (answer) => parentPort!.postMessage({ id: call.id, ...answer }),
    (error: unknown) => parentPort!.postMessage({ id: call.id, crash: crashJson(error) }),
  );
});
