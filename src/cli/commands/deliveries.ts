import { Command } from 'commander';
import { loadPipeline } from '../../config/load.js';
import { pick } from '../../config/one-of.js';
import { systemClock } from '../../core/clock.js';
import { randomIds } from '../../core/ids.js';
import { registry } from '../../core/registry.js';
import { codes } from '../../errors/codes.js';
import { classify } from '../../errors/classify.js';
import { exitCodes, globals, withStore } from '../context.js';

export function deliveriesCommand(): Command {
  const deliveries = new Command('deliveries').description('Delivery state of pipelines: suspended after a failure that needs an operator (credentials, permissions, host key), and resumed.');
  deliveries.command('status')
    .description('Show whether deliveries are suspended, why, and the latest alerts.')
    .argument('[pipeline]', 'pipeline name; all pipelines with alerts when omitted')
    .option('--json', 'print JSON')
    .action(async function (this: Command, pipeline: string | undefined, opts: { json?: boolean }) {
      await withStore(this, async (store) => {
        const alerts = await store.listAlerts({ ...(pipeline ? { pipeline } : {}), limit: 20 });
        const names = pipeline ? [pipeline] : [...new Set(alerts.map((a) => a.pipeline))];
        const states = await Promise.all(names.map((name) => store.deliveryState(name)));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ pipelines: states.map((s) => ({ pipeline: s.pipeline, suspended_at: s.suspendedAt?.toISOString() ?? null, code: s.code, reason: s.reason })), alerts: alerts.map((a) => ({ ...a, at: a.at.toISOString() })) })}\n`);
          return;
        }
        if (states.length === 0) process.stdout.write('no pipeline has had its deliveries suspended\n');
        for (const s of states) {
          process.stdout.write(s.suspendedAt
            ? `✖ ${s.pipeline}: deliveries suspended since ${s.suspendedAt.toISOString()} — ${s.code}: ${s.reason}\n  fix: ${s.code && s.code in codes ? codes[s.code as keyof typeof codes].fix : ''}\n`
            : `✔ ${s.pipeline}: delivering\n`);
        }
        for (const a of alerts) process.stdout.write(`  ${a.at.toISOString()}  ${a.kind}  ${a.message}\n`);
      });
    });
  deliveries.command('resume')
    .description('Resume the deliveries of a pipeline after fixing what suspended them; the next run delivers again.')
    .argument('<pipeline>', 'pipeline name')
    .action(async function (this: Command, pipeline: string) {
      await withStore(this, async (store) => {
        const resumed = await store.resumeDeliveries(pipeline);
        if (resumed) await store.recordAlert({ pipeline, runId: null, kind: 'deliveries_resumed', code: null, message: `deliveries of ${pipeline} resumed by an operator`, at: new Date() });
        process.stdout.write(resumed ? `deliveries of ${pipeline} resumed\n` : `deliveries of ${pipeline} were not suspended\n`);
      });
    });
  return deliveries;
}

export function destinationsCommand(): Command {
  const destinations = new Command('destinations').description('Check where a pipeline delivers.');
  destinations.command('test')
    .description('Connect, authenticate, check the folder or bucket is writable with a probe file, remove it; report each step.')
    .argument('<pipeline>', 'pipeline YAML file')
    .option('--json', 'print JSON')
    .action(async function (this: Command, file: string, opts: { json?: boolean }) {
      const loaded = await loadPipeline(file);
      const { config } = loaded;
      const steps: { step: string; ok: boolean; code?: string; message?: string; fix?: string }[] = [];
      await withStore(this, async (store) => {
        const sink = pick(registry.sinks, config.output).create(config.output, {
          pipeline: config.name, baseDir: loaded.baseDir, dataDir: globals(this).dataDir, clock: systemClock, ids: randomIds, store,
        });
        const state = await store.deliveryState(config.name);
        steps.push(state.suspendedAt
          ? { step: 'deliveries not suspended', ok: false, code: 'DEST_SUSPENDED', message: `suspended since ${state.suspendedAt.toISOString()}: ${state.reason}`, fix: codes.DEST_SUSPENDED.fix }
          : { step: 'deliveries not suspended', ok: true });
        try {
          await sink.healthcheck?.(AbortSignal.timeout(60_000));
          steps.push({ step: `${config.output.type} output: keys ready, connected, authenticated, probe file written and removed`, ok: true });
        } catch (error) {
          const e = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: 'testing the destination' });
          steps.push({ step: `${config.output.type} output`, ok: false, code: e.code, message: e.message, fix: codes[e.code].fix });
        }
      });
      if (opts.json) process.stdout.write(`${JSON.stringify({ pipeline: config.name, ok: steps.every((s) => s.ok), steps })}\n`);
      else for (const s of steps) process.stdout.write(s.ok ? `✔ ${s.step}\n` : `✖ ${s.step}: ${s.code}: ${s.message}\n  fix: ${s.fix}\n`);
      process.exitCode = steps.every((s) => s.ok) ? 0 : exitCodes.failed;
    });
  return destinations;
}
