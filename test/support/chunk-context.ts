import { idempotencyKey } from '../../src/core/idempotency.js';
import type { ChunkContext } from '../../src/sinks/types.js';

/** A ChunkContext with no rate limit, for sink tests that do not exercise the executor. */
export function chunkContext(overrides: Partial<ChunkContext> = {}): ChunkContext {
  const runId = overrides.runId ?? 'run_0001';
  return {
    signal: new AbortController().signal, runId, lineage: runId, chunkIndex: 0, attempt: 1, timeoutMs: undefined,
    gate: { acquire: async () => {}, pauseFor: () => {} },
    idempotencyKey: (items) => idempotencyKey(overrides.lineage ?? runId, items),
    ...overrides,
  };
}
