import { Command, InvalidArgumentError, Option } from 'commander';
import { duration } from '../../config/units.js';
import { auditJson } from '../../observe/audit.js';
import { parsePositiveInt, withStore } from '../context.js';

/** An instant (ISO 8601) or a duration back from now (`24h`, `7d`… as config durations). */
const parseSince = (value: string): Date => {
  const ago = duration().safeParse(value);
  if (ago.success && typeof ago.data === 'number') return new Date(Date.now() - ago.data);
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new InvalidArgumentError(`--since takes an ISO 8601 time (2024-03-01T09:00:00Z) or a duration back from now (24h), got "${value}"`);
  return new Date(at);
};

export function auditCommand(): Command {
  return new Command('audit')
    .description('The audit log: operator actions (runs paused, resumed, cancelled, retried; dead letters retried or skipped; deliveries resumed or retried; keys created or revoked; flushes), who took them and when, newest first.')
    .addOption(new Option('--since <time>', 'only actions at or after this ISO 8601 time, or within this duration back from now (24h)').argParser(parseSince))
    .option('--actor <actor>', 'only actions of this actor: an API key owner, an API key id, or cli:<user>@<host>')
    .addOption(new Option('-n, --limit <n>', 'how many entries').default(100).argParser(parsePositiveInt('--limit')))
    .option('--json', 'one JSON object per line')
    .addHelpText('after', '\nActions through the REST API name the API key\'s owner and id; actions of the CLI name cli:<os user>@<host>. Keys are never recorded, only their ids.')
    .action(async function (this: Command, opts: { since?: Date; actor?: string; limit: number; json?: boolean }) {
      const entries = await withStore(this, (store) => store.listAudit({ limit: opts.limit, ...(opts.since ? { since: opts.since } : {}), ...(opts.actor ? { actor: opts.actor } : {}) }));
      for (const e of entries) {
        const row = auditJson(e);
        process.stdout.write(opts.json
          ? `${JSON.stringify(row)}\n`
          : `${row.at}  ${e.actor}${e.keyId ? ` (key ${e.keyId})` : ''}  ${e.action} ${e.target}${e.details ? `  ${JSON.stringify(e.details)}` : ''}\n`);
      }
      if (entries.length === 0 && !opts.json) process.stdout.write('no audit entries\n');
    });
}
