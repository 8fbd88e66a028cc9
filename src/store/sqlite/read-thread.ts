import { Worker } from 'node:worker_threads';
import { RestartingThread, workerEntry } from '../../core/threads.js';
import type { InboxReconciliation, ReportWindow } from '../types.js';

export interface ReadThreadSetup {
  readonly path: string;
  readonly busyTimeoutMs?: number | undefined;
}

export interface ReadCall {
  readonly reconcile: ReportWindow;
}

export interface ReadAnswer {
  readonly reconciliation: InboxReconciliation[];
}

/**
 * The reconciliation (reports, SLAs) read on a thread of its own, with its own connection to the
 * store's file (read-worker.ts; WAL lets it read beside the writers). better-sqlite3 is
 * synchronous: on the event loop, a window of 1M records held `lading serve` for 4.5 s, twice
 * at the end of every run of a pipeline with an SLA. Started at the first call.
 */
export class ReadThread {
  readonly #thread: RestartingThread<ReadCall, ReadAnswer>;

  constructor(setup: ReadThreadSetup) {
    this.#thread = new RestartingThread('the report reader thread',
      () => new Worker(workerEntry(new URL('./read-worker.js', import.meta.url)), { workerData: setup }));
  }

  async reconcile(window: ReportWindow): Promise<InboxReconciliation[]> {
    return (await this.#thread.call({ reconcile: window })).reconciliation;
  }

  close(): Promise<void> {
    return this.#thread.close();
  }
}
