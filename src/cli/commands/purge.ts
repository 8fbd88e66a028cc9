import { Command } from 'commander';
import { loadCatalog } from '../../config/catalog.js';
import { systemClock } from '../../core/clock.js';
import { ladingError } from '../../errors/lading-error.js';
import { purgePipeline, renderPurge, type PurgeOutcome } from '../../reports/retention.js';
import { withStore } from '../context.js';

export function purgeCommand(): Command {
  return new Command('purge')
    .description('Remove delivered inbox records, staged files, resolved dead letters and finished runs older than each pipeline\'s retention: periods. Nothing is removed before its delivery is confirmed.')
    .argument('<configs...>', 'pipeline YAML files, or folders holding them; pipelines without retention: are skipped')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .option('--dry-run', 'count what would be removed, remove nothing')
    .option('--archive', 'append every removed row to <data-dir>/archive/<pipeline>-<date>.jsonl first')
    .option('--json', 'print JSON')
    .addHelpText('after', '\n`lading serve` and `lading triggers` purge once a day by themselves (docs/reports.md).')
    .action(async function (this: Command, configs: string[], opts: { pipeline?: string; dryRun?: boolean; archive?: boolean; json?: boolean }) {
      const catalog = await loadCatalog(configs);
      const pipelines = catalog.list().filter((p) => p.config.retention !== undefined && (opts.pipeline === undefined || p.config.name === opts.pipeline));
      if (pipelines.length === 0) throw ladingError('USAGE_INVALID', opts.pipeline ? `no pipeline named ${opts.pipeline} with a retention: section in ${configs.join(', ')}` : `no pipeline in ${configs.join(', ')} has a retention: section`);
      const outcomes: PurgeOutcome[] = await withStore(this, async (store, g) => {
        const all: PurgeOutcome[] = [];
        for (const p of pipelines) {
          all.push(await purgePipeline(store, p.config.name, p.config.retention!, { now: systemClock.now(), dataDir: g.dataDir, dryRun: opts.dryRun === true, archive: opts.archive === true }));
        }
        return all;
      });
      process.stdout.write(opts.json ? `${JSON.stringify({ pipelines: outcomes })}\n` : `${outcomes.map(renderPurge).join('\n')}\n`);
    });
}
