import type { Clock } from '../core/clock.js';
import type { IngestOutcome, IngestRequest, Store } from '../store/types.js';

interface Waiting {
  readonly request: IngestRequest;
  readonly resolve: (outcome: IngestOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: ingest requests arriving within `windowMs` of the first one share one store
 * transaction (one fsync), and each is answered only after that transaction committed. Groups
 * commit one after another, in arrival order.
 */
export class GroupCommit {
  #queue: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly windowMs = 2) {}

  submit(request: IngestRequest): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#chain = this.#chain.then(() => this.#commit());
      }, this.windowMs);
    });
  }

  /** Commits whatever is waiting; resolves when every submitted request was answered. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#chain = this.#chain.then(() => this.#commit());
    await this.#chain;
  }

  async #commit(): Promise<void> {
    const group = this.#queue.splice(0);
    if (group.length === 0) return;
    try {
      const outcomes = await this.store.ingestRequests(group.map((w) => w.request), this.clock.now());
      group.forEach((w, i) => w.resolve(outcomes[i]!));
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}
