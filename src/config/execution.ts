import { z } from 'zod';

export const executionConfig = z.object({
  chunk_size: z.number().int().min(1).max(1_000_000).default(1000)
    .describe('Items per chunk: the unit of checkpoint and commit.'),
  success_threshold: z.number().min(0).max(1).default(0.9)
    .describe('Share of items that must succeed for a run with failures to end completed_with_errors rather than failed.'),
  max_report_errors: z.number().int().min(0).default(100)
    .describe('Item errors listed in the report; all are kept in the store (`lading runs show <id> --errors`).'),
}).strict().meta({ id: 'execution' });

export type ExecutionConfig = z.output<typeof executionConfig>;
