import { z } from 'zod';
import type { RetryPolicy } from '../core/retry.js';
import { duration } from './units.js';

export const deliveryConfig = z.object({
  retry: z.object({
    attempts: z.number().int().min(1).max(100).default(3).describe('Tries per file, the first included; only transient failures (network, timeouts, 5xx, full disk) are retried.'),
    delay: duration().default(30_000).describe('Wait after the first failed try.'),
    backoff: z.enum(['exponential', 'linear', 'fixed']).default('exponential').describe('How the wait grows between tries.'),
    max_delay: duration().default(900_000).describe('Cap on the wait.'),
    jitter: z.boolean().default(false).describe('Wait a random time up to the computed delay.'),
  }).strict().prefault({}).describe('Retries of a file whose delivery failed transiently; the same staged bytes are sent again.'),
}).strict().meta({ id: 'delivery' });

export type DeliveryConfig = z.output<typeof deliveryConfig>;

/** The delivery retry as the shared schedule takes it. */
export const deliveryRetryPolicy = (config: DeliveryConfig): RetryPolicy => ({
  attempts: config.retry.attempts, backoff: config.retry.backoff, base_delay: config.retry.delay,
  max_delay: config.retry.max_delay, jitter: config.retry.jitter,
});
