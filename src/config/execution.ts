import { z } from 'zod';
import { adaptiveConfig } from '../engine/adaptive.js';
import { breakerConfig } from '../engine/breaker.js';
import { retryConfig } from '../core/retry.js';
import { duration } from './units.js';

export const executionConfig = z.object({
  chunk_size: z.number().int().min(1).max(1_000_000).default(1000)
    .describe('Items per chunk: the unit of concurrency, checkpoint and commit.'),
  adaptive_chunk_size: adaptiveConfig.optional()
    .describe('Adjust chunk_size as the run goes, toward chunks that take `target`; each change is reported as a chunk_size_changed event.'),
  parse_threads: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto')
    .describe('Worker threads that parse, validate, map and encode NDJSON input, or an inbox batch, for a file output, while the main thread writes the file (0: all on the main thread). auto: one per CPU, at most 4, for inputs of 4 MiB (inbox: 10,000 records) or more on machines with 2 CPUs or more. Applies to CSV, NDJSON, JSON, XML and fixed-width outputs of pipelines with a map and without partitions.'),
  concurrency: z.number().int().min(1).max(1000).default(1)
    .describe('Chunks in flight at once (file outputs always write one chunk at a time, in order).'),
  rate_limit: z.object({
    per_second: z.number().positive().describe('Requests per second across the whole run: HTTP requests of the http sink, calls of the handler sink (a chunk, or a record for process handlers).'),
    burst: z.number().int().positive().optional().describe('Requests that may go out at once after a quiet spell; default per_second.'),
  }).strict().optional().describe('Token bucket shared by every chunk; a 429 or 503 with Retry-After pauses it.'),
  retry: retryConfig.prefault({}).describe('Retries of transient failures (timeouts, connection errors, 408, 429, 5xx, locks).'),
  timeout: duration().optional().describe('Per item or request: a call that takes longer is abandoned and fails as a timeout (transient).'),
  circuit_breaker: breakerConfig.optional().describe('Pause or abort the run when a chunk fails too much at the sink.'),
  failure_threshold: z.number().min(0).max(1).optional()
    .describe('Abort the run as soon as the share of failed items exceeds this (judged after the first chunk).'),
  success_threshold: z.number().min(0).max(1).default(0.9)
    .describe('Share of items that must succeed for a run with failures to end completed_with_errors rather than failed.'),
  max_duration: duration().optional()
    .describe('A run still going after this stops at the next chunk boundary as timed_out; `lading run --resume` continues it.'),
  max_parallel_runs: z.number().int().min(1).default(1).describe('Runs of this pipeline at once on this store.'),
  on_busy: z.enum(['refuse', 'wait']).default('refuse').describe('When max_parallel_runs are already running: refuse the new run, or wait for a slot.'),
  max_report_errors: z.number().int().min(0).default(100)
    .describe('Item errors listed in the report; all are kept in the store (`lading runs show <id> --errors`).'),
}).strict().meta({ id: 'execution' });

export type ExecutionConfig = z.output<typeof executionConfig>;
