import { z } from 'zod';
import type { RetryPolicy } from '../core/retry.js';
import { isErrorCode } from '../errors/codes.js';
import { duration } from './units.js';

const rejectionRule = z.object({
  status: z.union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)]).optional()
    .describe('The partner\'s HTTP status (http_upload) or FTP reply code (ftp), or a list of them.'),
  code: z.string().refine(isErrorCode, { message: 'not an error code of docs/errors.md' }).optional()
    .describe('The lading error code the refusal was classified as, e.g. DEST_FTP_REJECTED or SINK_HTTP_REJECTED.'),
  pattern: z.string().min(1).refine((p) => { try { new RegExp(p, 'i'); return true; } catch { return false; } }, { message: 'not a valid regular expression' }).optional()
    .describe('A regular expression (case-insensitive) searched in the partner\'s reply text or body.'),
  action: z.enum(['fail', 'retry_later', 'skip']).default('fail')
    .describe('fail: the run fails as without a rule; retry_later: the file stays staged and failed, sent again by `lading deliveries retry` or the next run, while the run goes on; skip: the delivery is recorded as skipped with the reply, never sent again, and the run goes on.'),
}).strict().refine((r) => r.status !== undefined || r.code !== undefined || r.pattern !== undefined, { message: 'give status, code or pattern' });

export const deliveryConfig = z.object({
  retry: z.object({
    attempts: z.number().int().min(1).max(100).default(3).describe('Tries per file, the first included; only transient failures (network, timeouts, 5xx, full disk) are retried.'),
    delay: duration().default(30_000).describe('Wait after the first failed try.'),
    backoff: z.enum(['exponential', 'linear', 'fixed']).default('exponential').describe('How the wait grows between tries.'),
    max_delay: duration().default(900_000).describe('Cap on the wait.'),
    jitter: z.boolean().default(false).describe('Wait a random time up to the computed delay.'),
  }).strict().prefault({}).describe('Retries of a file whose delivery failed transiently; the same staged bytes are sent again.'),
  on_rejection: z.array(rejectionRule).default([])
    .describe('What to do when the partner refuses a file for good (http_upload 4xx, FTP 5xx reply): the first rule whose status, code and pattern all match decides; without a match the run fails.'),
  circuit_breaker: z.object({
    failures: z.number().int().min(1).max(1000).default(5).describe('Consecutive failed deliveries (after their retries) that open the breaker.'),
    cool_down: duration().default(900_000).describe('How long an open breaker holds deliveries back before one canary delivery is tried.'),
  }).strict().prefault({}).describe('Destination circuit breaker of the pipeline: while open, runs render and stage their files but do not contact the destination; a canary after the cool-down closes it and sends the backlog.'),
  acknowledgment: z.object({
    require: z.boolean().default(false).describe('Wait for the partner to confirm each data file (seed: require_acknowledgment); until then the file is verified, not confirmed.'),
    mode: z.enum(['ack_file', 'file_removed']).default('ack_file').describe('ack_file: the partner writes an ack file next to the delivered one; file_removed: the partner takes the file out of the incoming folder.'),
    ack_pattern: z.string().min(1).default('{name}.ack')
      .refine((p) => p.includes('{name}') || p.includes('{basename}'), { message: 'must contain {name} or {basename}, or every file would share one ack file' })
      .refine((p) => !p.split('/').includes('..'), { message: 'must not leave the destination folder (..)' })
      .describe('Name of the ack file in mode ack_file, in the destination folder: {name} is the delivered file\'s name, {basename} its name without folders.'),
    timeout: duration().refine((ms) => ms > 0, 'must be more than 0').default(86_400_000).describe('Alert (ack_timeout) once when a verified file is not acknowledged within this time (seed: timeout_minutes; write e.g. 90m).'),
  }).strict().prefault({}).describe('Partner acknowledgement of delivered data files, polled by `lading deliveries check` (and the scheduler of `lading triggers`).'),
}).strict().meta({ id: 'delivery' });

export type DeliveryConfig = z.output<typeof deliveryConfig>;
export type RejectionRule = z.output<typeof rejectionRule>;
export type RejectionAction = RejectionRule['action'];

/** What delivering a file needs from `delivery:`, in the shapes the delivery steps take. */
export interface DeliveryPolicy {
  readonly retry: RetryPolicy;
  readonly onRejection: readonly RejectionRule[];
  readonly breaker: { readonly failures: number; readonly coolDownMs: number };
  readonly acknowledgment: AcknowledgmentPolicy;
}

export interface AcknowledgmentPolicy {
  readonly required: boolean;
  readonly mode: 'ack_file' | 'file_removed';
  readonly ackPattern: string;
  readonly timeoutMs: number;
}

export const deliveryPolicy = (config: DeliveryConfig): DeliveryPolicy => ({
  retry: {
    attempts: config.retry.attempts, backoff: config.retry.backoff, base_delay: config.retry.delay,
    max_delay: config.retry.max_delay, jitter: config.retry.jitter,
  },
  onRejection: config.on_rejection,
  breaker: { failures: config.circuit_breaker.failures, coolDownMs: config.circuit_breaker.cool_down },
  acknowledgment: {
    required: config.acknowledgment.require, mode: config.acknowledgment.mode,
    ackPattern: config.acknowledgment.ack_pattern, timeoutMs: config.acknowledgment.timeout,
  },
});
