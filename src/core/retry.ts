import { z } from 'zod';
import { duration } from '../config/units.js';

export const retryConfig = z.object({
  attempts: z.number().int().min(1).max(100).default(3).describe('Tries per item, the first included; transient failures only.'),
  backoff: z.enum(['exponential', 'linear', 'fixed']).default('exponential').describe('How the delay grows between tries.'),
  base_delay: duration().default(1000).describe('Delay after the first failure.'),
  max_delay: duration().default(60_000).describe('Cap on the computed delay (a Retry-After from the partner is still honoured).'),
  jitter: z.boolean().default(true).describe('Full jitter: wait a random time between 0 and the computed delay, so retries spread out.'),
}).strict().meta({ id: 'execution.retry' });

export type RetryPolicy = z.output<typeof retryConfig>;

/**
 * The retry schedule, apart from the retry decision (errors/codes.ts decides what is transient):
 * the delay before try `failed + 1`, after try number `failed` failed. Never below the partner's
 * Retry-After.
 */
export function retryDelay(policy: RetryPolicy, failed: number, retryAfterMs = 0, random: () => number = Math.random): number {
  const base = policy.base_delay;
  const raw = policy.backoff === 'exponential' ? base * 2 ** (failed - 1) : policy.backoff === 'linear' ? base * failed : base;
  const capped = Math.min(raw, policy.max_delay);
  const delay = policy.jitter ? Math.floor(random() * capped) : capped;
  return Math.max(delay, retryAfterMs);
}
