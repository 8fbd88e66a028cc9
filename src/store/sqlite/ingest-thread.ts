import { Worker } from 'node:worker_threads';
import { ThreadCalls, workerEntry } from '../../core/threads.js';
import { inboxText, type InboxInput, type IngestOutcome, type IngestRequest } from '../types.js';
import type { ConnectionOptions } from './connection.js';

export interface IngestThreadSetup {
  readonly path: string;
  readonly options: ConnectionOptions;
}

export interface IngestCall {
  readonly requests: readonly IngestRequest[];
  readonly receivedAt: string;
}

export type IngestAnswer = { readonly outcomes: IngestOutcome[] } | { readonly error: { readonly message: string; readonly code?: string } };

/**
 * API ingest requests committed on a thread of its own (ingest-worker.ts, with its own
 * connection to the same file). better-sqlite3 is synchronous: on the event loop, a group's
 * inserts and its commit's fsync stop the server from reading the next requests: a third of a
 * bulk POST's CPU. The store sends only large groups here (ingestThreadDefaults says why). A
 * thread that stopped is replaced on the next call.
 */
export class IngestThread {
  #calls: ThreadCalls<IngestCall, IngestAnswer> | undefined;

  constructor(private readonly setup: IngestThreadSetup) {
    this.#calls = this.#start();
  }

  /** The outcomes, or the writer's error with its SQLite code, for the store to classify. */
  async requests(requests: readonly IngestRequest[], receivedAt: string): Promise<IngestOutcome[]> {
    if (this.#calls === undefined || !this.#calls.alive) this.#calls = this.#start();
    // Only the stored text crosses: a record's parsed data would be cloned for nothing.
    const lean = requests.map((request) => ({
      ...request,
      records: request.records.map((record): InboxInput => ({
        json: inboxText(record), ...(record.key === undefined ? {} : { key: record.key }), ...(record.priority === undefined ? {} : { priority: record.priority }),
      })),
    }));
    const answer = await this.#calls.call({ requests: lean, receivedAt });
    if ('error' in answer) throw Object.assign(new Error(answer.error.message), answer.error.code === undefined ? {} : { code: answer.error.code });
    return answer.outcomes;
  }

  async close(): Promise<void> {
    await this.#calls?.close();
    this.#calls = undefined;
  }

  #start(): ThreadCalls<IngestCall, IngestAnswer> {
    const worker = new Worker(workerEntry(new URL('./ingest-worker.js', import.meta.url)), { workerData: this.setup });
    return new ThreadCalls(worker, 'the ingest writer thread', (message) => new Error(message));
  }
}
