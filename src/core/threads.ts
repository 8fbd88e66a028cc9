import { availableParallelism } from 'node:os';
import { parentPort, receiveMessageOnPort, Worker } from 'node:worker_threads';

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
interface ThreadError {
  readonly message: string;
  readonly code?: string;
}

/** What a worker answers (answerCalls) when its handler threw. */
type Failed = { readonly error: ThreadError };

function failed(error: unknown): Failed {
  const { message, code } = error as { message?: unknown; code?: unknown };
  return { error: { message: String(message ?? error), ...(typeof code === 'string' ? { code } : {}) } };
}

/**
 * A worker's side of RestartingThread: answers each call with `answer(call)`, or with the error it
 * threw, as its message and code only (the caller classifies it on its own thread).
 */
export function answerCalls<Call extends object, Answer extends object>(answer: (call: Call) => Answer): void {
  parentPort!.on('message', ({ id, ...call }: Called<Call>) => {
    let reply: Called<Answer | Failed>;
    try {
      reply = { id, ...answer(call as Call) };
    } catch (error) {
      reply = { id, ...failed(error) };
    }
    parentPort!.postMessage(reply);
  });
}

/**
 * answerCalls for calls that are cheaper done together: `answer` is given the call just read and
 * every call already waiting behind it, in the order they were posted, and returns an answer for
 * each; when it throws, every one of them fails with that error.
 */
export function answerWaitingCalls<Call extends object, Answer extends object>(answer: (calls: Call[]) => Answer[]): void {
  const port = parentPort!;
  port.on('message', (first: Called<Call>) => {
    const calls = [first];
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) calls.push(next.message as Called<Call>);
    let replies: Called<Answer | Failed>[];
    try {
      const answers = answer(calls.map(({ id: _id, ...call }) => call as Call));
      replies = calls.map(({ id }, i) => ({ id, ...answers[i]! }));
    } catch (error) {
      replies = calls.map(({ id }) => ({ id, ...failed(error) }));
    }
    for (const reply of replies) port.postMessage(reply);
  });
}

/**
 * One worker thread (answerCalls) started by `start`, at once when `eager`, else at the first
 * call, and started again at the next call after it failed or exited. A call the worker's handler
 * threw on rejects with an Error carrying the message and code it threw.
 */
export class RestartingThread<Call extends object, Answer extends object> {
  #calls: ThreadCalls<Call, Answer | Failed> | undefined;

  constructor(private readonly describe: string, private readonly start: () => Worker, options: { readonly eager?: boolean } = {}) {
    if (options.eager === true) this.#calls = this.#started();
  }

  async call(call: Call, transfer: readonly ArrayBuffer[] = []): Promise<Answer> {
    if (this.#calls === undefined || !this.#calls.alive) this.#calls = this.#started();
    const answer = await this.#calls.call(call, transfer);
    if ('error' in answer) {
      const { message, code } = (answer as Failed).error;
      throw Object.assign(new Error(message), code === undefined ? {} : { code });
    }
    return answer as Answer;
  }

  async close(): Promise<void> {
    await this.#calls?.close();
    this.#calls = undefined;
  }

  #started(): ThreadCalls<Call, Answer | Failed> {
    return new ThreadCalls(this.start(), this.describe, (message) => new Error(message));
  }
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

  /** Calls posted and not answered yet. */
  get pending(): number {
    return this.#waiting.size;
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
