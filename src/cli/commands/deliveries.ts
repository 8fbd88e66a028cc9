import { Command, InvalidArgumentError } from 'commander';
import { loadPipeline } from '../../config/load.js';
import { pick } from '../../config/one-of.js';
import { systemClock } from '../../core/clock.js';
import { randomIds } from '../../core/ids.js';
import { registry } from '../../core/registry.js';
import { codes } from '../../errors/codes.js';
import { classify } from '../../errors/classify.js';
import { checkAcknowledgements } from '../../engine/acknowledgement.js';
import { pendingStates, retryDelivery } from '../../engine/deliveries.js';
import { isHeld } from '../../sinks/file/delivery.js';
import { ladingError } from '../../errors/lading-error.js';
import { cliActor, recordAudit } from '../../observe/audit.js';
import type { DeliveryRecord, DeliveryStep } from '../../store/types.js';
import { exitCodes, globals, withStore } from '../context.js';

const steps: readonly DeliveryStep[] = ['sealed', 'rendered', 'uploading', 'published', 'verified', 'acknowledged', 'failed', 'skipped', 'rolled_back'];
const said = { sent: 'delivered', found: 'found at the partner', skipped: 'skipped (delivery.on_rejection)', deferred: 'deferred: circuit breaker open', retry_later: 'refused again, left for later' } as const;

const parseStates = (value: string): DeliveryStep[] => value.split(',').map((state) => {
  if (!(steps as readonly string[]).includes(state)) throw new InvalidArgumentError(`unknown status ${state}; one of ${steps.join(', ')}`);
  return state as DeliveryStep;
});

