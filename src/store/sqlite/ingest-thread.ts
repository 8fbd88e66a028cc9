import { Worker } from 'node:worker_threads';
import { RestartingThread, workerEntry } from '../../core/threads.js';
import { inboxJson, type InboxInput, type IngestOutcome, type IngestRequest } from '../types.js';
import type { ConnectionOptions } from './connection.js';

export interface IngestThreadSetup {
  readonly path: string;
  readonly options: ConnectionOptions;
}

/**
 * A group as it crosses to the thread: one transferred buffer holding every record's JSON end to
 * end and, from byte `index` on (a multiple of 4), 32-bit integers: where each record's JSON ends,
 * then each request's record count and pipeline (into `pipelines`); a request key, extra, keys and
 * priorities only for the requests that carry them. A thousand cloned strings or views cost the
 * event loop more than copying their bytes into one buffer (postMessage 4.7% of a bulk load's
 * main thread; machine F), and every buffer a message carries costs it 1.5–2.5 us: an object and
 * a buffer a request, then five buffers a group, cost single-lead POSTs (docs/benchmarks.md, machine Y).
 */
export interface PackedGroup {
  readonly buffer: ArrayBuffer;
  readonly index: number;
  readonly records: number;
  readonly requests: number;
  readonly pipelines: readonly string[];
  readonly details?: readonly RequestDetails[];
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

/**
 * Outcomes as they cross back: accepted and duplicates of request r at 2r and 2r + 1, and the
 * replayed requests with their first answer's extra; neither when every request stored all its
 * records (single-lead POSTs without keys), which is then all the answer says.
 */
export interface IngestAnswer {
  readonly counts?: Int32Array;
  readonly replays?: readonly { readonly request: number; readonly extra?: unknown }[];
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
    return outcomesOf(requests, await this.#thread.call({ group, receivedAt }, [group.buffer]));
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}

/** Only the stored JSON crosses: a record's parsed data would be cloned for nothing. */
export function pack(requests: readonly IngestRequest[]): PackedGroup {
  const texts = requests.flatMap((request) => request.records.map(inboxJson));
  const bytes = texts.reduce((sum, text) => sum + (typeof text === 'string' ? Buffer.byteLength(text) : text.length), 0);
  const index = Math.ceil(bytes / 4) * 4;
  // A buffer of its own, never a slice of Buffer's shared pool: it is transferred, which detaches it.
  const buffer = new ArrayBuffer(index + 4 * (texts.length + 2 * requests.length));
  const json = Buffer.from(buffer, 0, bytes);
  const ints = new Int32Array(buffer, index);
  let at = 0;
  texts.forEach((text, i) => {
    if (typeof text === 'string') at += json.write(text, at);
    else {
      json.set(text, at);
      at += text.length;
    }
    ints[i] = at;
  });
  const pipelines: string[] = [];
  const details: RequestDetails[] = [];
  requests.forEach(({ pipeline, requestKey, extra, records }, r) => {
    // A group's requests are mostly for one or two pipelines: the last one named is the likely one.
    let p = pipelines.lastIndexOf(pipeline);
    if (p === -1) p = pipelines.push(pipeline) - 1;
    ints[texts.length + 2 * r] = records.length;
    ints[texts.length + 2 * r + 1] = p;
    const keyed = records.some((record) => record.key !== undefined);
    const prioritized = records.some((record) => record.priority !== undefined);
    if (requestKey === undefined && extra === undefined && !keyed && !prioritized) return;
    details.push({
      request: r, ...(requestKey === undefined ? {} : { requestKey }), ...(extra === undefined ? {} : { extra }),
      ...(keyed ? { keys: records.map((record) => record.key ?? null) } : {}),
      ...(prioritized ? { priorities: records.map((record) => record.priority ?? null) } : {}),
    });
  });
  return { buffer, index, records: texts.length, requests: requests.length, pipelines, ...(details.length === 0 ? {} : { details }) };
}

/** The thread's side of pack: the group's requests again, each record's JSON a view of the one buffer. */
function unpack(group: PackedGroup): IngestRequest[] {
  const json = Buffer.from(group.buffer, 0, group.index);
  const ints = new Int32Array(group.buffer, group.index, group.records + 2 * group.requests);
  const detailsOf = new Map(group.details?.map((d) => [d.request, d]));
  const requests: IngestRequest[] = [];
  let record = 0;
  let start = 0;
  for (let r = 0; r < group.requests; r++) {
    const details = detailsOf.get(r);
    const records: InboxInput[] = [];
    for (let i = 0, count = ints[group.records + 2 * r]!; i < count; i++, record++) {
      const end = ints[record]!;
      const key = details?.keys?.[i];
      const priority = details?.priorities?.[i];
      records.push({ json: json.subarray(start, end), ...(key == null ? {} : { key }), ...(priority == null ? {} : { priority }) });
      start = end;
    }
    requests.push({
      pipeline: group.pipelines[ints[group.records + 2 * r + 1]!]!, records,
      ...(details?.requestKey === undefined ? {} : { requestKey: details.requestKey }), ...(details?.extra === undefined ? {} : { extra: details.extra }),
    });
  }
  return requests;
}

/** The thread's answer to `requests`: the outcomes of writes.requests in IngestAnswer's form. */
function answer(requests: readonly IngestRequest[], outcomes: readonly IngestOutcome[]): IngestAnswer {
  if (outcomes.every((o, r) => !o.replayed && o.duplicates === 0 && o.accepted === requests[r]!.records.length)) return {};
  const counts = new Int32Array(2 * outcomes.length);
  const replays: { request: number; extra?: unknown }[] = [];
  outcomes.forEach((outcome, r) => {
    counts[2 * r] = outcome.accepted;
    counts[2 * r + 1] = outcome.duplicates;
    if (outcome.replayed) replays.push({ request: r, ...(outcome.extra === undefined ? {} : { extra: outcome.extra }) });
  });
  return { counts, ...(replays.length === 0 ? {} : { replays }) };
}

/** The event loop's side of answer: the outcomes of `requests` again. */
export function outcomesOf(requests: readonly IngestRequest[], { counts, replays = [] }: IngestAnswer): IngestOutcome[] {
  const replayed = new Map(replays.map(({ request, extra }) => [request, extra]));
  return requests.map((request, r) => {
    // A replay answers with the first request's extra, anything else with its own.
    const extra = replayed.has(r) ? replayed.get(r) : request.extra;
    return {
      accepted: counts === undefined ? request.records.length : counts[2 * r]!, duplicates: counts === undefined ? 0 : counts[2 * r + 1]!,
      replayed: replayed.has(r), ...(extra === undefined ? {} : { extra }),
    };
  });
}

/**
 * The thread's side of the calls waiting for it (ingest-worker.ts): the groups of all of them
 * written by `write` in one transaction, an answer for each. Their records take the latest call's
 * receive time: none is stamped before it arrived.
 */
export function commitTogether(calls: readonly IngestCall[], write: (requests: IngestRequest[], receivedAt: string) => IngestOutcome[]): IngestAnswer[] {
  const groups = calls.map(({ group }) => unpack(group));
  const outcomes = write(groups.flat(), calls[calls.length - 1]!.receivedAt);
  let at = 0;
  return groups.map((requests) => answer(requests, outcomes.slice(at, (at += requests.length))));
}
