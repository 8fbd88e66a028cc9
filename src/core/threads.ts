import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The compiled module for a module of src/ run by tsx (the tests): Node 20 runs no TypeScript in
 * worker threads, whose loader does not get tsx's hooks. The test command builds first.
 */
export function workerEntry(url: URL): URL {
  return fromSource ? new URL(url.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/').replace(/\.ts$/, '.js')) : url;
}
const fromSource = import.meta.url.endsWith('.ts');

/** What `auto` means for a pool of worker threads: one per CPU, at most 4, and none on one CPU. */
export function autoThreads(): number {
  const cpus = availableParallelism();
  return cpus > 1 ? Math.min(4, cpus) : 0;
}

/** An error as it crosses back from a worker: its message and code (SQLite's, say), for the caller to classify. */
export interface ThreadError {
  readonly message: string;
  readonly code?: string;
}

export function toThreadError(error: unknown): ThreadError {
  const { message, code } = error as { message?: unknown; code?: unknown };
  return { message: String(message ?? error), ...(typeof code === 'string' ? { code } : {}) };
}

export function fromThreadError(error: ThreadError): Error {
  return Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code });
}

/** A call's message, and the answer a worker posts back: both carry the call's id. */
export type Called<T> = T & { readonly id: number };

/**
 * One worker thread answering calls in the order they were posted, each answer carrying its
 * call's id. When the thread fails or exits, every call it held fails with that reason, and so
 * does every later call: `alive` says whether a new thread is needed. The thread holds the
 * process open only while a call is waiting.
 */
export class ThreadCalls<Call extends object, Answer extends object> {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (answer: Called<Answer>) => void; reject: (error: unknown) => void }>();
  #nextId = 0;
  #stopped: unknown;

  /** `describe` names the thread in the error of a crash: `the ingest writer thread`. */
  constructor(worker: Worker, private readonly describe: string, private readonly failure: (message: string) => Error) {
    this.#worker = worker;
    worker.unref();
    worker.on('message', (answer: Called<Answer>) => {
      const entry = this.#waiting.get(answer.id);
      this.#waiting.delete(answer.id);
      if (this.#waiting.size === 0) worker.unref();
      entry?.resolve(answer);
    });
    worker.on('error', (error) => this.#stop(error));
    worker.on('exit', (code) => this.#stop(this.failure(`${this.describe} exited with code ${code}`)));
  }

  get alive(): boolean {
    return this.#stopped === undefined;
  }

  call(call: Call, transfer: readonly ArrayBuffer[] = []): Promise<Called<Answer>> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...call }, transfer as ArrayBuffer[]);
    });
  }

  /** Ends the thread; calls still waiting fail. */
  async close(): Promise<void> {
    this.#stop(this.failure(`${this.describe} was closed`));
    await this.#worker.terminate();
  }

  #stop(reason: unknown): void {
    this.#stopped ??= reason;
    for (const entry of this.#waiting.values()) entry.reject(this.#stopped);
    this.#waiting.clear();
  }
}
