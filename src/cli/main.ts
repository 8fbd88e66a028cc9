import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { codes } from '../errors/codes.js';
import { ConfigError, LadingError } from '../errors/lading-error.js';
import { exitCodes } from './context.js';
import { alertsCommand } from './commands/alerts.js';
import { auditCommand } from './commands/audit.js';
import { configCommand } from './commands/config-print.js';
import { deliveriesCommand, destinationsCommand } from './commands/deliveries.js';
import { demoCommand } from './commands/demo.js';
import { dlqCommand } from './commands/dlq.js';
import { ingestCommand } from './commands/ingest.js';
import { migrateCommand } from './commands/migrate.js';
import { runCommand } from './commands/run.js';
import { runsCommand } from './commands/runs.js';
import { flushCommand, scheduleCommand, triggersCommand } from './commands/triggers.js';
import { keysCommand } from './commands/keys.js';
import { serveCommand } from './commands/serve.js';
import { traceCommand } from './commands/trace.js';
import { slaCommand } from './commands/sla.js';
import { purgeCommand } from './commands/purge.js';
import { reportCommand } from './commands/report.js';
import { workerCommand } from './commands/worker.js';
import { validateCommand } from './commands/validate.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The command tree; docs/cli.md is generated from it. */
export function program(): Command {
  const root = new Command('lading')
    .description('Batch processing and batch delivery: records in, validated, mapped, rendered into files and delivered.')
    .version(version, '-V, --version')
    .option('--data-dir <dir>', 'working folder for the store and staging files (env LADING_HOME)', undefined)
    .option('--db <file|url>', 'the store: a SQLite database file, or a postgres:// URL shared by many processes (env LADING_DATABASE_URL for a URL, LADING_DB for a file; default <data-dir>/lading.db)')
    .option('--staging <where>', 'where files awaiting (re)delivery are kept so every worker can read them: local, database or s3://bucket/prefix (env LADING_STAGING; default database on PostgreSQL, local on SQLite)')
    // As the environment variable: the store's staging is opened where deliveries are, and worker processes inherit it.
    .hook('preAction', (_root, action) => {
      const staging = action.optsWithGlobals<{ staging?: string }>().staging;
      if (staging !== undefined) process.env.LADING_STAGING = staging;
    })
    .addHelpText('after', '\nDefaults: --data-dir .lading in the current folder.\nExit codes: 0 completed, 3 completed_with_errors, 1 failed or cancelled, 2 usage or config error.\nDocs: docs/cli.md, docs/config-reference.md, docs/errors.md')
    .showHelpAfterError('(run with --help for usage)');
  for (const command of [demoCommand(), runCommand(), validateCommand(), ingestCommand(), runsCommand(), flushCommand(), scheduleCommand(), triggersCommand(), serveCommand(), workerCommand(), keysCommand(), migrateCommand(), dlqCommand(), deliveriesCommand(), destinationsCommand(), alertsCommand(), traceCommand(), slaCommand(), reportCommand(), purgeCommand(), auditCommand(), configCommand()]) root.addCommand(command);
  return root;
}

function applyRecursively(command: Command, apply: (c: Command) => void): void {
  apply(command);
  for (const sub of command.commands) applyRecursively(sub, apply);
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const root = program();
  applyRecursively(root, (c) => c.exitOverride());
  try {
    process.exitCode = 0;
    await root.parseAsync(argv as string[]);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : exitCodes.usage;
    if (error instanceof ConfigError) {
      process.stderr.write(`✖ ${error.message}\n`);
      return exitCodes.usage;
    }
    if (error instanceof LadingError) {
      process.stderr.write(`✖ ${error.code}: ${error.message}\n  fix: ${codes[error.code].fix}\n`);
      return error.code === 'USAGE_INVALID' ? exitCodes.usage : 1;
    }
    process.stderr.write(`✖ unexpected error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    return 1;
  }
}
