// `sla:`, `retention:` and `reports:` of a pipeline. Declared here, next to the code that reads
// them; plugged into the root schema in config/pipeline.ts.
import { z } from 'zod';
import { duration } from '../config/units.js';
import { emailChannel } from '../notify/config.js';
import { isTimeZone } from '../triggers/zone.js';

export const slaConfig = z.object({
  freshness: duration().optional().describe('Records are delivered within this long of arriving, e.g. 4h; a record still undelivered after it breaches too.'),
  completeness: z.boolean().default(false).describe('Every record accepted (and older than freshness, when set) was delivered: none failed, none left behind.'),
  accuracy: z.number().int().min(0).optional().describe('Most duplicate records delivered in the window (records whose data equals another delivered record\'s), e.g. 0.'),
  availability: z.number().gt(0).max(1).optional().describe('Least fraction of full runs that completed (with or without item errors) in the window, e.g. 0.99.'),
  window: duration().default(30 * 86_400_000).describe('The period the objectives are measured over, ending now. Default 30d.'),
}).strict().meta({ id: 'sla' });
export type SlaConfig = z.output<typeof slaConfig>;

export const retentionConfig = z.object({
  records: duration().optional().describe('Inbox records are removed this long after their batch was delivered, e.g. 30d. Records never delivered are kept.'),
  files: duration().optional().describe('Staged (rendered) files of settled deliveries are removed this long after, e.g. 7d. Files of failed or pending deliveries are kept.'),
  dead_letters: duration().optional().describe('Resolved dead letters (retried, skipped) and warnings are removed this long after their run, e.g. 90d. Open dead letters are kept.'),
  runs: duration().optional().describe('Finished runs (with chunks, item errors and file rows) are removed this long after they ended, e.g. 180d; runs of undelivered batches, unsettled deliveries or open dead letters are kept.'),
}).strict().meta({ id: 'retention' });
export type RetentionConfig = z.output<typeof retentionConfig>;

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day such as 07:00');

export const reportsConfig = z.object({
  daily: z.object({
    at: clock.default('07:00').describe('When the report of the previous day is sent, in timezone.'),
    timezone: z.string().default('UTC').refine(isTimeZone, 'an IANA time zone such as Europe/Berlin').describe('The zone the day and `at` are read in.'),
    email: emailChannel.describe('Where the report goes: the email channel of notify (HTML body with a text alternative).'),
  }).strict().describe('Mail this pipeline\'s daily report (docs/reports.md) every day; sent by `lading serve` and `lading triggers`.'),
}).strict().meta({ id: 'reports' });
export type ReportsConfig = z.output<typeof reportsConfig>;
