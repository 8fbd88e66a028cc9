import { Worker } from 'node:worker_threads';
import { fromThreadError, ThreadCalls, workerEntry, type ThreadError } from '../../core/threads.js';
import type { InboxReconciliation, ReportWindow } from '../types.js';

export interface ReadThreadSetup {
  readonly path: string;
  readonly busyTimeoutMs?: number | undefined;
}

export interface ReadCall {
  readonly reconcile: ReportWindow;
}

export type ReadAnswer = { readonly reconciliation: InboxReconciliation[] } | { readonly error: ThreadError };

/**
 * The reconciliation (reports, SLAs) read on a thread of its own, with its own connection to the
 * store's file (read-worker.ts; WAL lets it read beside the writers). better-sqlite3 is
 * synchronous: on the event loop, a window of 1M records held `lading serve` for 4.5 s, twice
 * at the end of every run of a pipeline with an SLA. Started at the first call; a thread that
 * stopped is replaced on the next.
 */
export class ReadThread {
  #calls: ThreadCalls<ReadCall, ReadAnswer> | undefined;

  constructor(private readonly setup: ReadThreadSetup) {}

  async reconcile(window: ReportWindow): Promise<InboxReconciliation[]> {
    if (this.#calls === undefined || !this.#calls.alive) {
      const worker = new Worker(workerEntry(new URL('./read-worker.js', import.meta.url)), { workerData: this.setup });
      this.#calls = new ThreadCalls(worker, 'the report reader thread', (message) => new Error(message));
    }
    const answer = await this.#calls.call({ reconcile: window });
    if ('error' in answer) throw fromThreadError(answer.error);
    return answer.reconciliation;
  }

  async close(): Promise<void> {
    await this.#calls?.close();
    this.#calls = undefined;
  }
}
