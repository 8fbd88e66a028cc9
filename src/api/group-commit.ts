import type { Clock } from '../core/clock.js';
import type { IngestOutcome, IngestRequest, Store } from '../store/types.js';

interface Waiting {
  readonly request: IngestRequest;
  readonly resolve: (outcome: IngestOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: ingest requests that arrive together share one store transaction (one fsync),
 * and each is answered only after that transaction committed. Groups are handed to the store in
 * arrival order, at most `store.ingestDepth` at a time (1: one after another), and the store
 * applies them in that order. With `windowMs` 0 (the default) a group is what the event loop read
 * in one turn — everything that arrived while the store was busy — so groups grow with the load
 * and an idle server waits for nothing; a window above 0 holds the first request that long.
 */
export class GroupCommit {
  #queue: Waiting[] = [];
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = new Set<Promise<void>>();
  readonly #depth: number;

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly windowMs = 0) {
    this.#depth = Math.max(1, store.ingestDepth ?? 1);
  }

  submit(request: IngestRequest): Promise<IngestOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#schedule();
    });
  }

  /** Commits whatever is waiting; resolves when every submitted request was answered. */
  async drain(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = false;
    while (this.#queue.length > 0 || this.#inFlight.size > 0) {
      if (this.#queue.length > 0 && this.#inFlight.size < this.#depth) this.#start();
      else await Promise.race(this.#inFlight);
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    const fire = () => {
      this.#scheduled = false;
      this.#timer = undefined;
      // Store busy: the group keeps growing until a commit ends (then #schedule runs again).
      if (this.#inFlight.size < this.#depth) this.#start();
    };
    if (this.windowMs > 0) this.#timer = setTimeout(fire, this.windowMs);
    else setImmediate(fire);
  }

  #start(): void {
    const group = this.#queue.splice(0);
    if (group.length === 0) return;
    const commit = (async () => {
      try {
        const outcomes = await this.store.ingestRequests(group.map((w) => w.request), this.clock.now());
        group.forEach((w, i) => w.resolve(outcomes[i]!));
      } catch (error) {
        for (const w of group) w.reject(error);
      }
    })();
    this.#inFlight.add(commit);
    void commit.finally(() => {
      this.#inFlight.delete(commit);
      this.#schedule();
    });
  }
}
