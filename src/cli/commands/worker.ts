import { Command, InvalidArgumentError, Option } from 'commander';
import { loadCatalog } from '../../config/catalog.js';
import { duration } from '../../config/units.js';
import { Worker } from '../../engine/worker.js';
import { Scheduler } from '../../triggers/scheduler.js';
import { globals, parsePositiveInt } from '../context.js';
import { openStore } from '../../store/open.js';

export const parseLease = (value: string): number => {
  const parsed = duration().safeParse(value);
  if (!parsed.success || parsed.data < 300) throw new InvalidArgumentError(`--lease must be a duration of at least 300ms, such as 30s, got "${value}"`);
  return parsed.data;
};

export function workerCommand(): Command {
  return new Command('worker')
    .description('Work jobs queued in the store (`lading run --queue`, `lading serve --no-worker`): claim chunk leases, process them, commit them fenced by the lease (docs/scale-out.md). No HTTP.')
    .argument('[configs...]', 'pipeline YAML files or folders: their inbox triggers are watched while this process holds the cluster\'s scheduler lease')
    .addOption(new Option('--concurrency <n>', 'chunks worked at once').default(2).argParser(parsePositiveInt('--concurrency')))
    .addOption(new Option('--lease <duration>', 'how long a claim holds without a heartbeat: a dead worker\'s chunks are taken over after it').default(30_000, '30s').argParser(parseLease))
    .option('--id <name>', 'this worker\'s name in leases and events (default host:pid)')
    .option('--no-scheduler', 'never run the batch scheduler, even for the pipelines given')
    .addHelpText('after', '\nPrints one JSON line per event (chunk_claimed, chunk_committed, lease_lost, job_finished, worker_error, scheduler events) on stderr.\nSIGINT/SIGTERM: stops claiming, finishes the chunks in flight (file-output jobs stop at their next chunk boundary and go back to the queue), gives the scheduler lease back, exits 0.')
    .action(async function (this: Command, configs: string[], opts: { concurrency: number; lease: number; id?: string; scheduler: boolean }) {
      const catalog = configs.length > 0 ? await loadCatalog(configs) : undefined;
      const inboxes = catalog?.list().filter((p) => p.config.source.type === 'inbox') ?? [];
      const g = globals(this);
      const store = await openStore(g.db, { readThread: true });
      const log = (event: object) => process.stderr.write(`${JSON.stringify({ ...event, at: new Date().toISOString() })}\n`);
      const shutdown = new AbortController();
      try {
        const worker = new Worker({ store, dataDir: g.dataDir, concurrency: opts.concurrency, leaseMs: opts.lease, onEvent: log, ...(opts.id === undefined ? {} : { id: opts.id }) });
        const scheduler = opts.scheduler && inboxes.length > 0
          ? new Scheduler({ store, dataDir: g.dataDir, pipelines: inboxes, run: { signal: shutdown.signal }, lease: { leaseMs: opts.lease }, onEvent: (event) => log({ scheduler: event }) })
          : null;
        const stop = () => {
          shutdown.abort();
          worker.stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        scheduler?.start();
        log({ type: 'worker_started', worker: worker.id, concurrency: opts.concurrency, lease_ms: opts.lease, scheduler: scheduler !== null });
        await worker.run();
        await scheduler?.stop();
        log({ type: 'worker_stopped', worker: worker.id });
      } finally {
        await store.close();
      }
    });
}
