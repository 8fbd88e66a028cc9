import { Command } from 'commander';
import { stringify } from 'yaml';
import { loadPipeline } from '../../config/load.js';

export function configCommand(): Command {
  const config = new Command('config').description('Inspect pipeline configs.');
  config.command('print')
    .description('Print a pipeline with every default filled in; ${env:…} references are shown as written, never their values.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print JSON instead of YAML')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { snapshot } = await loadPipeline(file);
      process.stdout.write(opts.json ? `${JSON.stringify(snapshot, null, 2)}\n` : stringify(snapshot));
    });
  return config;
}
