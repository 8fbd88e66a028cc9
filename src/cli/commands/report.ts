import { Command, Option } from 'commander';
import { loadPipeline } from '../../config/load.js';
import { systemClock } from '../../core/clock.js';
import { ladingError } from '../../errors/lading-error.js';
import { dailyReport } from '../../reports/daily.js';
import { sendDailyReport } from '../../reports/housekeeping.js';
import { renderDailyHtml, renderDailyText } from '../../reports/render.js';
import { withStore } from '../context.js';

export function reportCommand(): Command {
  const report = new Command('report').description('Reports built from the store (docs/reports.md).');
  report.addCommand(new Command('daily')
    .description('The report of one day: totals and success rate, per destination, issues with their resolution, performance, and the reconciliation of accepted, batched, delivered and failed records with their differences.')
    .requiredOption('--date <YYYY-MM-DD>', 'the day, read in --tz')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'text', 'html']).default('text'))
    .option('--tz <zone>', 'IANA time zone the day is read in (default UTC, or reports.daily.timezone with --send)')
    .option('--send <pipeline.yaml>', 'mail the report through that pipeline\'s reports.daily.email channel instead of printing it (the report covers that pipeline)')
    .action(async function (this: Command, opts: { date: string; pipeline?: string; format: 'json' | 'text' | 'html'; tz?: string; send?: string }) {
      if (opts.send !== undefined) {
        const { config } = await loadPipeline(opts.send);
        const daily = config.reports?.daily;
        if (!daily) throw ladingError('USAGE_INVALID', `${opts.send} has no reports.daily section to send the report with`);
        const to = await withStore(this, (store) => sendDailyReport(store, config.name, { ...daily, timezone: opts.tz ?? daily.timezone }, opts.date, systemClock));
        process.stdout.write(`sent the daily report ${opts.date} of ${config.name} to ${to}\n`);
        return;
      }
      const built = await withStore(this, (store) => dailyReport(store, { date: opts.date, timezone: opts.tz ?? 'UTC', ...(opts.pipeline === undefined ? {} : { pipeline: opts.pipeline }) }));
      process.stdout.write(opts.format === 'json' ? `${JSON.stringify(built, null, 2)}\n` : opts.format === 'html' ? renderDailyHtml(built) : renderDailyText(built));
    }));
  return report;
}
