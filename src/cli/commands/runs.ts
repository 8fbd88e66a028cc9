import { Command, Option } from 'commander';
import { ladingError } from '../../errors/lading-error.js';
import { exitCodes, parsePositiveInt, withStore } from '../context.js';
import { rollbackRun } from '../../engine/deliveries.js';
import { renderReport, renderRunList } from '../render.js';
import { cancelQueuedJob } from '../../engine/queue.js';
import { toReportError } from '../../engine/report.js';
import { isInterrupted } from '../../engine/run.js';
import { cliActor, recordAudit } from '../../observe/audit.js';
import type { RunRecord, Store } from '../../store/types.js';

const label = (run: RunRecord): string => (isInterrupted(run, new Date()) ? 'interrupted' : run.control === 'pause' && run.status === 'running' ? 'paused' : run.status);

export function runsCommand(): Command {
  const runs = new Command('runs')
    .description('List past runs, newest first.')
    .option('-p, --pipeline <name>', 'only runs of this pipeline')
    .addOption(new Option('-n, --limit <n>', 'how many runs').default(20).argParser(parsePositiveInt('--limit')))
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { pipeline?: string; limit: number; json?: boolean }) {
      const list = await withStore(this, (store) => store.listRuns({ limit: opts.limit, ...(opts.pipeline ? { pipeline: opts.pipeline } : {}) }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list.map((r) => ({ id: r.id, pipeline: r.pipeline, status: label(r), mode: r.mode, batch_id: r.batchId, created_at: r.createdAt.toISOString(), completed_at: r.completedAt?.toISOString() ?? null, processed: r.processed, succeeded: r.succeeded, failed: r.failed })))}\n`);
      } else {
        process.stdout.write(`${renderRunList(list, label)}\n`);
      }
    });
  runs.command('show')
    .description('Print one run\'s report.')
    .argument('<run-id>', 'run id, as listed by `lading runs`')
    .option('--json', 'print the report as JSON')
    .option('--errors', 'list every item error of the run (failures and warnings), one JSON object per line')
    .action(async function (this: Command, id: string) {
      // `runs` has its own --json: commander hands the flag to whichever command declares it first.
      const opts = this.optsWithGlobals<{ json?: boolean; errors?: boolean }>();
      await withStore(this, async (store) => {
        const run = await store.getRun(id);
        if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${id}`);
        if (opts.errors) {
          for (let offset = 0; ; offset += 1000) {
            const page = await store.listItemErrors(id, { limit: 1000, offset });
            for (const e of page) process.stdout.write(`${JSON.stringify({ ...toReportError(e), severity: e.severity, seq: e.seq })}\n`);
            if (page.length < 1000) break;
          }
          return;
        }
        if (!run.report) {
          process.stdout.write(opts.json ? `${JSON.stringify({ job_id: run.id, pipeline: run.pipeline, status: label(run), processed: run.processed })}\n` : `${run.id} ${run.pipeline} ${label(run)}: ${run.processed} items so far\n`);
          return;
        }
        process.stdout.write(opts.json ? `${JSON.stringify(run.report)}\n` : `${renderReport(run.report)}\n`);
      });
    });
  for (const [name, control, text] of [
    ['pause', 'pause', 'Pause a running run at its next chunk boundary (from any terminal).'],
    ['resume', null, 'Let a paused run go on.'],
    ['cancel', 'cancel', 'Stop a running run at its next chunk boundary; `lading run --resume <id>` can continue it later.'],
  ] as const) {
    runs.command(name)
      .description(text)
      .argument('<run-id>', 'run id, as listed by `lading runs`')
      .action(async function (this: Command, id: string) {
        await withStore(this, async (store) => setControl(store, id, control, name));
      });
  }
  runs.command('rollback')
    .description('Remove what a run published, where the destination can delete (local, sftp, ftp, s3, gcs; not http_upload); each removed file is recorded as rolled_back. Exit 0 when all were removed, 3 when some could not be.')
    .argument('<run-id>', 'run id, as listed by `lading runs`')
    .option('--json', 'print JSON')
    .action(async function (this: Command, id: string) {
      const opts = this.optsWithGlobals<{ json?: boolean }>();
      await withStore(this, async (store, g) => {
        const results = await rollbackRun(store, id, { dataDir: g.dataDir });
        const left = results.filter((r) => r.outcome === 'unsupported' || r.outcome === 'failed');
        if (opts.json) process.stdout.write(`${JSON.stringify({ run_id: id, complete: left.length === 0, files: results })}\n`);
        else if (results.length === 0) process.stdout.write(`run ${id} published nothing that is still there\n`);
        else {
          for (const r of results) {
            process.stdout.write(r.outcome === 'removed' || r.outcome === 'gone'
              ? `✔ ${r.name} ${r.outcome === 'removed' ? 'removed' : 'already gone'}\n`
              : `✖ ${r.name} not removed: ${r.outcome === 'unsupported' ? 'the destination does not support delete' : 'removing failed'} — ${r.code}: ${r.message}\n`);
          }
        }
        if (left.length > 0) process.exitCode = exitCodes.completed_with_errors;
      });
    });
  return runs;
}

async function setControl(store: Store, id: string, control: 'pause' | 'cancel' | null, verb: string): Promise<void> {
  let run = await store.getRun(id);
  if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${id}`);
  if (control === 'cancel' && run.status === 'queued') {
    if (await cancelQueuedJob(store, run, new Date())) {
      await recordAudit(store, cliActor(), { action: 'run.cancel', target: id, pipeline: run.pipeline, details: { was: 'queued' } }, new Date());
      process.stdout.write(`run ${id}: cancelled while queued; no worker had taken it\n`);
      return;
    }
    // A worker took it meanwhile: it is running now, and is cancelled like any running run.
    run = (await store.getRun(id))!;
  }
  if (run.status !== 'running' || isInterrupted(run, new Date())) {
    throw ladingError('RUN_NOT_RESUMABLE', `run ${id} is ${label(run)}, not running; ${label(run) === 'interrupted' ? `continue it with \`lading run --resume ${id}\`` : 'nothing to ' + verb}`);
  }
  await store.setControl(id, control);
  await recordAudit(store, cliActor(), { action: `run.${verb as 'pause' | 'resume' | 'cancel'}`, target: id, pipeline: run.pipeline, details: { was: label(run) } }, new Date());
  process.stdout.write(`run ${id}: ${verb} requested; it takes effect at the next chunk boundary\n`);
}
