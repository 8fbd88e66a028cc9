import { Command } from 'commander';
import { createApiKey } from '../../api/auth.js';
import { systemClock } from '../../core/clock.js';
import { ladingError } from '../../errors/lading-error.js';
import { cliActor, recordAudit } from '../../observe/audit.js';
import { withStore } from '../context.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function keysCommand(): Command {
  const keys = new Command('keys').description('API keys of `lading serve`: stored hashed, each with an owner and scopes (ingest:<pipeline|*>, jobs:read, jobs:write, admin).');

  keys.command('create')
    .description('Create a key and print it once, alone on stdout: it cannot be shown again.')
    .requiredOption('--owner <owner>', 'who the key belongs to: jobs are visible only to keys of the same owner (or admin)')
    .option('--scope <scope>', 'a scope, repeatable or comma-separated: ingest:<pipeline|*>, jobs:read, jobs:write, admin', collect, [])
    .option('--scopes <scopes>', 'same as --scope', collect, [])
    .option('--json', 'print {id, key, owner, scopes, created_at}')
    .action(async function (this: Command, opts: { owner: string; scope: string[]; scopes: string[]; json?: boolean }) {
      const { record, key } = await withStore(this, async (store) => {
        const created = await createApiKey(store, { owner: opts.owner, scopes: [...opts.scope, ...opts.scopes], clock: systemClock });
        // The key's id names it; the key itself exists only on this command's stdout.
        await recordAudit(store, cliActor(), { action: 'key.create', target: created.record.id, details: { owner: created.record.owner, scopes: created.record.scopes } }, created.record.createdAt);
        return created;
      });
      process.stdout.write(opts.json
        ? `${JSON.stringify({ id: record.id, key, owner: record.owner, scopes: record.scopes, created_at: record.createdAt.toISOString() })}\n`
        : `${key}\n`);
    });

  keys.command('list')
    .description('List keys (never their secrets).')
    .option('--json', 'one JSON object per line')
    .action(async function (this: Command) {
      const opts = this.optsWithGlobals<{ json?: boolean }>();
      const list = await withStore(this, (store) => store.listApiKeys());
      for (const k of list) {
        const row = { id: k.id, owner: k.owner, scopes: k.scopes, created_at: k.createdAt.toISOString(), revoked_at: k.revokedAt?.toISOString() ?? null };
        process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `${k.id}  ${k.owner}  ${k.scopes.join(',')}  ${row.created_at}${k.revokedAt ? `  revoked ${row.revoked_at}` : ''}\n`);
      }
      if (list.length === 0 && !opts.json) process.stdout.write('no API keys\n');
    });

  keys.command('revoke')
    .description('Revoke a key: requests with it are refused (401) from now on.')
    .argument('<id>', 'key id, as `lading keys list` shows it')
    .action(async function (this: Command, id: string) {
      const revoked = await withStore(this, async (store) => {
        const at = systemClock.now();
        if (!(await store.revokeApiKey(id, at))) return false;
        await recordAudit(store, cliActor(), { action: 'key.revoke', target: id }, at);
        return true;
      });
      if (!revoked) throw ladingError('API_KEY_NOT_FOUND', `no active API key with id ${id}`);
      process.stdout.write(`revoked API key ${id}\n`);
    });
  return keys;
}
