import { Command } from 'commander';
import { loadPipeline } from '../../config/load.js';
import { pick } from '../../config/one-of.js';
import { systemClock } from '../../core/clock.js';
import { randomIds } from '../../core/ids.js';
import { registry } from '../../core/registry.js';
import { classify } from '../../errors/classify.js';
import { ConfigError } from '../../errors/lading-error.js';
import type { Store } from '../../store/types.js';
import { exitCodes, globals } from '../context.js';

/** validate opens no database: a component that reaches for the store while being checked is a bug. */
const noStore = new Proxy({}, { get: () => { throw new Error('validate does not open the store'); } }) as Store;

export function validateCommand(): Command {
  return new Command('validate')
    .description('Check a pipeline: schema, types, unknown keys, ${env:…} references, then that the source can be read and the destination written.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print the result as JSON')
    .option('--offline', 'check the config only; do not probe source or destination')
    .action(async function (this: Command, file: string, opts: { json?: boolean; offline?: boolean }) {
      let loaded;
      try {
        loaded = await loadPipeline(file);
      } catch (error) {
        if (!opts.json || !(error instanceof ConfigError)) throw error;
        process.stdout.write(`${JSON.stringify({ valid: false, issues: error.issues, problems: [] })}\n`);
        process.exitCode = exitCodes.usage;
        return;
      }
      const { config } = loaded;
      const ctx = { pipeline: config.name, baseDir: loaded.baseDir, dataDir: globals(this).dataDir, clock: systemClock, ids: randomIds, store: noStore };
      const source = pick(registry.sources, config.source).create(config.source, ctx);
      const sink = pick(registry.sinks, config.output).create(config.output, ctx);
      const problems: { check: string; code: string; message: string }[] = [];
      if (!opts.offline) {
        const signal = AbortSignal.timeout(30_000);
        for (const [check, probe] of [['source', source.healthcheck?.bind(source)], ['output', sink.healthcheck?.bind(sink)]] as const) {
          try {
            await probe?.(signal);
          } catch (error) {
            const e = classify(error, { ioCode: check === 'source' ? 'SOURCE_READ_FAILED' : 'DEST_WRITE_FAILED', doing: `checking ${check}` });
            problems.push({ check, code: e.code, message: e.message });
          }
        }
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ valid: problems.length === 0, pipeline: config.name, issues: [], problems })}\n`);
      } else if (problems.length === 0) {
        process.stdout.write(`✔ ${file}: pipeline "${config.name}" is valid (${config.source.type} → ${config.output.type})\n`);
      } else {
        for (const p of problems) process.stderr.write(`✖ ${file}: ${p.check}: ${p.code}: ${p.message}\n`);
      }
      process.exitCode = problems.length === 0 ? 0 : exitCodes.usage;
    });
}
