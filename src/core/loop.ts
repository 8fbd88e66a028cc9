import type { Clock } from './clock.js';

/**
 * Calls `tick` at once, then again each `everyMs` of the clock's time, until `signal` aborts;
 * resolves when it has stopped. A tick that returns no promise is not awaited, so the loop is
 * asleep on the clock as soon as the caller's start() returns (tests advancing a manual clock rely on it).
 */
export async function tickLoop(clock: Clock, everyMs: number, signal: AbortSignal, tick: () => Promise<void> | void): Promise<void> {
  while (!signal.aborted) {
    const ticking = tick();
    if (ticking) await ticking;
    try {
      await clock.sleep(everyMs, signal);
    } catch {
      return;
    }
  }
}