const json = (d: DeliveryRecord) => ({
  id: d.id, pipeline: d.pipeline, batch_id: d.batchId, part: d.part, run_id: d.runId, destination: d.destination, name: d.name, state: d.state,
  uri: d.uri, bytes: d.bytes, records: d.records, sha256: d.sha256, staged_path: d.stagedPath, temp_name: d.tempName, attempts: d.attempts,
  code: d.code, reason: d.reason, created_at: d.createdAt.toISOString(), updated_at: d.updatedAt.toISOString(),
});

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
        await recordAudit(store, cliActor(), { action: 'deliveries.resume', target: pipeline, pipeline, details: { was_suspended: resumed } }, new Date());
        process.stdout.write(resumed ? `deliveries of ${pipeline} resumed\n` : `deliveries of ${pipeline} were not suspended\n`);
      });
    });
  deliveries.command('list')
    .description('List deliveries (one file of a batch to one destination), newest first, with their state.')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--run <run-id>', 'only deliveries of this run')
    .option('--status <states>', `comma-separated states: ${steps.join(', ')}`, parseStates)
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { pipeline?: string; run?: string; status?: DeliveryStep[]; limit: number; json?: boolean }) {
      await withStore(this, async (store) => {
        const list = await store.listDeliveries({
          ...(opts.pipeline ? { pipeline: opts.pipeline } : {}), ...(opts.run ? { runId: opts.run } : {}), ...(opts.status ? { states: opts.status } : {}), limit: opts.limit,
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(list.map(json))}\n`);
          return;
        }
        if (list.length === 0) process.stdout.write('no deliveries\n');
        for (const d of list) process.stdout.write(`${d.id}  ${d.state.padEnd(11)} ${d.pipeline}  ${d.name}  ${d.bytes ?? '?'} bytes${d.code ? `  ${d.code}: ${d.reason}` : ''}\n`);
      });
    });
  deliveries.command('show')
    .description('Show one delivery: its file, destination, staged copy and every step it took.')
    .argument('<id>', 'delivery id')
    .option('--json', 'print JSON')
    .action(async function (this: Command, id: string, opts: { json?: boolean }) {
      await withStore(this, async (store) => {
        const d = await store.getDelivery(id);
        if (!d) throw ladingError('STORE_DELIVERY_NOT_FOUND', `no delivery with id ${id}`);
        const taken = await store.deliverySteps(id);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...json(d), steps: taken.map((s) => ({ state: s.state, at: s.at.toISOString(), detail: s.detail })) })}\n`);
          return;
        }
        const lines = [
          `delivery ${d.id}: ${d.state}`, `  pipeline     ${d.pipeline} (batch ${d.batchId}, part ${d.part}, run ${d.runId})`,
          `  file         ${d.name}  ${d.bytes ?? '?'} bytes, ${d.records ?? '-'} records, sha256 ${d.sha256 ?? '?'}`,
          `  destination  ${d.uri ?? d.destination}`, `  staged       ${d.stagedPath ?? '(none)'}`, `  attempts     ${d.attempts}`,
          ...(d.code ? [`  last error   ${d.code}: ${d.reason}`] : []), '  steps',
          ...taken.map((s) => `    ${s.at.toISOString()}  ${s.state}${s.detail ? `  (${s.detail})` : ''}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
  deliveries.command('check')
    .description('Poll verified deliveries awaiting partner acknowledgement (delivery.acknowledgment): an ack file or the file gone from the incoming folder acknowledges them; past the timeout, an ack_timeout alert is raised once per file.')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { pipeline?: string; json?: boolean }) {
      await withStore(this, async (store, g) => {
        const results = await checkAcknowledgements(store, { dataDir: g.dataDir, ...(opts.pipeline ? { pipeline: opts.pipeline } : {}) });
        if (opts.json) process.stdout.write(`${JSON.stringify(results)}\n`);
        else if (results.length === 0) process.stdout.write('no delivery awaits acknowledgement\n');
        else {
          for (const r of results) {
            process.stdout.write(r.outcome === 'acknowledged' ? `✔ ${r.delivery_id} ${r.name} acknowledged (${r.how})\n`
              : r.outcome === 'waiting' ? `… ${r.delivery_id} ${r.name} waiting since ${r.verified_at}\n`
                : `✖ ${r.delivery_id} ${r.name} ${r.code}: ${r.message}\n`);
          }
        }
        if (results.some((r) => r.outcome === 'timed_out' || r.outcome === 'failed')) process.exitCode = exitCodes.completed_with_errors;
      });
    });
  deliveries.command('retry')
    .description('Send a delivery again from its staged file, without rendering: the same name and bytes. With --pipeline, every delivery of the pipeline that has not reached the partner.')
    .argument('[id]', 'delivery id')
    .option('--pipeline <name>', 'retry every pending (rendered, uploading or failed) delivery of this pipeline')
    .option('--json', 'print JSON')
    .action(async function (this: Command, id: string | undefined, opts: { pipeline?: string; json?: boolean }) {
      if ((id === undefined) === (opts.pipeline === undefined)) throw new InvalidArgumentError('give a delivery id or --pipeline, not both');
      await withStore(this, async (store, g) => {
        const ids = id ? [id] : (await store.listDeliveries({ pipeline: opts.pipeline!, states: pendingStates, limit: 10_000 })).reverse().map((d) => d.id);
        const results: { id: string; ok: boolean; name?: string; outcome?: string; code?: string; message?: string }[] = [];
        const actor = cliActor();
        for (const each of ids) {
          const audit = (details: Record<string, unknown>) =>
            recordAudit(store, actor, { action: 'delivery.retry', target: each, pipeline: opts.pipeline ?? null, details }, new Date());
          try {
            const sent = await retryDelivery(store, each, { dataDir: g.dataDir });
            const held = isHeld(sent);
            results.push({ id: each, ok: !held || sent.outcome === 'skipped', name: sent.name, outcome: sent.outcome, ...(held ? { code: sent.code, message: sent.message } : {}) });
            await audit({ ok: !held || sent.outcome === 'skipped', outcome: sent.outcome });
          } catch (error) {
            const e = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `retrying delivery ${each}` });
            await audit({ ok: false, code: e.code });
            if (id) throw e;
            results.push({ id: each, ok: false, code: e.code, message: e.message });
          }
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(results)}\n`);
        else if (results.length === 0) process.stdout.write('nothing to retry\n');
        else for (const r of results) process.stdout.write(r.ok ? `✔ ${r.id} ${r.name} ${said[r.outcome as keyof typeof said]}\n` : `✖ ${r.id} ${r.outcome ? `${said[r.outcome as keyof typeof said]} — ` : ""}${r.code}: ${r.message}\n`);
        if (results.some((r) => !r.ok)) process.exitCode = exitCodes.failed;
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
