import { idempotencyKey } from '../../src/core/idempotency.js';
import type { ChunkContext } from '../../src/sinks/types.js';

/** A ChunkContext with no rate limit, for sink tests that do not exercise the executor. */
export function chunkContext(overrides: Partial<ChunkContext> = {}): ChunkContext {
  const runId = overrides.runId ?? 'run_0001';
  return {
    signal: new AbortController().signal, runId, lineage: runId, chunkIndex: 0, attempt: 1, timeoutMs: undefined,
    gate: { limited: false, acquire: async () => {}, pauseFor: () => {} },
    idempotencyKey: (items) => idempotencyKey(overrides.lineage ?? runId, items),
    ...overrides,
  };
}

/**
 * A ChunkContext whose gate records what the sink asked of it; `limited` as a run with
 * execution.rate_limit, `paused` as its shared pause flag (engine/rate-limit.ts).
 */
export function recordingContext(overrides: Partial<ChunkContext> = {}, limited = false, paused?: Int32Array) {
  const pauses: number[] = [];
  let acquired = 0;
  const gate = { limited, acquire: async () => void acquired++, pauseFor: (ms: number) => void pauses.push(ms), ...(paused === undefined ? {} : { paused }) };
  const ctx = chunkContext({ gate, ...overrides });
  return { ctx, pauses, get acquired() { return acquired; } };
}
