import { z } from 'zod';
import { registry as builtIns, type Registry } from '../core/registry.js';
import { notifyConfig } from '../notify/config.js';
import { reportsConfig, retentionConfig, slaConfig } from '../reports/config.js';
import { batchConfig, batchNeedsInbox } from '../triggers/config.js';
import { mapConfig } from '../transform/map.js';
import { validateConfig } from '../transform/validate.js';
import { deliveryConfig } from './delivery.js';
import { executionConfig } from './execution.js';
import { oneOf } from './one-of.js';

/** The root pipeline schema, composed from the registry: the single declaration config, types and docs come from. */
export function pipelineSchema(registry: Registry = builtIns) {
  return z.object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit')
      .describe('Pipeline name: names its inbox, its runs and (with {pipeline}) its files.'),
    description: z.string().optional().describe('Free text for people reading the config.'),
    source: oneOf('source', registry.sources).describe('Where items come from.'),
    validate: validateConfig.optional().describe('Rules each item must pass; failures are reported per item.'),
    map: mapConfig.optional().describe('Output fields in order; without map, records pass through unchanged.'),
    output: oneOf('sink', registry.sinks).describe('Where items go.'),
    execution: executionConfig.prefault({}).describe('How the run is chunked and judged.'),
    delivery: deliveryConfig.prefault({}).describe('How files are delivered: retries of transient failures.'),
    notify: notifyConfig.optional().describe('Alerts and notifications: channels per event, alert rules, de-duplication.'),
    batch: batchConfig.optional().describe('When batches are cut from the inbox: triggers (count, bytes, age, schedule, priority) and time-of-day rules.'),
    sla: slaConfig.optional().describe('Service-level objectives: freshness, completeness, accuracy, availability; a breach is an alert through notify.'),
    retention: retentionConfig.optional().describe('How long delivered records, staged files, dead letters and runs are kept (`lading purge`); nothing is removed before its delivery is confirmed.'),
    reports: reportsConfig.optional().describe('Reports sent on a schedule: the daily report by email.'),
  }).strict().superRefine(batchNeedsInbox).meta({ id: 'pipeline' });
}

export const pipelineConfig = pipelineSchema();
export type PipelineConfig = z.output<typeof pipelineConfig>;
/** The pipeline as written (YAML or a TypeScript object), before defaults. */
export type PipelineInput = z.input<typeof pipelineConfig>;
