import type { Clock } from '../core/clock.js';
import type { RequestGate } from '../sinks/types.js';

const granted = Promise.resolve();

/**
 * A token bucket shared by every chunk of a run: `perSecond` tokens a second up to `burst`.
 * Waiters are served in arrival order. A partner's Retry-After, or the circuit breaker, pauses
 * everyone (pauseFor). Without a rate, only the pauses apply, and handler threads ask this gate
 * only while `paused` says a pause may be in force (sinks/handler-worker.ts).
 */
export class TokenBucket implements RequestGate {
  readonly paused = new Int32Array(new SharedArrayBuffer(4));
  private tokens: number;
  private last: number;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  /** Takers queued (waiting on a pause, the rate, or those before them). */
  private waiting = 0;

  constructor(private readonly clock: Clock, private readonly perSecond: number | undefined, private readonly burst: number = perSecond ?? 1) {
    this.tokens = this.burst;
    this.last = clock.now().getTime();
  }

  get limited(): boolean {
    return this.perSecond !== undefined;
  }

  acquire(signal: AbortSignal): Promise<void> {
    // No rate, no pause, nobody queued: nothing to wait for, so no queue and no clock. A handler's
    // process(item) takes a token per record, and the queue's promises and the clock's Date were
    // 4% of a 1M-item run and more of its GC (docs/benchmarks.md).
    if (this.perSecond === undefined && this.pausedUntil === 0 && this.waiting === 0) return signal.aborted ? Promise.reject(signal.reason) : granted;
    this.waiting += 1;
    const turn = this.queue.then(() => this.take(signal)).finally(() => {
      this.waiting -= 1;
    });
    this.queue = turn.catch(() => {});
    return turn;
  }

  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now().getTime() + ms);
    Atomics.store(this.paused, 0, 1);
  }

  /** Milliseconds until requests may flow again (0 when not paused), for progress and the breaker. */
  pausedFor(): number {
    return Math.max(0, this.pausedUntil - this.clock.now().getTime());
  }

  private async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const now = this.clock.now().getTime();
      if (now < this.pausedUntil) {
        await this.clock.sleep(this.pausedUntil - now, signal);
        continue;
      }
      this.pausedUntil = 0;
      Atomics.store(this.paused, 0, 0);
      if (this.perSecond === undefined) return;
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000), signal);
    }
  }
}
