import { z } from 'zod';
import { duration } from '../config/units.js';

export const adaptiveConfig = z.object({
  target: duration().describe('Chunk duration to aim for: chunks grow when they finish faster and shrink when slower.'),
  min: z.number().int().min(1).default(10).describe('Smallest chunk.'),
  max: z.number().int().min(1).default(10_000).describe('Largest chunk.'),
}).strict().refine((c) => c.min <= c.max, { message: 'min must not exceed max', path: ['min'] }).meta({ id: 'execution.adaptive_chunk_size' });

export type AdaptiveConfig = z.output<typeof adaptiveConfig>;

/**
 * The next chunk size after a chunk of `current` items took `durationMs`: proportional to how far
 * the duration was from the target, at most doubling or halving per step (one slow chunk must
 * not collapse the size), within min/max; unchanged within 10% of the target.
 */
export function nextChunkSize(current: number, durationMs: number, config: AdaptiveConfig): number {
  const ratio = config.target / Math.max(1, durationMs);
  if (ratio > 0.9 && ratio < 1.1) return current;
  const next = Math.round(current * Math.min(2, Math.max(0.5, ratio)));
  return Math.min(config.max, Math.max(config.min, next));
}
