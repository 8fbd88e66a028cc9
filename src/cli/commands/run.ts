import { Command, Option } from 'commander';
import { loadPipeline } from '../../config/load.js';
import { runPipeline, type RunEvent } from '../../engine/run.js';
import type { RunReport } from '../../core/report.js';
import { exitCodes, parsePositiveInt, withStore } from '../context.js';
import { jsonProgress, ttyProgress, type ProgressSink } from '../progress.js';
import { renderReport } from '../render.js';

export interface ForegroundRun {
  readonly report: RunReport;
  readonly exitCode: number;
}

/** Runs a loaded pipeline with progress on stderr and SIGINT/SIGTERM cancelling cleanly. Shared by run and demo. */
export async function runInForeground(command: Command, file: string, opts: { json?: boolean; quiet?: boolean; chunkSize?: number }): Promise<ForegroundRun> {
  const loaded = await loadPipeline(file);
  const progress: ProgressSink | undefined = opts.quiet ? undefined : process.stderr.isTTY ? ttyProgress(process.stderr) : jsonProgress(process.stderr);
  const controller = new AbortController();
  const cancel = () => controller.abort();
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  try {
    const report = await withStore(command, (store, g) => runPipeline(loaded, {
      store, dataDir: g.dataDir, signal: controller.signal, stdin: process.stdin,
      ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }),
      ...(progress ? { onEvent: (event: RunEvent) => progress(event) } : {}),
    }));
    progress?.done();
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${renderReport(report)}\n`);
    return { report, exitCode: exitCodes[report.status] };
  } finally {
    progress?.done();
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
}

export function runCommand(): Command {
  return new Command('run')
    .description('Run a pipeline in the foreground: read its source, validate and map each record, render and deliver the output.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print the final report as JSON (the last line of stdout)')
    .option('-q, --quiet', 'no progress output on stderr')
    .addOption(new Option('--chunk-size <n>', 'items per chunk (overrides execution.chunk_size)').argParser(parsePositiveInt('--chunk-size')))
    .addHelpText('after', '\nProgress goes to stderr: a bar on a terminal, otherwise one JSON line per event.\nExit codes: 0 completed, 3 completed_with_errors, 1 failed or cancelled, 2 usage or config error.')
    .action(async function (this: Command, file: string, opts: { json?: boolean; quiet?: boolean; chunkSize?: number }) {
      process.exitCode = (await runInForeground(this, file, opts)).exitCode;
    });
}
