import { z } from 'zod';
import { duration } from '../config/units.js';

export const breakerConfig = z.object({
  pause_at: z.number().min(0).max(1).default(0.5).describe('A chunk whose share of failed deliveries reaches this pauses the run for pause_for.'),
  abort_at: z.number().min(0).max(1).default(0.8).describe('A chunk whose share of failed deliveries reaches this aborts the run (status failed).'),
  pause_for: duration().default(30_000).describe('How long the run pauses when the breaker opens.'),
  min_items: z.number().int().min(1).default(10).describe('Chunks with fewer items sent are not judged.'),
}).strict().refine((c) => c.pause_at <= c.abort_at, { message: 'pause_at must not exceed abort_at', path: ['pause_at'] }).meta({ id: 'execution.circuit_breaker' });

export type BreakerConfig = z.output<typeof breakerConfig>;
export type BreakerVerdict = { readonly action: 'none' } | { readonly action: 'pause'; readonly ms: number; readonly rate: number } | { readonly action: 'abort'; readonly rate: number };

/**
 * Judges each chunk by the share of its items the sink failed for good (after retries): the
 * partner, not the data, is what a breaker protects, so validation failures do not count.
 */
export function judgeChunk(config: BreakerConfig | undefined, sent: number, failedAtSink: number): BreakerVerdict {
  if (!config || sent < config.min_items) return { action: 'none' };
  const rate = failedAtSink / sent;
  if (rate >= config.abort_at) return { action: 'abort', rate };
  if (rate >= config.pause_at) return { action: 'pause', ms: config.pause_for, rate };
  return { action: 'none' };
}
