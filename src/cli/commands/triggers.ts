import { Command, InvalidArgumentError, Option } from 'commander';
import { loadPipeline, secretValues } from '../../config/load.js';
import { duration } from '../../config/units.js';
import { systemClock } from '../../core/clock.js';
import { cliActor, flushAction, recordAudit } from '../../observe/audit.js';
import { logLevels, type LogLevel } from '../../observe/levels.js';
import { observer } from '../../observe/observer.js';
import { triggersStatus, type TriggersStatus } from '../../triggers/next.js';
import { Housekeeper } from '../../reports/housekeeping.js';
import { flush, Scheduler, type Delivery, type SchedulerEvent } from '../../triggers/scheduler.js';
import { exitCodes, parsePositiveInt, withStore } from '../context.js';
import { parseLease } from './worker.js';
import { renderReport } from '../render.js';
import { grouped } from '../../core/numbers.js';

const deliveryJson = (d: Delivery) => ({
  batch_id: d.batch.id, records: d.batch.records, flush_reason: d.batch.reason, run_id: d.report.job_id, status: d.report.status, files: d.report.artifacts.files,
});

export function flushCommand(): Command {
  return new Command('flush')
    .description('Cut a batch of the pipeline\'s pending inbox records now (flush reason manual) and deliver it; a batch left undelivered by a crash goes first.')
    .argument('<pipeline>', 'pipeline YAML file (source: {type: inbox})')
    .option('--json', 'print {batch_id, records, flush_reason, run_id, status, files} as JSON')
    .addHelpText('after', '\nWith nothing pending it prints "nothing pending" and exits 0.\nExit codes: 0 delivered or nothing pending, 3 completed_with_errors, 1 failed, 2 usage or config error.')
    .action(async function (this: Command, file: string, opts: { json?: boolean }) {
      const loaded = await loadPipeline(file);
      const delivery = await withStore(this, async (store, g) => {
        const delivered = await flush(loaded, { store, dataDir: g.dataDir });
        await recordAudit(store, cliActor(), flushAction(loaded.config.name, delivered), new Date());
        return delivered;
      });
      if (delivery === null) {
        process.stdout.write(opts.json ? `${JSON.stringify({ batch_id: null, records: 0, flush_reason: null })}\n` : `nothing pending in the inbox of ${loaded.config.name}\n`);
        process.exitCode = 0;
        return;
      }
      process.stdout.write(opts.json
        ? `${JSON.stringify(deliveryJson(delivery))}\n`
        : `batch ${delivery.batch.id}: ${grouped(delivery.batch.records)} records, reason ${delivery.batch.reason}\n${renderReport(delivery.report)}\n`);
      process.exitCode = exitCodes[delivery.report.status];
    });
}

function renderStatus(status: TriggersStatus): string {
  const lines = [`${status.pipeline}: ${grouped(status.pending.pending)} pending (${grouped(status.pending.bytes)} bytes${status.pending.oldest ? `, oldest ${status.pending.oldest.toISOString()}` : ''})`];
  if (status.rule) lines.push(`rule ${status.rule.index + 1} active (${status.rule.between.join('–')} ${status.rule.timezone}): ${status.rule.hold ? 'hold — only a manual flush cuts' : `cut at ${grouped(status.rule.min_pending ?? 0)} pending`}`);
  lines.push(`armed: ${status.armed ? 'yes' : 'no'}; next time-based trigger: ${status.next_trigger ?? 'none'}`);
  for (const t of status.triggers) {
    const trigger = t.trigger;
    if (trigger.type === 'schedule') {
      lines.push(`  schedule "${trigger.cron}" ${trigger.timezone} (missed: ${trigger.missed}, dst: ${trigger.dst.nonexistent}/${trigger.dst.ambiguous})`);
      for (const next of t.next ?? []) lines.push(`    ${next.local}   ${next.at}`);
    } else {
      lines.push(`  ${trigger.type}: ${grouped(t.progress!.value)} / ${grouped(t.progress!.threshold)}${t.fires_at ? ` (due ${t.fires_at})` : ''}`);
    }
  }
  lines.push('  manual: always (`lading flush`)');
  return lines.join('\n');
}

