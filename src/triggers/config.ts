import { Cron } from 'croner';
import { z } from 'zod';
import { byteSize, duration } from '../config/units.js';
import { isTimeZone } from './zone.js';

const timezone = () => z.string().default('UTC').superRefine((zone, ctx) => {
  if (!isTimeZone(zone)) ctx.addIssue({ code: 'custom', message: `unknown time zone "${zone}"; use an IANA name such as America/New_York` });
}).describe('IANA time zone name (America/New_York, Europe/Paris, UTC).');

const recordCount = z.object({
  type: z.literal('record_count'),
  value: z.number().int().positive().describe('Cut when this many records are pending.'),
}).strict().meta({ id: 'trigger.record_count' });

const bytes = z.object({
  type: z.literal('bytes'),
  value: byteSize().describe('Cut when the pending records take this much. Estimated as the UTF-8 size of each record\'s JSON as ingested: about the size of an uncompressed NDJSON file; CSV and fixed-width files (no field names per line) come out smaller, so the trigger fires early rather than late. A partner\'s maximum file size is enforced by output.split, not here.'),
}).strict().meta({ id: 'trigger.bytes' });

const age = z.object({
  type: z.literal('age'),
  value: duration().refine((ms) => ms > 0, 'must be longer than 0').describe('Cut when the oldest pending record has waited this long.'),
}).strict().meta({ id: 'trigger.age' });

const schedule = z.object({
  type: z.literal('schedule'),
  cron: z.string().describe('Cron pattern: minute hour day-of-month month day-of-week, with an optional leading seconds field; names and ranges such as MON-FRI and JAN-MAR are allowed.'),
  timezone: timezone(),
  missed: z.enum(['skip', 'once', 'all']).default('once')
    .describe('Fires that passed while lading was down: skip them, cut once to catch up, or cut once per missed fire (each with the records received up to that fire).'),
  grace: duration().default(60_000)
    .describe('A fire at most this long before the scheduler started counts as on time, not missed.'),
  dst: z.object({
    nonexistent: z.enum(['shift', 'skip']).default('shift')
      .describe('A local fire time the clocks jump over (spring forward): fire when the clocks jump past it, or skip that day.'),
    ambiguous: z.enum(['first', 'last', 'both']).default('first')
      .describe('A local fire time that occurs twice (fall back): fire at its first occurrence, its last, or both.'),
  }).strict().prefault({}).describe('What daylight-saving changes do to fire times in the schedule\'s time zone.'),
}).strict().superRefine((value, ctx) => {
  try {
    new Cron(value.cron, { paused: true, timezone: 'UTC' });
  } catch (error) {
    ctx.addIssue({ code: 'custom', path: ['cron'], message: `invalid cron pattern "${value.cron}": ${(error as Error).message}` });
  }
}).meta({ id: 'trigger.schedule' });

const priorityCount = z.object({
  type: z.literal('priority_count'),
  value: z.number().int().positive().describe('Cut when this many pending records have a priority of at least min_priority.'),
  min_priority: z.number().int().describe('The priority (as ingested with each record) that counts as high.'),
}).strict().meta({ id: 'trigger.priority_count' });

export const triggerConfig = z.discriminatedUnion('type', [recordCount, bytes, age, schedule, priorityCount], {
  error: (issue) => (issue.code === 'invalid_union' ? 'unknown trigger type; expected one of: record_count, bytes, age, schedule, priority_count' : undefined),
});

const clock = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;
// Kept as written (not turned into seconds): a run stores its parsed config and parses it again on resume.
const timeOfDay = z.string().regex(clock, 'expected a time of day such as 06:00 or 22:30');

/** Seconds since midnight of a validated "HH:MM[:SS]". */
export function secondsOfDay(text: string): number {
  const [, h, m, s] = clock.exec(text)!;
  return Number(h) * 3600 + Number(m) * 60 + Number(s ?? 0);
}

const rule = z.object({
  between: z.tuple([timeOfDay, timeOfDay])
    .describe('Time-of-day window [start, end) in the rule\'s time zone; a window whose end is before its start spans midnight (["22:00", "06:00"]).'),
  timezone: timezone(),
  min_pending: z.number().int().positive().optional().describe('In the window, cut as soon as this many records are pending (flush reason rule); the triggers still apply.'),
  hold: z.boolean().optional().describe('In the window, cut nothing automatically (a manual flush still does); schedule fires wait until the window ends.'),
}).strict().superRefine((value, ctx) => {
  if (clock.test(value.between[0]) && clock.test(value.between[1]) && secondsOfDay(value.between[0]) === secondsOfDay(value.between[1])) ctx.addIssue({ code: 'custom', path: ['between'], message: 'start and end must differ' });
  if ((value.min_pending === undefined) === (value.hold !== true)) {
    ctx.addIssue({ code: 'custom', message: 'give either min_pending or hold: true' });
  }
}).meta({ id: 'batch.rule' });

export const batchConfig = z.object({
  triggers: z.array(triggerConfig).default([])
    .describe('Any one met cuts a batch from the inbox; a manual flush (`lading flush`) always can.'),
  rules: z.array(rule).optional()
    .describe('Ordered time-of-day rules; the first whose window holds the current time applies.'),
}).strict().meta({ id: 'batch' });

export type BatchConfig = z.output<typeof batchConfig>;
export type TriggerConfig = z.output<typeof triggerConfig>;
export type ScheduleTrigger = Extract<TriggerConfig, { type: 'schedule' }>;
export type BatchRule = NonNullable<BatchConfig['rules']>[number];

/** Names a schedule in the store: editing its cron or time zone starts it afresh. */
export const scheduleKey = (trigger: Pick<ScheduleTrigger, 'cron' | 'timezone'>): string => `schedule:${trigger.cron}@${trigger.timezone}`;

/** Root-level check: triggers cut batches from an inbox, so `batch:` needs `source: {type: inbox}`. */
export function batchNeedsInbox(config: { source: { type: string }; batch?: unknown }, ctx: z.RefinementCtx): void {
  if (config.batch !== undefined && config.source.type !== 'inbox') {
    ctx.addIssue({ code: 'custom', path: ['batch'], message: `batch triggers cut batches from an inbox; this pipeline's source is ${config.source.type}` });
  }
}
