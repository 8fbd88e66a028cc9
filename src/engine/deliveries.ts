import { join } from 'node:path';
import { deliveryPolicy } from '../config/delivery.js';
import { parsePipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import { systemClock, type Clock } from '../core/clock.js';
import { randomIds, type IdGenerator } from '../core/ids.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import { classify } from '../errors/classify.js';
import { ladingError } from '../errors/lading-error.js';
import { completeBatch, manifestKey } from '../sinks/file/batch-files.js';
import { deliver, isHeld, stage, type Delivered, type Held } from '../sinks/file/delivery.js';
import type { ManifestFormat } from '../sinks/file/manifest.js';
import type { SinkEvent } from '../sinks/types.js';
import { raiseAlert } from '../notify/dispatch.js';
import { stagingFor, type Staging } from '../staging/staging.js';
import type { Alert, DeliveryRecord, DeliveryStep, Store } from '../store/types.js';

export interface RetryDeliveryOptions {
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly ids?: IdGenerator;
  readonly registry?: Registry;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: SinkEvent) => void;
  /** Default: LADING_STAGING for this store. */
  readonly staging?: Staging;
}

/** The destination a run delivered to, rebuilt from the config stored with the run. */
export async function openDestination(store: Store, runId: string, opts: RetryDeliveryOptions, why: string) {
  const run = await store.getRun(runId);
  if (!run) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${runId} (${why})`);
  const { config } = parsePipeline(run.config, { origin: `run ${run.id}` });
  const output = config.output as {
    type: string; destination?: unknown; on_collision?: 'fail' | 'overwrite' | 'skip_if_identical';
    checksum?: 'none' | 'sha256'; manifest?: boolean | { readonly format: ManifestFormat };
  };
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  if (output.destination === undefined) throw ladingError('USAGE_INVALID', `run ${runId} (${config.name}) has no file destination`);
  const build = { pipeline: config.name, baseDir: run.baseDir ?? process.cwd(), dataDir: opts.dataDir, clock, ids, store };
  const destination = pick((opts.registry ?? builtIns).destinations, output.destination).create(output.destination, build);
  return { run, config, output, destination, clock, ids };
}

/**
 * Sends a delivery again from its staged file, without rendering: the same name and the same
 * bytes (sha256), to the destination of the run that rendered it, through the recorded steps.
 */
export async function retryDelivery(store: Store, id: string, opts: RetryDeliveryOptions): Promise<Delivered | Held> {
  const d = await store.getDelivery(id);
  if (!d) throw ladingError('STORE_DELIVERY_NOT_FOUND', `no delivery with id ${id}`);
  if (d.state === 'verified' || d.state === 'acknowledged' || d.state === 'skipped') throw ladingError('DEST_NOT_RETRYABLE', `delivery ${id} (${d.name}) is ${d.state} already`);
  const staged = d.stagedPath;
  const staging = opts.staging ?? stagingFor(store);
  if (staged === null || d.bytes === null || d.sha256 === null || !(await staging.has(staged))) {
    throw ladingError('DEST_NOT_RETRYABLE', `delivery ${id} (${d.name}) has no staged file left to send`);
  }
  const { run, config, output, destination, clock, ids } = await openDestination(store, d.runId, opts, `the run that rendered delivery ${id}`);
  try {
    const ctx = {
      store, staging, destination, clock, ids, policy: deliveryPolicy(config.delivery), pipeline: d.pipeline, batchId: d.batchId, runId: d.runId,
      onCollision: output.on_collision ?? 'skip_if_identical', signal: opts.signal ?? new AbortController().signal, emit: opts.onEvent ?? (() => {}),
      alert: (alert: Alert) => raiseAlert(config.notify, alert, { store, clock }),
    };
    const file = { path: staged, bytes: d.bytes, sha256: d.sha256, records: d.records };
    const sent = await deliver(ctx, await stage(ctx, d.part, d.name, file), file);
    if (!isHeld(sent) && d.records !== null) {
      await store.recordFile(d.runId, {
        name: sent.name, bytes: sent.bytes, records: d.records, sha256: sent.sha256, uri: sent.uri, part: Number(d.part.split('/').at(-1)) || 1,
        attempts: sent.attempts, duration_ms: sent.durationMs, destination: destination.description, deliveredAt: clock.now(),
      });
    }
    if (!isHeld(sent) && d.part !== manifestKey(d.part.startsWith('sample/'))) {
      // The batch's run held its sidecars and manifest back while this file waited: the last one sent brings them.
      const manifest = output.manifest === undefined || output.manifest === false ? undefined : output.manifest === true ? 'json' : output.manifest.format;
      await completeBatch(ctx, d, { checksum: output.checksum ?? 'none', manifest }, { dir: join(opts.dataDir, 'staging', d.runId), created: run.createdAt });
    }
    return sent;
  } finally {
    await destination.close();
  }
}

/** Deliveries that did not reach the partner: what `retry --pipeline` and a run's backlog send again. */
export const pendingStates: readonly DeliveryStep[] = ['rendered', 'uploading', 'failed'];

/** A pending delivery whose run is over and whose staged file is kept: nobody else is sending it. */
async function inBacklog(store: Store, d: DeliveryRecord, exceptRun: string | undefined): Promise<boolean> {
  if (d.stagedPath === null || d.runId === exceptRun) return false;
  return (await store.getRun(d.runId))?.status !== 'running';
}

/**
 * Sends a pipeline's staged backlog, oldest first: files an open circuit breaker held back and
 * files a partner's refusal left for later (retry_later). While the breaker stays open each is
 * deferred again without contacting the destination. Failures are returned, not thrown: the
 * deliveries stay failed and staged for the next try.
 */
export async function releaseBacklog(store: Store, pipeline: string, opts: RetryDeliveryOptions & { readonly exceptRun?: string }): Promise<{ sent: Delivered[]; held: Held[]; failed: { id: string; error: unknown }[] }> {
  const result = { sent: [] as Delivered[], held: [] as Held[], failed: [] as { id: string; error: unknown }[] };
  const pending = (await store.listDeliveries({ pipeline, states: pendingStates, limit: 10_000 })).reverse();
  for (const d of pending) {
    if (!(await inBacklog(store, d, opts.exceptRun))) continue;
    try {
      const outcome = await retryDelivery(store, d.id, opts);
      if (isHeld(outcome)) result.held.push(outcome);
      else result.sent.push(outcome);
    } catch (error) {
      result.failed.push({ id: d.id, error });
    }
  }
  return result;
}

export interface RollbackResult {
  readonly delivery_id: string;
  readonly name: string;
  readonly uri: string | null;
  /** removed; gone (no longer there when the rollback looked); unsupported (the destination cannot delete); failed. */
  readonly outcome: 'removed' | 'gone' | 'unsupported' | 'failed';
  readonly code?: string;
  readonly message?: string;
}

/**
 * Takes back what a run published, where the destination can delete (a sample sent to the real
 * folder, a wrong batch): the manifest and sidecars first (newest first), so a partner never sees
 * a "complete" marker over missing files. Each removed file is recorded as rolled_back.
 */
export async function rollbackRun(store: Store, runId: string, opts: RetryDeliveryOptions): Promise<RollbackResult[]> {
  if (!(await store.getRun(runId))) throw ladingError('STORE_RUN_NOT_FOUND', `no run with id ${runId}`);
  const published = await store.listDeliveries({ runId, states: ['published', 'verified', 'acknowledged'], limit: 10_000 });
  if (published.length === 0) return [];
  const { destination, clock } = await openDestination(store, runId, opts, 'the run to roll back');
  const results: RollbackResult[] = [];
  try {
    for (const d of published) {
      const base = { delivery_id: d.id, name: d.name, uri: d.uri };
      if (!destination.remove) {
        results.push({ ...base, outcome: 'unsupported', code: 'DEST_REMOVE_UNSUPPORTED', message: `${destination.type} cannot delete files: ask the partner to remove ${d.uri ?? d.name}` });
        continue;
      }
      try {
        const removed = await destination.remove(d.name);
        await store.advanceDelivery(d.id, 'rolled_back', clock.now(), { reason: removed ? `removed by rollback of run ${runId}` : `already gone at rollback of run ${runId}` });
        results.push({ ...base, outcome: removed ? 'removed' : 'gone' });
      } catch (error) {
        const e = classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `removing ${d.uri ?? d.name}` });
        results.push({ ...base, outcome: 'failed', code: e.code, message: e.message });
      }
    }
  } finally {
    await destination.close();
  }
  return results;
}