export function scheduleCommand(): Command {
  return new Command('schedule')
    .description('Show a pipeline\'s triggers: the next fire times of its schedules in their time zones, and how close the other triggers are.')
    .argument('<pipeline>', 'pipeline YAML file')
    .addOption(new Option('-n, --next <n>', 'fire times to list per schedule').default(5).argParser(parsePositiveInt('--next')))
    .option('--json', 'print JSON')
    .action(async function (this: Command, file: string, opts: { next: number; json?: boolean }) {
      const loaded = await loadPipeline(file);
      const stats = await withStore(this, (store) => store.inboxStats(loaded.config.name));
      const status = triggersStatus(loaded.config, stats, systemClock.now(), opts.next);
      process.stdout.write(opts.json ? `${JSON.stringify(status)}\n` : `${renderStatus(status)}\n`);
    });
}

const parseDuration = (value: string): number => {
  const parsed = duration().safeParse(value);
  if (!parsed.success || parsed.data <= 0) throw new InvalidArgumentError(`expected a duration such as 1s or 500ms, got "${value}"`);
  return parsed.data;
};

export function triggersCommand(): Command {
  return new Command('triggers')
    .description('Watch the inboxes of one or more pipelines in the foreground: cut a batch whenever a trigger fires and deliver it (the scheduler `lading serve` embeds, without HTTP).')
    .argument('<pipelines...>', 'pipeline YAML files (source: {type: inbox}, with a batch: section)')
    .option('--once', 'evaluate every pipeline once, deliver what fired, and exit')
    .addOption(new Option('--tick <duration>', 'time between evaluations').default(1000, '1s').argParser(parseDuration))
    .addOption(new Option('--log-level <level>', 'least severe log lines written (JSON on stderr: the runs\' events, secrets redacted)').choices(logLevels).default('warn'))
    .addOption(new Option('--lease <duration>', 'the cluster\'s scheduler lease: ticks only while holding it; a dead holder\'s is taken over after this long').default(30_000, '30s').argParser(parseLease))
    .addHelpText('after', '\nPrints one JSON line per event (batch_cut, batch_resumed, batch_finished, schedule_armed, fire_skipped, error) on stdout; logs the runs\' events on stderr.\nCtrl-C or SIGTERM stops at the next chunk boundary; the batch is resumed at the next start.\nExit codes: 0 stopped cleanly, 1 a tick failed (with --once), 2 usage or config error.')
    .action(async function (this: Command, files: string[], opts: { once?: boolean; tick: number; lease: number; logLevel: LogLevel }) {
      const pipelines = await Promise.all(files.map((f) => loadPipeline(f)));
      const secrets = pipelines.flatMap((p) => secretValues(p.config));
      // pino and prom-client load only here: every other command would pay for them at start.
      const [{ createLogger }, { Metrics }] = await Promise.all([import('../../observe/log.js'), import('../../observe/metrics.js')]);
      // Metrics have no endpoint here: the observer is for the log.
      const observe = observer(new Metrics(systemClock), createLogger({ level: opts.logLevel, secrets: () => secrets }));
      const controller = new AbortController();
      let failed = false;
      const onEvent = (event: SchedulerEvent) => {
        if (event.type === 'error') failed = true;
        process.stdout.write(`${JSON.stringify({ ...event, at: event.type === 'schedule_armed' || event.type === 'fire_skipped' ? event.at : new Date().toISOString() })}\n`);
      };
      await withStore(this, async (store, g) => {
        const scheduler = new Scheduler({ store, dataDir: g.dataDir, pipelines, tickMs: opts.tick, onEvent, run: { signal: controller.signal, onEvent: observe.run }, lease: { leaseMs: opts.lease } });
        const housekeeper = new Housekeeper({ store, dataDir: g.dataDir, pipelines, onEvent: (event) => process.stdout.write(`${JSON.stringify({ housekeeping: event, at: new Date().toISOString() })}\n`) });
        if (opts.once) {
          await scheduler.tick();
          await housekeeper.tick();
          return;
        }
        const stopped = new Promise<void>((resolve) => {
          const stop = () => {
            controller.abort();
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        scheduler.start();
        housekeeper.start();
        await stopped;
        await scheduler.stop();
        await housekeeper.stop();
      }, { readThread: true });
      process.exitCode = opts.once && failed ? 1 : 0;
    });
}
