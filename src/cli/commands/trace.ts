import { Command } from 'commander';
import { renderTrace, trace } from '../../reports/trace.js';
import { withStore } from '../context.js';

export function traceCommand(): Command {
  return new Command('trace')
    .description('Trace a record: its batch, the files and destinations that carried it (name, uri, bytes, sha256, when), the runs that processed it, and its failures.')
    .argument('<record-id>', 'an inbox record id (42 or inbox:42), the idempotency key it was ingested with, or the item id of a failed item (lading dlq list)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nItems of file, SQL or inline runs are traced by item id only when they failed (docs/reports.md).\nExit codes: 0 found, 1 nothing matches (TRACE_NOT_FOUND).')
    .action(async function (this: Command, ref: string, opts: { json?: boolean }) {
      const found = await withStore(this, (store) => trace(store, ref));
      process.stdout.write(opts.json ? `${JSON.stringify(found)}\n` : `${renderTrace(found)}\n`);
    });
}
