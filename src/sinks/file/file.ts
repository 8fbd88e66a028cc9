import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { BuildContext, CodecDef, DestinationDef, FormatDef } from '../../core/component.js';
import { defineSink } from '../../core/component.js';
import { itemRef, type Chunk, type Row } from '../../core/item.js';
import type { FileArtifact } from '../../core/report.js';
import { oneOf, pick } from '../../config/one-of.js';
import { byteSize } from '../../config/units.js';
import type { Codec } from '../../codecs/types.js';
import { ladingError, LadingError } from '../../errors/lading-error.js';
import type { FormatEncoder } from '../../formats/types.js';
import type { Destination } from '../../destinations/types.js';
import type { HeldDelivery, RecordSink, RunContext, SinkSummary } from '../types.js';
import { stagingFor } from '../../staging/staging.js';
import { deliver, isHeld, stage, type DeliveryContext } from './delivery.js';
import { deliverText, manifestKey, sidecarOf, waiting, type TextFile } from './batch-files.js';
import { renderManifest } from './manifest.js';
import { checkPattern, renderName, safeSegment, usesToken, type NameValues } from './naming.js';
import { PartWriter, type StagedPart } from './part.js';

export interface FileSinkParts {
  readonly formats: readonly FormatDef[];
  readonly codecs: readonly CodecDef[];
  readonly destinations: readonly DestinationDef[];
}

const defaultNaming = '{pipeline}_{date}_{time}_{batch_id}.{ext}';
const defaultSplitNaming = '{pipeline}_{date}_{time}_{batch_id}_{part:3}.{ext}';
const defaultManifestNaming = '{pipeline}_{date}_{time}_{batch_id}.manifest.json';

const namingPattern = (what: string) => z.string().min(1).superRefine((pattern, ctx) => {
  const problem = checkPattern(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: `${what} "${pattern}" ${problem}`, params: { code: 'CONFIG_UNSAFE_PATH' } });
});

/** The file sink's schema is composed from the registered formats, codecs and destinations. */
export function fileSinkConfig(parts: FileSinkParts) {
  return z.object({
    type: z.literal('file'),
    format: oneOf('format', parts.formats).describe('File encoding: a type name (`csv`) or an object with its options.'),
    compression: oneOf('codec', parts.codecs.filter((c) => c.role === 'compression'), { none: true })
      .describe('Compression after the format: `none`, `gzip`, or `{type: gzip, level: 9}`.'),
    encryption: oneOf('codec', parts.codecs.filter((c) => c.role === 'encryption'), { none: true })
      .describe('Encryption after compression: `none` or `{type: pgp, …}`.'),
    naming: namingPattern('output.naming').optional()
      .describe(`File name pattern. Default ${defaultNaming} (with _{part:3} before the extension when split is set).`),
    timezone: z.string().default('UTC').refine((zone) => Intl.supportedValuesOf('timeZone').includes(zone) || zone === 'UTC', { message: 'unknown IANA timezone' })
      .describe('Timezone the date and time tokens of names render in.'),
    split: z.object({
      max_records: z.number().int().positive().optional().describe('Start a new file after this many records.'),
      max_bytes: byteSize().optional().describe('Start a new file before this size is exceeded, measured as delivered (after compression).'),
    }).strict().optional().describe('Split the output into parts; names must then contain {part}.'),
    checksum: z.enum(['none', 'sha256']).default('none').describe('Write a `<name>.sha256` sidecar (sha256sum format) after each file.'),
    manifest: z.union([z.boolean(), z.object({
      naming: namingPattern('output.manifest.naming').default(defaultManifestNaming).describe('Name of the manifest or control file.'),
      format: z.enum(['json', 'csv', 'text']).default('json').describe('json: the full manifest; csv or text: a control/trailer file, one line per file (name, records, sha256) and a total line.'),
    }).strict()]).default(false)
      .describe(`Write a manifest (name, bytes, records, sha256 per file) after all files; its presence means the batch is complete. Default name ${defaultManifestNaming}.`),
    partition: z.object({
      field: z.string().min(1).describe('Output field whose value splits the records into separate file sets (one set of parts per value).'),
      missing: z.string().regex(/^[A-Za-z0-9._-]+$/).default('unknown').describe('Partition name for records without a value.'),
      max_partitions: z.number().int().min(1).max(10_000).default(1000).describe('Most distinct values (each open partition holds a file open); records of a further value fail with FORMAT_TOO_MANY_PARTITIONS.'),
    }).strict().optional().describe('Render one file set per value of a field; the naming pattern must then contain {partition}.'),
    on_collision: z.enum(['fail', 'overwrite', 'skip_if_identical']).default('skip_if_identical')
      .describe('A file of the same name exists: fail, overwrite, or skip when its bytes are identical (safe re-delivery).'),
    send_on_empty: z.boolean().default(false).describe('Deliver a header-only (or empty-envelope) file when the run has no records.'),
    destination: oneOf('destination', parts.destinations).describe('Where the files land.'),
  }).strict().superRefine((output, ctx) => {
    if (output.split && output.naming !== undefined && !usesToken(output.naming, 'part')) {
      ctx.addIssue({ code: 'custom', path: ['naming'], message: 'must contain {part} when split is set, or parts would overwrite each other' });
    }
    if (output.partition && !usesToken(output.naming ?? '', 'partition')) {
      ctx.addIssue({ code: 'custom', path: ['naming'], message: 'must contain {partition} when partition is set, or partitions would overwrite each other' });
    }
  }).meta({ id: 'sink.file' });
}

