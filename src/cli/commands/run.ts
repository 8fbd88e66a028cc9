import { Command, Option } from 'commander';
import { loadPipeline, loadRunPipeline, type LoadedPipeline } from '../../config/load.js';
import { dryRun, type DryRunReport } from '../../engine/dry-run.js';
import { submitJob } from '../../engine/queue.js';
import { isInterrupted, runPipeline, type RunEvent, type RunOptions } from '../../engine/run.js';
import type { RunReport } from '../../core/report.js';
import { ladingError } from '../../errors/lading-error.js';
import type { Store } from '../../store/types.js';
import { exitCodes, parseInteger, parsePositiveInt, withStore } from '../context.js';
import { jsonProgress, ttyProgress, type ProgressSink } from '../progress.js';
import { renderDryRun, renderReport } from '../render.js';
import { grouped } from '../../core/numbers.js';

export interface ForegroundRun {
  readonly report: RunReport;
  readonly exitCode: number;
}

export interface RunFlags {
  json?: boolean;
  quiet?: boolean;
  chunkSize?: number;
  concurrency?: number;
  retryAttempts?: number;
  sample?: number;
  resume?: string;
  dryRun?: boolean;
  queue?: boolean;
  priority?: number;
}

/** Runs with progress on stderr and SIGINT/SIGTERM cancelling at the next chunk boundary. Shared by run, demo and dlq retry. */
/** Where the pipeline comes from: a file, `--resume`'s stored run, or a caller that builds it (dead-letter retries). */
export type PipelineOrigin = string | undefined | ((store: Store) => Promise<{ loaded: LoadedPipeline; options?: Partial<RunOptions> }>);

export async function runInForeground(command: Command, origin: PipelineOrigin, flags: RunFlags): Promise<ForegroundRun> {
  const progress: ProgressSink | undefined = flags.quiet ? undefined : process.stderr.isTTY ? ttyProgress(process.stderr) : jsonProgress(process.stderr);
  const controller = new AbortController();
  const cancel = () => controller.abort();
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  try {
    const report = await withStore(command, async (store, g) => {
      const built = typeof origin === 'function' ? await origin(store) : { loaded: await pipelineFor(store, origin, flags.resume) };
      const { loaded } = built;
      if (!flags.resume && typeof origin !== 'function') await offerResume(store, loaded.config.name);
      return runPipeline(loaded, {
        store, dataDir: g.dataDir, signal: controller.signal, stdin: process.stdin,
        ...(flags.chunkSize === undefined ? {} : { chunkSize: flags.chunkSize }),
        ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
        ...(flags.retryAttempts === undefined ? {} : { retryAttempts: flags.retryAttempts }),
        ...(flags.sample === undefined ? {} : { sample: flags.sample }),
        ...(flags.resume === undefined ? {} : { resume: flags.resume }),
        ...(progress ? { onEvent: (event: RunEvent) => progress(event) } : {}),
        ...built.options,
      });
    });
    progress?.done();
    process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderReport(report)}\n`);
    return { report, exitCode: exitCodes[report.status] };
  } finally {
    progress?.done();
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
}

async function pipelineFor(store: Store, file: string | undefined, resume: string | undefined): Promise<LoadedPipeline> {
  if (file !== undefined) return loadPipeline(file);
  if (resume === undefined) throw ladingError('USAGE_INVALID', 'give a pipeline file, or --resume <run-id>');
  const run = await store.getRun(resume);
  if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${resume}`);
  return loadRunPipeline(run);
}

/** An interrupted run of the same pipeline is pointed out: it can be continued instead of starting over. */
async function offerResume(store: Store, pipeline: string): Promise<void> {
  const now = new Date();
  const [latest] = await store.listRuns({ pipeline, limit: 1 });
  if (latest && (isInterrupted(latest, now) || latest.status === 'cancelled' || latest.status === 'timed_out')) {
    const state = latest.status === 'running' ? 'was interrupted' : `was ${latest.status.replace('_', ' ')}`;
    process.stderr.write(`note: run ${latest.id} of ${pipeline} ${state} after ${grouped(latest.processed)} items; continue it with: lading run --resume ${latest.id}\n`);
  }
}

export function runCommand(): Command {
  return new Command('run')
    .description('Run a pipeline in the foreground: read its source, validate and map each record, deliver through its output.')
    .argument('[pipeline]', 'pipeline YAML file (optional with --resume)')
    .option('--json', 'print the final report as JSON (the last line of stdout)')
    .option('-q, --quiet', 'no progress output on stderr')
    .option('--dry-run', 'validate and map every item, deliver nothing, store nothing; exit 0 only if nothing is blocked')
    .addOption(new Option('--sample <n>', 'process n items spread over the input (first, last, shortest, longest, evenly between); files go under sample/').argParser(parsePositiveInt('--sample')))
    .option('--resume <run-id>', 'continue an interrupted, cancelled or timed-out run after its last committed chunk')
    .option('--queue', 'do not run here: queue the job in the store for `lading worker` processes and print its id (docs/scale-out.md)')
    .addOption(new Option('--priority <n>', 'with --queue: higher is worked first').default(0).argParser(parseInteger('--priority')))
    .addOption(new Option('--chunk-size <n>', 'items per chunk (overrides execution.chunk_size)').argParser(parsePositiveInt('--chunk-size')))
    .addOption(new Option('--concurrency <n>', 'chunks in flight (overrides execution.concurrency)').argParser(parsePositiveInt('--concurrency')))
    .addOption(new Option('--retry-attempts <n>', 'tries per item (overrides execution.retry.attempts)').argParser(parsePositiveInt('--retry-attempts')))
    .addHelpText('after', '\nProgress goes to stderr: a bar on a terminal, otherwise one JSON line per event.\nCtrl-C stops at the next chunk boundary; the run can then be continued with --resume.\nExit codes: 0 completed, 3 completed_with_errors (dry run: something blocked), 1 failed, cancelled or timed out, 2 usage or config error.')
    .action(async function (this: Command, file: string | undefined, flags: RunFlags) {
      if (flags.queue) {
        if (file === undefined) throw ladingError('USAGE_INVALID', '--queue needs a pipeline file');
        if (flags.dryRun || flags.sample !== undefined || flags.resume !== undefined) throw ladingError('USAGE_INVALID', '--queue runs a full job: it does not combine with --dry-run, --sample or --resume');
        const run = await withStore(this, async (store, g) => submitJob(await loadPipeline(file), {
          store, dataDir: g.dataDir, stdin: process.stdin, priority: flags.priority ?? 0,
          ...(flags.chunkSize === undefined ? {} : { chunkSize: flags.chunkSize }),
        }));
        process.stdout.write(flags.json ? `${JSON.stringify({ job_id: run.id, pipeline: run.pipeline, status: run.status })}\n` : `queued ${run.id} (${run.pipeline}); watch it with: lading runs show ${run.id}\n`);
        return;
      }
      if (flags.dryRun) {
        if (file === undefined) throw ladingError('USAGE_INVALID', '--dry-run needs a pipeline file');
        const report: DryRunReport = await withStore(this, async (store, g) => dryRun(await loadPipeline(file), { store, dataDir: g.dataDir, stdin: process.stdin }));
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderDryRun(report)}\n`);
        process.exitCode = report.status === 'passed' ? 0 : exitCodes.completed_with_errors;
        return;
      }
      process.exitCode = (await runInForeground(this, file, flags)).exitCode;
    });
}
