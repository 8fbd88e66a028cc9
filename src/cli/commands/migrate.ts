import { Command } from 'commander';
import { withStore } from '../context.js';

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('Apply the store\'s pending schema migrations and print what was applied. Every command migrates on open too; this makes it an explicit deploy step.')
    .option('--json', 'print the result as JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const { description, result } = await withStore(this, async (store) => ({ description: store.description, result: await store.migrate() }), { migrate: false });
      const applied = result.applied.map((m) => m.name);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ store: description, applied, version: result.version })}\n`);
      } else if (applied.length === 0) {
        process.stdout.write(`${description} is up to date (schema version ${result.version})\n`);
      } else {
        process.stdout.write(`${applied.map((name) => `applied ${name}\n`).join('')}${description} is at schema version ${result.version}\n`);
      }
    });
}
