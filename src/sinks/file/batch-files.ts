// The files that describe a batch's data files: a `.sha256` sidecar after each, the manifest after
// all. A run sends them as its data files go out; when some data file waits (circuit breaker,
// retry_later), `lading deliveries retry` or the backlog release that sends the last of them
// sends them instead, through the same recorded deliveries, so none is sent twice.
import { createHash } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileArtifact } from '../../core/report.js';
import type { DeliveryRecord, DeliveryStep } from '../../store/types.js';
import { deliver, isHeld, stage, type Delivered, type DeliveryContext, type Held } from './delivery.js';
import { renderManifest, type ManifestFormat } from './manifest.js';

export interface TextFile {
  /** The delivery's part key: `1.sha256`, `manifest`, `sample/manifest`. */
  readonly key: string;
  readonly name: string;
  readonly text: string;
}

/** The sha256sum-format sidecar of a delivered data file. */
export const sidecarOf = (key: string, file: { readonly name: string; readonly sha256: string }): TextFile =>
  ({ key: `${key}.sha256`, name: `${file.name}.sha256`, text: `${file.sha256}  ${file.name.split('/').at(-1)}\n` });

/** The manifest's part key; a sample run's deliveries sit under `sample/`. */
export const manifestKey = (sample: boolean): string => (sample ? 'sample/manifest' : 'manifest');

/** A sidecar or manifest goes through the same recorded steps as the data files, staged like them under `dir`. */
export async function deliverText(ctx: DeliveryContext, dir: string, file: TextFile): Promise<Delivered | Held> {
  const path = join(dir, file.key.replace(/[^A-Za-z0-9._-]/g, '_'));
  const bytes = Buffer.from(file.text);
  await writeFile(path, bytes);
  const staged = { path, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), records: null };
  const sent = await deliver(ctx, await stage(ctx, file.key, file.name, staged), staged);
  // A file found settled already was not sent, so its staged copy was not consumed.
  if (!isHeld(sent)) await rm(path, { force: true });
  return sent;
}

const settled: readonly DeliveryStep[] = ['verified', 'acknowledged', 'skipped'];

/** Still to be sent (not skipped): its batch is not complete, and its staged file must outlive the run. */
export const waiting = (held: Held): boolean => held.outcome !== 'skipped';

export interface BatchFilesConfig {
  readonly checksum: 'none' | 'sha256';
  /** Without a manifest: undefined. */
  readonly manifest: ManifestFormat | undefined;
}

/**
 * After a data file of a batch was sent outside its run: once every data file of the batch (to
 * this destination, sample or not like `sent`) is settled, sends the sidecars still missing and the
 * manifest its run sealed under its name. Returns what was held back again (breaker, rejection).
 */
export async function completeBatch(ctx: DeliveryContext, sent: DeliveryRecord, config: BatchFilesConfig, opts: { readonly dir: string; readonly created: Date }): Promise<Held[]> {
  const sample = sent.part.startsWith('sample/');
  const manifest = manifestKey(sample);
  const batch = (await ctx.store.listDeliveries({ pipeline: sent.pipeline, batchId: sent.batchId, limit: 10_000 }))
    .filter((d) => d.destination === sent.destination && d.part.startsWith('sample/') === sample).reverse();
  const data = batch.filter((d) => d.part !== manifest && !d.part.endsWith('.sha256'));
  if (data.some((d) => !settled.includes(d.state))) return [];
  const delivered = data.filter((d) => d.state !== 'skipped');
  const held: Held[] = [];
  await mkdir(opts.dir, { recursive: true });
  if (config.checksum === 'sha256') {
    for (const d of delivered) {
      const outcome = await deliverText(ctx, opts.dir, sidecarOf(d.part, { name: d.name, sha256: d.sha256 ?? '' }));
      if (isHeld(outcome)) held.push(outcome);
    }
  }
  // The run named the manifest when it held it back; a batch rendered before that has none to send.
  const sealed = batch.find((d) => d.part === manifest);
  if (config.manifest !== undefined && sealed !== undefined && delivered.length > 0 && !held.some(waiting)) {
    const text = renderManifest({ pipeline: sent.pipeline, batchId: sent.batchId, runId: sealed.runId, created: opts.created, files: delivered.map(artifact) }, config.manifest);
    const outcome = await deliverText(ctx, opts.dir, { key: manifest, name: sealed.name, text });
    if (isHeld(outcome)) held.push(outcome);
  }
  // Empty once its last staged file went out; a folder still holding files stays.
  await rmdir(opts.dir).catch(() => {});
  return held;
}

/** A data file's report entry, as the manifest lists it, from its delivery. */
function artifact(d: DeliveryRecord): FileArtifact {
  const segments = d.part.replace(/^sample\//, '').split('/');
  return {
    name: d.name, bytes: d.bytes ?? 0, records: d.records ?? 0, sha256: d.sha256 ?? '', uri: d.uri ?? d.name, part: Number(segments.at(-1)) || 1,
    ...(segments.length > 1 ? { partition: segments[0]! } : {}),
  };
}
