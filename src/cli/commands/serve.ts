import { Command, InvalidArgumentError, Option } from 'commander';
import { loadCatalog } from '../../config/catalog.js';
import { secretValues } from '../../config/load.js';
import { byteSize, duration } from '../../config/units.js';
import { systemClock } from '../../core/clock.js';
import { logLevels, type LogLevel } from '../../observe/levels.js';
import { observer } from '../../observe/observer.js';
import { openStore } from '../../store/open.js';
import { Housekeeper } from '../../reports/housekeeping.js';
import { Worker } from '../../engine/worker.js';
import { Scheduler } from '../../triggers/scheduler.js';
import { parseLease } from './worker.js';
import { globals, parsePositiveInt } from '../context.js';

const parsePort = (value: string): number => {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`--port must be 0-65535, got "${value}"`);
  return port;
};

const parseSize = (value: string): number => {
  const parsed = byteSize().safeParse(/^\d+$/.test(value) ? Number(value) : value);
  if (!parsed.success) throw new InvalidArgumentError(`--body-limit must be a size such as 10MB or 1048576, got "${value}"`);
  return parsed.data;
};

const week = 7 * 86_400_000;

/** A key revoked by `lading keys revoke` is refused at most this long afterwards (docs/serve.md). */
const apiKeyCacheMs = 30_000;
// S3 and GCS both refuse signed links valid for longer than a week.
const parseUrlTtl = (value: string): number => {
  const parsed = duration().safeParse(value);
  if (!parsed.success || parsed.data < 1000 || parsed.data > week) throw new InvalidArgumentError(`--artifact-url-ttl must be a duration from 1s to 7d, such as 15m, got "${value}"`);
  return parsed.data;
};

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve the HTTP API: ingest records into pipeline inboxes, submit and watch jobs (docs/serve.md). Keys come from `lading keys create`.')
    .argument('[configs...]', 'pipeline YAML files, or folders holding them (every *.yaml / *.yml inside)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <port>', 'port to listen on; 0 picks a free one (the bound URL is printed)').default(8080).argParser(parsePort))
    .addOption(new Option('--body-limit <size>', 'largest request body (413 above it)').default(10_000_000, '10MB').argParser(parseSize))
    .addOption(new Option('--jobs <n>', 'jobs run at once in this process').default(2).argParser(parsePositiveInt('--jobs')))
    .addOption(new Option('--log-level <level>', 'least severe log lines written (JSON on stderr)').choices(logLevels).default('info'))
    .addOption(new Option('--metrics-access <access>', 'who may scrape /metrics: open (like /healthz), or key (any API key with jobs:read)').choices(['open', 'key']).default('open'))
    .addOption(new Option('--artifact-url-ttl <duration>', 'how long the signed link to an artifact in S3 or GCS stays valid (GET /v1/jobs/{id}/artifacts/{name})').default(15 * 60_000, '15m').argParser(parseUrlTtl))
    .option('--no-scheduler', 'do not watch batch triggers: inbox pipelines are cut only by POST /v1/pipelines/{name}/flush or `lading flush`')
    .option('--no-worker', 'API only: POST /v1/jobs queues full jobs in the store for `lading worker` processes, and this process works no queued chunks (docs/scale-out.md)')
    .addOption(new Option('--lease <duration>', 'chunk and scheduler lease: how long a claim holds without a heartbeat').default(30_000, '30s').argParser(parseLease))
    .addHelpText('after', '\nPrints "listening on <url>" on stdout once ready; logs JSON lines (requests, runs, batches, worker events; secrets redacted) on stderr.\nSIGINT/SIGTERM: stops accepting, lets requests finish, stops running jobs at their next chunk boundary (continue them with `lading run --resume <id>`), closes the store.')
    .action(async function (this: Command, configs: string[], opts: { host: string; port: number; bodyLimit: number; jobs: number; scheduler: boolean; worker: boolean; lease: number; logLevel: LogLevel; metricsAccess: 'open' | 'key'; artifactUrlTtl: number }) {
      // Fastify, pino and prom-client load only here: every other command would pay for them at start.
      const [{ buildServer }, { Metrics }, { createLogger }] = await Promise.all([import('../../api/server.js'), import('../../observe/metrics.js'), import('../../observe/log.js')]);
      const catalog = await loadCatalog(configs);
      const secrets = catalog.list().flatMap((p) => secretValues(p.config));
      const observe = observer(new Metrics(systemClock), createLogger({ level: opts.logLevel, secrets: () => secrets }));
      const g = globals(this);
      const store = await openStore(g.db, { ingestThread: true, readThread: true });
      const inboxes = catalog.list().filter((p) => p.config.source.type === 'inbox');
      // Aborted at shutdown: a batch run in flight stops at its next chunk boundary; the next start resumes that batch.
      const shutdown = new AbortController();
      const scheduler = opts.scheduler && inboxes.length > 0
        ? new Scheduler({ store, dataDir: g.dataDir, pipelines: inboxes, run: { signal: shutdown.signal, onEvent: observe.run }, lease: { leaseMs: opts.lease }, onEvent: observe.scheduler })
        : null;
      // Retention and the daily report mail, for every served pipeline that declares them.
      const housekeeper = new Housekeeper({
        store, dataDir: g.dataDir, pipelines: catalog.list(), onEvent: (event) => process.stderr.write(`${JSON.stringify({ housekeeping: event })}\n`),
      });
      try {
        const server = await buildServer({
          store, catalog, dataDir: g.dataDir, bodyLimit: opts.bodyLimit, jobConcurrency: opts.jobs, queueJobs: !opts.worker, apiKeyCacheMs,
          observer: observe, metricsAccess: opts.metricsAccess, artifactUrlTtlMs: opts.artifactUrlTtl,
          ...(scheduler === null ? {} : {
            triggers: { nextTrigger: (p) => scheduler.nextTrigger(p.config.name), flush: (p) => scheduler.flush(p.config.name), leader: () => scheduler.leader },
          }),
        });
        const stopped = new Promise<string>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
        });
        const url = await server.listen(opts.host, opts.port);
        scheduler?.start();
        housekeeper.start();
        // Besides its own jobs, the server works chunks queued by others (`lading run --queue`, a --no-worker server).
        const worker = opts.worker
          ? new Worker({ store, dataDir: g.dataDir, concurrency: opts.jobs, leaseMs: opts.lease, onEvent: (event) => observe.logger.info({ worker: event }, `worker: ${event.type}`) })
          : null;
        const working = worker?.run();
        process.stdout.write(`listening on ${url} (${catalog.list().length} pipelines${scheduler ? `, triggers watched for ${inboxes.length}` : ''}; API docs at ${url}/docs)\n`);
        const signal = await stopped;
        observe.logger.info({ signal }, `${signal}: shutting down`);
        shutdown.abort();
        worker?.stop();
        await server.close();
        await working;
        await scheduler?.stop();
        await housekeeper.stop();
      } finally {
        await store.close();
      }
    });
}
