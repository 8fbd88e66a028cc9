import { setTimeout as delay } from 'node:timers/promises';

/** Time as the engine sees it: the executor, retries, rate limits and triggers take it injected, so tests drive time. */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => (ms <= 0 ? Promise.resolve() : delay(ms, undefined, signal ? { signal } : undefined)),
};

/** A clock stuck at one instant whose sleeps return at once: for golden files. */
export function fixedClock(iso: string): Clock {
  const at = new Date(iso);
  return { now: () => new Date(at), sleep: async () => {} };
}

/** A clock that moves only when told: sleepers wake as `advance` passes their deadline. */
export interface ManualClock extends Clock {
  advance(ms: number): Promise<void>;
  /** Sleeps not yet woken, for tests that wait until the code under test is waiting. */
  readonly sleepers: number;
}

export function manualClock(startIso = '2026-01-01T00:00:00Z'): ManualClock {
  let now = Date.parse(startIso);
  const waiting: { at: number; wake: () => void }[] = [];
  return {
    now: () => new Date(now),
    sleep(ms, signal) {
      if (ms <= 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(signal!.reason);
        };
        // A woken sleeper lets go of the signal: a loop sleeping on one signal must not pile up listeners.
        const entry = { at: now + ms, wake: () => { signal?.removeEventListener('abort', onAbort); resolve(); } };
        waiting.push(entry);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async advance(ms) {
      const target = now + ms;
      for (;;) {
        waiting.sort((a, b) => a.at - b.at);
        const next = waiting[0];
        if (!next || next.at > target) break;
        waiting.shift();
        now = next.at;
        next.wake();
        // Let the woken code run up to its next await before moving time further.
        await new Promise<void>((r) => setImmediate(r));
      }
      now = target;
    },
    get sleepers() {
      return waiting.length;
    },
  };
}
