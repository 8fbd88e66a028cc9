import { Command } from 'commander';
import { loadCatalog } from '../../config/catalog.js';
import { systemClock } from '../../core/clock.js';
import { ladingError } from '../../errors/lading-error.js';
import { renderSla, slaStatus, type SlaStatus } from '../../reports/sla.js';
import { withStore } from '../context.js';

export function slaCommand(): Command {
  return new Command('sla')
    .description('Measure the service-level objectives (sla: freshness, completeness, accuracy, availability) of pipelines against the store, over their window ending now.')
    .argument('<configs...>', 'pipeline YAML files, or folders holding them; pipelines without sla: are skipped')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit codes: 0 every objective met (or nothing to judge), 1 an objective is breached, 2 usage or config error.')
    .action(async function (this: Command, configs: string[], opts: { pipeline?: string; json?: boolean }) {
      const catalog = await loadCatalog(configs);
      const pipelines = catalog.list().filter((p) => p.config.sla !== undefined && (opts.pipeline === undefined || p.config.name === opts.pipeline));
      if (pipelines.length === 0) throw ladingError('USAGE_INVALID', opts.pipeline ? `no pipeline named ${opts.pipeline} with an sla: section in ${configs.join(', ')}` : `no pipeline in ${configs.join(', ')} has an sla: section`);
      const statuses: SlaStatus[] = await withStore(this, async (store) => {
        const now = systemClock.now();
        const all: SlaStatus[] = [];
        for (const p of pipelines) all.push(await slaStatus(store, p.config.name, p.config.sla!, now));
        return all;
      });
      process.stdout.write(opts.json ? `${JSON.stringify({ pipelines: statuses })}\n` : `${statuses.map(renderSla).join('\n')}\n`);
      process.exitCode = statuses.every((s) => s.met) ? 0 : 1;
    });
}
