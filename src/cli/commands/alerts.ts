import { Command, Option } from 'commander';
import { parsePositiveInt, withStore } from '../context.js';

export function alertsCommand(): Command {
  return new Command('alerts')
    .description('List alerts (deliveries suspended and resumed) and the notifications sent, failed or held back by min_interval, newest first.')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .addOption(new Option('-n, --limit <n>', 'how many of each to show').default(20).argParser(parsePositiveInt('--limit')))
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { pipeline?: string; limit: number; json?: boolean }) {
      await withStore(this, async (store) => {
        const filter = { ...(opts.pipeline ? { pipeline: opts.pipeline } : {}), limit: opts.limit };
        const alerts = await store.listAlerts(filter);
        const notifications = await store.listNotifications(filter);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({
            alerts: alerts.map((a) => ({ pipeline: a.pipeline, run_id: a.runId, kind: a.kind, code: a.code, message: a.message, at: a.at.toISOString() })),
            notifications: notifications.map((n) => ({
              pipeline: n.pipeline, run_id: n.runId, event: n.event, rule: n.rule, channel: n.channel, target: n.target,
              status: n.status, code: n.code, message: n.message, at: n.at.toISOString(),
            })),
          })}\n`);
          return;
        }
        process.stdout.write(alerts.length === 0 ? 'no alerts\n' : 'alerts:\n');
        for (const a of alerts) process.stdout.write(`  ${a.at.toISOString()}  ${a.pipeline}  ${a.kind}${a.code ? ` ${a.code}` : ''}  ${a.message}\n`);
        process.stdout.write(notifications.length === 0 ? 'no notifications\n' : 'notifications:\n');
        const mark = { sent: '✔', failed: '✖', suppressed: '·' } as const;
        for (const n of notifications) {
          process.stdout.write(`  ${mark[n.status]} ${n.at.toISOString()}  ${n.pipeline}  ${n.event}${n.rule ? ` ${n.rule}` : ''} → ${n.channel} ${n.target}: ${n.status}${n.code ? ` ${n.code}` : ''}  ${n.message}\n`);
        }
      });
    });
}