export function fileSink(parts: FileSinkParts) {
  return defineSink({
    type: 'file',
    summary: 'Renders records into files (format → compression → split → name) and delivers them atomically to a destination.',
    schema: fileSinkConfig(parts),
    create: (config, ctx) => {
      const format = pick(parts.formats, config.format);
      const codecs = [config.compression, config.encryption].filter((c) => c !== undefined)
        .map((codec) => pick(parts.codecs, codec).create(codec, ctx));
      return new FileSink({
        config,
        format: { def: format, config: config.format },
        codecs,
        destination: pick(parts.destinations, config.destination).create(config.destination, ctx),
        build: ctx,
      });
    },
  });
}

export type FileSinkConfig = z.output<ReturnType<typeof fileSinkConfig>>;

interface FileSinkDeps {
  readonly config: FileSinkConfig;
  readonly format: { readonly def: FormatDef; readonly config: unknown };
  readonly codecs: readonly Codec[];
  readonly destination: Destination;
  readonly build: BuildContext;
}

/** One partition's files: the part being rendered and the parts already staged. Without partitions there is one set. */
interface FileSet {
  readonly partition: string | undefined;
  readonly index: number;
  part: PartWriter | undefined;
  encoder: FormatEncoder | undefined;
  beginBytes: number;
  readonly staged: StagedPart[];
}

/** A record's bytes as they go into a part holding `records` records: a file's first goes without the separator it carries. */
function inPart(set: FileSet, records: number, bytes: Uint8Array): Uint8Array {
  const separator = set.encoder!.separatorBytes;
  return records === 0 && separator !== undefined ? bytes.subarray(separator) : bytes;
}

export class FileSink implements RecordSink {
  readonly type = 'file';
  readonly ordering = 'ordered';
  readonly deliversFiles = true;
  private run: RunContext | undefined;
  private staging = '';
  private readonly sets = new Map<string, FileSet>();
  private sample: Row | undefined;
  private readonly maxBytes: number | undefined;
  private readonly maxRecords: number | undefined;
  private readonly ext: string;

  constructor(private readonly deps: FileSinkDeps) {
    this.maxBytes = deps.config.split?.max_bytes;
    this.maxRecords = deps.config.split?.max_records;
    this.ext = [deps.format.def.extension, ...deps.codecs.map((c) => c.extension)].join('.');
  }

  async healthcheck(signal: AbortSignal): Promise<void> {
    for (const codec of this.deps.codecs) await codec.prepare?.(signal);
    await this.deps.destination.healthcheck(signal);
  }

  async open(ctx: RunContext): Promise<void> {
    this.run = ctx;
    this.staging = join(this.deps.build.dataDir, 'staging', ctx.runId);
    await rm(this.staging, { recursive: true, force: true });
    await mkdir(this.staging, { recursive: true });
    await this.healthcheck(ctx.signal);
  }

