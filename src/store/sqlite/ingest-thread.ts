import { Worker } from 'node:worker_threads';
import { RestartingThread, workerEntry } from '../../core/threads.js';
import { inboxJson, type InboxInput, type IngestOutcome, type IngestRequest } from '../types.js';
import type { ConnectionOptions } from './connection.js';

export interface IngestThreadSetup {
  readonly path: string;
  readonly options: ConnectionOptions;
}

/**
 * A group as it crosses to the thread: every record's JSON end to end in one buffer (transferred,
 * not cloned) and a few typed arrays saying where each record ends, how many records each request
 * holds and which pipeline it is for; a request key, extra, keys and priorities only for the
 * requests that have them. A thousand cloned strings or views cost the event loop more than
 * copying their bytes into one buffer (postMessage 4.7% of a bulk load's main thread; machine F),
 * and an object and a transferred buffer per request cost a group of single-lead POSTs the same
 * way (docs/benchmarks.md, machine Y).
 */
export interface PackedGroup {
  readonly json: Uint8Array;
  /** Record i's JSON ends at byte ends[i]. */
  readonly ends: Int32Array;
  /** Request r holds the next counts[r] records. */
  readonly counts: Int32Array;
  /** Request r is for pipelines[pipelineOf[r]]. */
  readonly pipelines: readonly string[];
  readonly pipelineOf: Int32Array;
  readonly details: readonly RequestDetails[];
}

/** What request `request` of a group carries beyond its records' JSON, when it carries any of it. */
interface RequestDetails {
  readonly request: number;
  readonly requestKey?: string;
  readonly extra?: unknown;
  readonly keys?: readonly (string | null)[];
  readonly priorities?: readonly (number | null)[];
}

export interface IngestCall {
  readonly group: PackedGroup;
  readonly receivedAt: string;
}

/** Outcomes as they cross back: accepted and duplicates of request r at 2r and 2r + 1, and the replayed requests with their first answer's extra. */
export interface IngestAnswer {
  readonly counts: Int32Array;
  readonly replays: readonly { readonly request: number; readonly extra?: unknown }[];
}

/**
 * API ingest requests committed on a thread of its own (ingest-worker.ts, with its own
 * connection to the same file). better-sqlite3 is synchronous: on the event loop, a group's
 * inserts and its commit's fsync stop the server from reading the next requests: a third of a
 * bulk POST's CPU, and the fsync left the loop idle a third of a single-lead load on a machine
 * whose disk flushes slowly (docs/benchmarks.md, machine Y). A thread that stopped is replaced on
 * the next call.
 */
export class IngestThread {
  readonly #thread: RestartingThread<IngestCall, IngestAnswer>;

  constructor(setup: IngestThreadSetup) {
    this.#thread = new RestartingThread('the ingest writer thread',
      () => new Worker(workerEntry(new URL('./ingest-worker.js', import.meta.url)), { workerData: setup }), { eager: true });
  }

  /** The outcomes, or the writer's error with its SQLite code, for the store to classify. */
  async requests(requests: readonly IngestRequest[], receivedAt: string): Promise<IngestOutcome[]> {
    const group = pack(requests);
    const { counts, replays } = await this.#thread.call({ group, receivedAt }, [group.json.buffer as ArrayBuffer]);
    const outcomes: IngestOutcome[] = requests.map(({ extra }, r) => ({
      accepted: counts[2 * r]!, duplicates: counts[2 * r + 1]!, replayed: false, ...(extra === undefined ? {} : { extra }),
    }));
    for (const { request, extra } of replays) {
      outcomes[request] = { accepted: counts[2 * request]!, duplicates: counts[2 * request + 1]!, replayed: true, ...(extra === undefined ? {} : { extra }) };
    }
    return outcomes;
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}

/** Only the stored JSON crosses: a record's parsed data would be cloned for nothing. */
function pack(requests: readonly IngestRequest[]): PackedGroup {
  const texts = requests.flatMap((request) => request.records.map(inboxJson));
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
  const pipelines: string[] = [];
  const pipelineOf = new Int32Array(requests.length);
  const counts = new Int32Array(requests.length);
  const details: RequestDetails[] = [];
  requests.forEach(({ pipeline, requestKey, extra, records }, r) => {
    // A group's requests are mostly for one or two pipelines: the last one named is the likely one.
    let p = pipelines.lastIndexOf(pipeline);
    if (p === -1) p = pipelines.push(pipeline) - 1;
    pipelineOf[r] = p;
    counts[r] = records.length;
    const keyed = records.some((record) => record.key !== undefined);
    const prioritized = records.some((record) => record.priority !== undefined);
    if (requestKey === undefined && extra === undefined && !keyed && !prioritized) return;
    details.push({
      request: r, ...(requestKey === undefined ? {} : { requestKey }), ...(extra === undefined ? {} : { extra }),
      ...(keyed ? { keys: records.map((record) => record.key ?? null) } : {}),
      ...(prioritized ? { priorities: records.map((record) => record.priority ?? null) } : {}),
    });
  });
  return { json, ends, counts, pipelines, pipelineOf, details };
}

/** The thread's side of pack: the group's requests again, each record's JSON a view of the one buffer. */
export function unpack(group: PackedGroup): IngestRequest[] {
  const detailsOf = new Map(group.details.map((d) => [d.request, d]));
  const requests: IngestRequest[] = [];
  let record = 0;
  let start = 0;
  group.counts.forEach((count, r) => {
    const details = detailsOf.get(r);
    const records: InboxInput[] = [];
    for (let i = 0; i < count; i++, record++) {
      const end = group.ends[record]!;
      const key = details?.keys?.[i];
      const priority = details?.priorities?.[i];
      records.push({ json: group.json.subarray(start, end), ...(key == null ? {} : { key }), ...(priority == null ? {} : { priority }) });
      start = end;
    }
    requests.push({
      pipeline: group.pipelines[group.pipelineOf[r]!]!, records,
      ...(details?.requestKey === undefined ? {} : { requestKey: details.requestKey }), ...(details?.extra === undefined ? {} : { extra: details.extra }),
    });
  });
  return requests;
}

/** The thread's answer: the outcomes of writes.requests in IngestAnswer's form. */
export function answer(outcomes: readonly IngestOutcome[]): IngestAnswer {
  const counts = new Int32Array(2 * outcomes.length);
  const replays: { request: number; extra?: unknown }[] = [];
  outcomes.forEach((outcome, r) => {
    counts[2 * r] = outcome.accepted;
    counts[2 * r + 1] = outcome.duplicates;
    if (outcome.replayed) replays.push({ request: r, ...(outcome.extra === undefined ? {} : { extra: outcome.extra }) });
  });
  return { counts, replays };
}
