import { Worker } from 'node:worker_threads';
import { RestartingThread, workerEntry } from '../../core/threads.js';
import { inboxJson, type InboxInput, type IngestOutcome, type IngestRequest } from '../types.js';
import type { ConnectionOptions } from './connection.js';

export interface IngestThreadSetup {
  readonly path: string;
  readonly options: ConnectionOptions;
}

/**
 * A group's requests as they cross to the thread: every record's JSON end to end in one buffer
 * (transferred, not cloned), where the record ends, and its key and priority when it has them.
 * A thousand cloned strings or views cost the event loop more than copying their bytes into one
 * buffer (postMessage 4.7% of a bulk load's main thread; docs/benchmarks.md, machine F).
 */
export interface PackedRequest {
  readonly pipeline: string;
  readonly requestKey?: string;
  readonly extra?: unknown;
  readonly json: Uint8Array;
  readonly ends: Int32Array;
  readonly keys?: readonly (string | null)[];
  readonly priorities?: readonly (number | null)[];
}

export interface IngestCall {
  readonly requests: readonly PackedRequest[];
  readonly receivedAt: string;
}

export interface IngestAnswer {
  readonly outcomes: IngestOutcome[];
}

/**
 * API ingest requests committed on a thread of its own (ingest-worker.ts, with its own
 * connection to the same file). better-sqlite3 is synchronous: on the event loop, a group's
 * inserts and its commit's fsync stop the server from reading the next requests: a third of a
 * bulk POST's CPU. The store sends only large groups here (ingestThreadDefaults says why). A
 * thread that stopped is replaced on the next call.
 */
export class IngestThread {
  readonly #thread: RestartingThread<IngestCall, IngestAnswer>;

  constructor(setup: IngestThreadSetup) {
    this.#thread = new RestartingThread('the ingest writer thread',
      () => new Worker(workerEntry(new URL('./ingest-worker.js', import.meta.url)), { workerData: setup }), { eager: true });
  }

  /** The outcomes, or the writer's error with its SQLite code, for the store to classify. */
  async requests(requests: readonly IngestRequest[], receivedAt: string): Promise<IngestOutcome[]> {
    const packed = requests.map(pack);
    return (await this.#thread.call({ requests: packed, receivedAt }, packed.map((p) => p.json.buffer as ArrayBuffer))).outcomes;
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}

/** Only the stored JSON crosses: a record's parsed data would be cloned for nothing. */
function pack(request: IngestRequest): PackedRequest {
  const texts = request.records.map(inboxJson);
  // A buffer of its own, never a slice of Buffer's shared pool: it is transferred, which detaches it.
  const json = Buffer.allocUnsafeSlow(texts.reduce((sum, text) => sum + (typeof text === 'string' ? Buffer.byteLength(text) : text.length), 0));
  const ends = new Int32Array(texts.length);
  let at = 0;
  texts.forEach((text, i) => {
    if (typeof text === 'string') at += json.write(text, at);
    else {
      json.set(text, at);
      at += text.length;
    }
    ends[i] = at;
  });
  const { pipeline, requestKey, extra, records } = request;
  return {
    pipeline, json, ends, ...(requestKey === undefined ? {} : { requestKey }), ...(extra === undefined ? {} : { extra }),
    ...(records.some((r) => r.key !== undefined) ? { keys: records.map((r) => r.key ?? null) } : {}),
    ...(records.some((r) => r.priority !== undefined) ? { priorities: records.map((r) => r.priority ?? null) } : {}),
  };
}

/** The thread's side of pack: each record's JSON a view of the one buffer. */
export function unpack(packed: PackedRequest): IngestRequest {
  const records: InboxInput[] = [];
  let start = 0;
  for (let i = 0; i < packed.ends.length; i++) {
    const end = packed.ends[i]!;
    const key = packed.keys?.[i];
    const priority = packed.priorities?.[i];
    records.push({ json: packed.json.subarray(start, end), ...(key == null ? {} : { key }), ...(priority == null ? {} : { priority }) });
    start = end;
  }
  const { pipeline, requestKey, extra } = packed;
  return { pipeline, records, ...(requestKey === undefined ? {} : { requestKey }), ...(extra === undefined ? {} : { extra }) };
}