  async write(chunk: Chunk): Promise<{ failures: ReadonlyMap<string, LadingError> }> {
    const failures = new Map<string, LadingError>();
    for (const item of chunk.items) {
      const ref = itemRef(item);
      try {
        const set = this.setFor(item.data, ref, item.id);
        if (set.part && this.maxRecords !== undefined && set.part.records >= this.maxRecords) await this.rotate(set);
        // A record a worker thread prepared comes encoded, without its data (engine/parallel.ts).
        const encoded = item.prepared?.encoded;
        const sample = encoded === undefined ? item.data : undefined;
        const part = set.part ?? (await this.openPart(set, sample));
        const record = encoded ?? set.encoder!.encode(item.data, ref);
        const bytes = inPart(set, part.records, record);
        if (this.maxBytes !== undefined && !(await this.fits(set, part, bytes.byteLength))) {
          const alone = set.beginBytes + inPart(set, 0, record).byteLength + set.encoder!.end(1).byteLength;
          if (part.records === 0 || part.boundAlone(alone) > this.maxBytes) throw this.tooLarge(ref.describe, item.id, bytes.byteLength);
          await this.rotate(set);
          const fresh = await this.openPart(set, sample);
          const again = inPart(set, 0, encoded ?? set.encoder!.encode(item.data, ref));
          if (!(await this.fits(set, fresh, again.byteLength))) throw this.tooLarge(ref.describe, item.id, again.byteLength);
          await this.append(fresh, again);
        } else {
          const pushed = this.append(part, bytes);
          if (pushed) await pushed;
        }
      } catch (error) {
        if (!(error instanceof LadingError) || error.stage !== 'format') throw error;
        failures.set(item.id, error);
      }
    }
    return { failures };
  }

  async close(ctx: RunContext, outcome: 'completed' | 'aborted'): Promise<SinkSummary> {
    // The staged files of undelivered parts stay until `lading deliveries retry` or a later run sends them.
    let keepStaged = false;
    try {
      if (outcome === 'aborted') {
        for (const set of this.sets.values()) await set.part?.abort();
        return { files: [], destination: this.deps.destination.description };
      }
      for (const set of this.sets.values()) if (set.part) await this.rotate(set);
      if (this.sets.size === 0 && this.deps.config.send_on_empty && this.deps.config.partition === undefined) {
        const set = this.setFor({}, { describe: '' }, '');
        await this.openPart(set);
        await this.rotate(set);
      }
      try {
        const { files, held } = await this.deliver(ctx);
        keepStaged = held.some(waiting);
        return { files, destination: this.deps.destination.description, ...(held.length > 0 ? { held } : {}) };
      } catch (error) {
        keepStaged = true;
        throw error;
      }
    } finally {
      this.sets.clear();
      if (!keepStaged) await rm(this.staging, { recursive: true, force: true });
      await this.deps.destination.close();
    }
  }

  /** The file set a record goes to: its partition's, or the only one. */
  private setFor(record: Row, ref: { readonly describe: string }, itemId: string): FileSet {
    const partition = this.deps.config.partition;
    let key = '';
    if (partition) {
      const value = record[partition.field];
      key = value === undefined || value === null || value === '' ? partition.missing : safeSegment(String(value));
    }
    let set = this.sets.get(key);
    if (!set) {
      if (partition && this.sets.size >= partition.max_partitions) {
        throw ladingError('FORMAT_TOO_MANY_PARTITIONS', `${ref.describe}: a new value of ${partition.field} would open partition ${this.sets.size + 1}, over output.partition.max_partitions (${partition.max_partitions})`, { itemId, field: partition.field });
      }
      set = { partition: partition ? key : undefined, index: this.sets.size + 1, part: undefined, encoder: undefined, beginBytes: 0, staged: [] };
      this.sets.set(key, set);
    }
    return set;
  }

  private append(part: PartWriter, bytes: Uint8Array): Promise<void> | undefined {
    const pushed = part.write(bytes);
    part.records++;
    return pushed;
  }

  /**
   * Whether `extra` bytes fit the part under max_bytes. The bound is conservative; when it says
   * no while some output is still inside the codecs, flushing makes it exact and asks again.
   */
  private async fits(set: FileSet, part: PartWriter, extra: number): Promise<boolean> {
    const reserve = set.encoder!.end(part.records + 1).byteLength;
    if (part.bound(extra + reserve) <= this.maxBytes!) return true;
    if (!part.uncertain) return false;
    await part.flush();
    return part.bound(extra + reserve) <= this.maxBytes!;
  }

  private tooLarge(describe: string, itemId: string, bytes: number): LadingError {
    return ladingError('FORMAT_RECORD_TOO_LARGE', `${describe}: the record needs ${bytes} bytes, more than output.split.max_bytes (${this.maxBytes}) allows in a file`, { itemId });
  }

  private async openPart(set: FileSet, sample?: Row): Promise<PartWriter> {
    const run = this.run!;
    this.sample ??= sample;
    const number = set.staged.length + 1;
    set.encoder = this.deps.format.def.encoder(this.deps.format.config, {
      pipeline: run.pipeline, runId: run.runId, batchId: run.batchId, createdAt: run.createdAt,
      ...(run.columns ? { columns: run.columns } : {}),
      ...(this.sample ? { sample: this.sample } : {}),
    });
    set.part = new PartWriter(number, join(this.staging, `set-${set.index}-part-${number}`), this.deps.codecs.map((c) => c.create()));
    const begin = set.encoder.begin();
    set.beginBytes = begin.byteLength;
    if (begin.byteLength > 0) await set.part.write(begin);
    return set.part;
  }

