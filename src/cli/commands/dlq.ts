import { Command, Option } from 'commander';
import { loadRunPipeline } from '../../config/load.js';
import { codes, isErrorCode } from '../../errors/codes.js';
import { ladingError } from '../../errors/lading-error.js';
import { cliActor, recordAudit } from '../../observe/audit.js';
import { DeadLetterSource } from '../../sources/dead-letters.js';
import type { DeadLetter, DeadLetterFilter } from '../../store/types.js';
import { withStore } from '../context.js';
import { runInForeground, type RunFlags } from './run.js';

interface FilterFlags {
  run?: string;
  pipeline?: string;
  errorType?: string;
  item?: string;
  all?: boolean;
}

const filterOf = (f: FilterFlags): DeadLetterFilter => ({
  ...(f.run ? { runId: f.run } : {}), ...(f.pipeline ? { pipeline: f.pipeline } : {}),
  ...(f.errorType ? { errorType: f.errorType } : {}), ...(f.item ? { itemId: f.item } : {}),
  ...(f.all ? {} : { status: 'dead' as const }),
});

/** The filters an operator gave, for the audit log. */
const selection = (f: FilterFlags) => ({ error_type: f.errorType ?? null, item_id: f.item ?? null });

const fixOf = (code: string) => (isErrorCode(code) ? codes[code].fix : '');

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('Dead letters: items that failed for good (permanent errors, or out of attempts), kept with their data to retry, skip or export.');

  dlq.command('list')
    .description('List dead letters, oldest run first.')
    .option('-r, --run <run-id>', 'of this run')
    .option('-p, --pipeline <name>', 'of this pipeline')
    .option('-t, --error-type <type>', 'by error_type (ValidationError) or code (SINK_HTTP_REJECTED)')
    .option('--all', 'include letters already retried or skipped')
    .option('--json', 'one JSON object per line')
    .action(async function (this: Command, f: FilterFlags & { json?: boolean }) {
      const letters = await withStore(this, (store) => store.listDeadLetters({ ...filterOf(f), limit: 10_000 }));
      if (f.json) {
        for (const l of letters) process.stdout.write(`${JSON.stringify({ run_id: l.runId, item_id: l.itemId, status: l.status, error_type: l.errorType, code: l.code, message: l.message, attempts: l.attempts })}\n`);
        return;
      }
      if (letters.length === 0) process.stdout.write('no dead letters\n');
      for (const l of letters) process.stdout.write(`${l.runId}  ${l.itemId ?? '-'}  ${l.status}  ${l.code}  attempts ${l.attempts}  ${l.message}\n`);
    });

  dlq.command('show')
    .description('One dead letter: its data, every attempt, the error and how to fix it.')
    .argument('<run-id>', 'the run it failed in')
    .argument('<item-id>', 'the item id (e.g. leads.ndjson:4012)')
    .action(async function (this: Command, runId: string, itemId: string) {
      const [letter] = await withStore(this, (store) => store.listDeadLetters({ runId, itemId }));
      if (!letter) throw ladingError('STORE_RUN_NOT_FOUND', `no dead letter ${itemId} in run ${runId}`);
      process.stdout.write(`${JSON.stringify(describe(letter), null, 2)}\n`);
    });

  dlq.command('retry')
    .description('Run the dead letters of a run again, as a new run linked to it (same idempotency keys as the first try).')
    .argument('<run-id>', 'the run whose dead letters to retry')
    .option('-t, --error-type <type>', 'only letters of this error_type or code')
    .option('-i, --item <item-id>', 'only this item')
    .option('--json', 'print the new run\'s report as JSON')
    .option('-q, --quiet', 'no progress output')
    .action(async function (this: Command, runId: string, f: FilterFlags & RunFlags) {
      let retried: DeadLetterSource | undefined;
      const { exitCode, report } = await runInForeground(this, async (store) => {
        const run = await store.getRun(runId);
        if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${runId}`);
        retried = new DeadLetterSource(store, { ...filterOf(f), runId });
        return { loaded: loadRunPipeline(run), options: { source: { source: retried, parentRunId: runId } } };
      }, { ...(f.json ? { json: true } : {}), ...(f.quiet ? { quiet: true } : {}) });
      // The letters this retry took live on in the new run; in the parent they are no longer dead.
      const ids = retried?.itemIds() ?? [];
      await withStore(this, async (store) => {
        for (const itemId of ids) await store.markDeadLetters({ runId, itemId }, 'retried');
        await recordAudit(store, cliActor(), {
          action: 'dead_letters.retry', target: runId, pipeline: report.pipeline, details: { ...selection(f), retried: ids.length, run_id: report.job_id, status: report.status },
        }, new Date());
      });
      if (!f.json) process.stdout.write(`retried ${ids.length} dead letters of ${runId} as run ${report.job_id}\n`);
      process.exitCode = exitCode;
    });

  dlq.command('skip')
    .description('Mark dead letters as skipped: they stay in the store but leave the list and retries.')
    .argument('<run-id>', 'the run')
    .option('-t, --error-type <type>', 'only letters of this error_type or code')
    .option('-i, --item <item-id>', 'only this item')
    .action(async function (this: Command, runId: string, f: FilterFlags) {
      const n = await withStore(this, async (store) => {
        const skipped = await store.markDeadLetters({ ...filterOf(f), runId }, 'skipped');
        const run = await store.getRun(runId);
        await recordAudit(store, cliActor(), { action: 'dead_letters.skip', target: runId, pipeline: run?.pipeline ?? null, details: { ...selection(f), skipped } }, new Date());
        return skipped;
      });
      process.stdout.write(`skipped ${n} dead letters of ${runId}\n`);
    });

  dlq.command('export')
    .description('Write a run\'s dead letters (data plus error) to stdout, to fix them by hand or hand them on.')
    .argument('<run-id>', 'the run')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['ndjson', 'csv']).default('ndjson'))
    .option('-t, --error-type <type>', 'only letters of this error_type or code')
    .option('--all', 'include letters already retried or skipped')
    .action(async function (this: Command, runId: string, f: FilterFlags & { format: 'ndjson' | 'csv' }) {
      const letters = await withStore(this, (store) => store.listDeadLetters({ ...filterOf(f), runId }));
      if (f.format === 'ndjson') {
        for (const l of letters) process.stdout.write(`${JSON.stringify({ item_id: l.itemId, code: l.code, error: l.message, data: l.payload ?? null })}\n`);
        return;
      }
      const fields = [...new Set(letters.flatMap((l) => Object.keys((l.payload as Record<string, unknown> | undefined) ?? {})))];
      process.stdout.write(`${['item_id', 'code', 'error', ...fields].map(csvCell).join(',')}\n`);
      for (const l of letters) {
        const data = (l.payload as Record<string, unknown> | undefined) ?? {};
        process.stdout.write(`${[l.itemId, l.code, l.message, ...fields.map((k) => data[k])].map(csvCell).join(',')}\n`);
      }
    });
  return dlq;
}

function describe(l: DeadLetter) {
  return {
    run_id: l.runId, pipeline: l.pipeline, item_id: l.itemId, status: l.status, error_type: l.errorType, code: l.code,
    category: l.category, field: l.field, location: l.location, message: l.message, fix: fixOf(l.code), attempts: l.attempts,
    history: l.history ?? [], data: l.payload ?? null,
  };
}

