import type { Clock } from '../core/clock.js';
import type { IngestOutcome, IngestRequest, Store } from '../store/types.js';

interface Waiting {
  readonly request: IngestRequest;
  readonly resolve: (outcome: IngestOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: ingest requests that arrive together share one store transaction (one fsync),
 * and each is answered only after that transaction committed. Groups commit one after another,
 * in arrival order. With `windowMs` 0 (the default) a group is what the event loop read in one
 * turn — everything that arrived while the previous commit ran — so groups grow with the load
 * and an idle server waits for nothing; a window above 0 holds the first request that long.
 */
export class GroupCommit {
  #queue: Waiting[] = [];
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly windowMs = 0) {}

  submit(request: IngestRequest): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      const fire = () => {
        this.#scheduled = false;
        this.#timer = undefined;
        this.#chain = this.#chain.then(() => this.#commit());
      };
      if (this.windowMs > 0) this.#timer = setTimeout(fire, this.windowMs);
      else setImmediate(fire);
    });
  }

  /** Commits whatever is waiting; resolves when every submitted request was answered. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = false;
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