  private async rotate(set: FileSet): Promise<void> {
    const part = set.part!;
    set.part = undefined;
    const staged = await part.finish(set.encoder!.end(part.records));
    set.staged.push(staged);
    const label = set.partition === undefined ? `part ${staged.number}` : `${set.partition} part ${staged.number}`;
    this.run!.emit({ type: 'file_rendered', name: label, bytes: staged.bytes, records: staged.records, encoded_bytes: staged.encodedBytes });
  }

  /** A sample run's files land under sample/, never where the partner picks up real deliveries. */
  private prefix(name: string): string {
    return this.run!.mode === 'sample' ? `sample/${name}` : name;
  }

  private names(partition = ''): NameValues {
    const run = this.run!;
    return { pipeline: run.pipeline, batchId: run.batchId, runId: run.runId, createdAt: run.createdAt, timezone: this.deps.config.timezone, part: 1, records: 0, ext: this.ext, partition };
  }

  /**
   * Data files first (partition by partition, in order of first appearance), each followed by its
   * sidecar; the manifest last, so its presence means "complete": it is not written while a data
   * file waits (breaker open, retry_later). Every data part is recorded as rendered before the
   * first is sent, so a failure leaves each unsent part listed with its staged file.
   */
  private async deliver(ctx: RunContext): Promise<{ files: FileArtifact[]; held: HeldDelivery[] }> {
    const { config, build } = this.deps;
    const dctx: DeliveryContext = {
      store: build.store, staging: stagingFor(build.store), destination: this.deps.destination, clock: build.clock, ids: build.ids, policy: build.delivery,
      pipeline: ctx.pipeline, batchId: ctx.batchId, runId: ctx.runId, onCollision: config.on_collision, signal: ctx.signal, emit: ctx.emit,
      alert: build.alert ?? ((alert) => build.store.recordAlert(alert)),
    };
    const pattern = config.naming ?? (config.split ? defaultSplitNaming : defaultNaming);
    const parts = [];
    for (const set of this.sets.values()) {
      for (const staged of set.staged) {
        // Sample files are deliveries of their own: a full run of the same batch must not take them for its own.
        const key = this.prefix(set.partition === undefined ? String(staged.number) : `${set.partition}/${staged.number}`);
        const name = this.prefix(renderName(pattern, { ...this.names(set.partition), part: staged.number, records: staged.records }));
        parts.push({ key, set, staged, delivery: await stage(dctx, key, name, staged) });
      }
    }
    const files: FileArtifact[] = [];
    const held: HeldDelivery[] = [];
    for (const { key, set, staged, delivery } of parts) {
      const sent = await deliver(dctx, delivery, staged);
      if (isHeld(sent)) {
        held.push(sent);
        continue;
      }
      const file: FileArtifact = {
        name: sent.name, bytes: sent.bytes, records: staged.records, sha256: sent.sha256, uri: sent.uri, part: staged.number,
        ...(set.partition === undefined ? {} : { partition: set.partition }), attempts: sent.attempts, duration_ms: sent.durationMs,
      };
      files.push(file);
      if (config.checksum === 'sha256') await this.deliverText(dctx, sidecarOf(key, sent), held);
      ctx.emit({ type: 'file_delivered', file });
    }
    if (config.manifest !== false) {
      const manifest = config.manifest === true ? { naming: defaultManifestNaming, format: 'json' as const } : config.manifest;
      const key = manifestKey(this.run!.mode === 'sample');
      const name = this.prefix(renderName(manifest.naming, this.names()));
      if (held.some(waiting)) {
        // Named now (the name needs this run's values), sent by whoever delivers the last waiting file (completeBatch).
        await dctx.store.openDelivery({ id: dctx.ids.next('dlv'), pipeline: ctx.pipeline, batchId: ctx.batchId, part: key, destination: this.deps.destination.description, runId: ctx.runId, name, at: dctx.clock.now() });
      } else if (files.length > 0) {
        const text = renderManifest({ pipeline: ctx.pipeline, batchId: ctx.batchId, runId: ctx.runId, created: ctx.createdAt, files }, manifest.format);
        await this.deliverText(dctx, { key, name, text }, held);
      }
    }
    return { files, held };
  }

  private async deliverText(dctx: DeliveryContext, file: TextFile, held: HeldDelivery[]): Promise<void> {
    const sent = await deliverText(dctx, this.staging, file);
    if (isHeld(sent)) held.push(sent);
  }
}
