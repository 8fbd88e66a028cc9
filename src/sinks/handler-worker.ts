/**
 * A handler thread of sinks/handler-threads.ts: a write's NDJSON lines (or stored JSON) in, the
 * records parsed by the file reader's own rule, taken through the pipeline's validate and map,
 * and handed to this thread's instance of the handler module, as the main thread would; their
 * failures out.
 */
import { isUtf8 } from 'node:buffer';
import { parentPort, workerData } from 'node:worker_threads';
import { idempotencyKey } from '../core/idempotency.js';
import type { Item, Row } from '../core/item.js';
import { buildProcessor } from '../transform/process.js';
import { crashJson } from '../errors/error-json.js';
import type { LadingError } from '../errors/lading-error.js';
import { parseLine } from '../sources/file/ndjson.js';
import { loadHandler, writeThrough } from './handler.js';
import { errorsJson, sharedFailures, type ControlMessage, type HandlerAnswer, type HandlerCall, type HandlerThreadSetup } from './handler-threads.js';
import type { ChunkContext } from './types.js';

const setup = workerData as HandlerThreadSetup;
const handler = await loadHandler(setup.module);
const processor = buildProcessor(setup.stages);
const noLimit: ChunkContext['gate'] = { limited: false, acquire: async () => {}, pauseFor: () => {} };
const running = new Map<number, AbortController>();
/** Aborts that came before their call: the two travel on different ports, in no set order. */
const early = new Set<number>();
/** A call's token asked of the main thread, by the call's key (its handler calls come one after another). */
const tokens = new Map<number, { readonly resolve: () => void; readonly reject: (reason: unknown) => void }>();

setup.control.on('message', (message: ControlMessage) => {
  if ('abort' in message) {
    const controller = running.get(message.abort);
    if (controller) controller.abort();
    else early.add(message.abort);
  } else if ('granted' in message || 'refused' in message) {
    const key = 'granted' in message ? message.granted : message.refused;
    const waiting = tokens.get(key);
    tokens.delete(key);
    if ('granted' in message) waiting?.resolve();
    else waiting?.reject(running.get(key)?.signal.reason ?? new Error('the run was cancelled'));
  }
});

/** Asks the main thread's gate (the run's rate limit and pauses) to let call `key`'s next request go. */
const ask = (key: number) => new Promise<void>((resolve, reject) => {
  tokens.set(key, { resolve, reject });
  setup.control.postMessage({ acquire: key } satisfies ControlMessage);
});

/**
 * The run's gate, kept by the main thread. With a rate limit each handler call asks it for a
 * token; without one, only while its shared flag says a pause (a partner's Retry-After, the
 * circuit breaker) may be in force, so the calls of a chunk already here wait as on the main thread.
 */
const gateOf = (call: HandlerCall): ChunkContext['gate'] => {
  if (call.limited) return { limited: true, acquire: () => ask(call.key), pauseFor: () => {} };
  const { paused } = call;
  if (paused === undefined) return noLimit;
  return { limited: false, acquire: () => (Atomics.load(paused, 0) === 0 ? Promise.resolve() : ask(call.key)), pauseFor: () => {} };
};

async function handle(call: HandlerCall): Promise<HandlerAnswer> {
  const { starts, ends, seqs, lines, ids } = call;
  const bytes = Buffer.from(call.bytes.buffer, call.bytes.byteOffset, call.bytes.byteLength);
  // One check of the whole write, as the reader checks a read's lines: UTF-8 lines need no strict decoder.
  const utf8 = lines !== undefined && isUtf8(bytes);
  const items: Item[] = new Array(seqs.length);
  for (let i = 0; i < seqs.length; i++) {
    items[i] = lines !== undefined
      ? parseLine(bytes, starts[i]!, ends[i]!, utf8, lines.file, lines.numbers[i]!, seqs[i]!)
      : { id: ids![i]!, seq: seqs[i]!, data: JSON.parse(bytes.toString('utf8', starts[i]!, ends[i]!)) as Row };
  }
  const { ok, failures: invalid, warnings } = processor(items);
  const controller = new AbortController();
  if (early.delete(call.key)) controller.abort();
  running.set(call.key, controller);
  try {
    const { lineage } = call.context;
    const ctx: ChunkContext = { ...call.context, signal: controller.signal, gate: gateOf(call), idempotencyKey: (group) => idempotencyKey(lineage, group) };
    const failures = ok.length === 0 ? new Map<string, LadingError>() : await writeThrough(handler, ok, ctx);
    return { failures: sharedFailures(failures), invalid: errorsJson(invalid), warnings: errorsJson(warnings) };
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
