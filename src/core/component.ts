import type { z } from 'zod';
import type { Clock } from './clock.js';
import type { IdGenerator } from './ids.js';
import type { Source } from '../sources/types.js';
import type { FormatEncoder, EncoderContext } from '../formats/types.js';
import type { Codec } from '../codecs/types.js';
import type { Destination } from '../destinations/types.js';
import type { RecordSink } from '../sinks/types.js';
import type { Alert, Store } from '../store/types.js';
import type { DeliveryPolicy } from '../config/delivery.js';

/** What a component may use when it is built: nothing is opened until the run starts. */
export interface BuildContext {
  readonly pipeline: string;
  /** Directory relative paths in the config resolve against (the pipeline file's folder). */
  readonly baseDir: string;
  /** lading's working directory: staging files live here. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly store: Store;
  /** Standard input, for `source.path: "-"`. */
  readonly stdin?: NodeJS.ReadableStream;
  /** A resumed run's inbox batch: the inbox source reads exactly it again. */
  readonly batchId?: string;
  /** How files are delivered (pipeline `delivery:`): retries, rejection rules, circuit breaker. */
  readonly delivery?: DeliveryPolicy;
  /** Records an alert (breaker opened or closed) and tells the pipeline's notify channels; without it the alert is only recorded. */
  readonly alert?: (alert: Alert) => Promise<void>;
  /** A dry run: sources must not change anything (the inbox reads pending records without cutting a batch). */
  readonly dryRun?: boolean;
}

interface Definition<S extends z.ZodType> {
  /** The `type:` value in config. */
  readonly type: string;
  /** One line for the generated docs. */
  readonly summary: string;
  readonly schema: S;
}

export interface SourceDef<S extends z.ZodType = z.ZodType> extends Definition<S> {
  create(config: z.output<S>, ctx: BuildContext): Source;
}
export interface FormatDef<S extends z.ZodType = z.ZodType> extends Definition<S> {
  readonly extension: string;
  readonly mediaType: string;
  /** Checks the config beyond what the schema can say; throws ConfigError. */
  encoder(config: z.output<S>, ctx: EncoderContext): FormatEncoder;
  /**
   * Where a worker thread imports this definition (module URL, export name). Declared only by
   * formats whose encode() of a record, once the columns are known, depends on nothing but that
   * record (a separator between records is given as FormatEncoder.separatorBytes): then records
   * can be encoded ahead, in parallel (engine/parallel.ts).
   */
  readonly thread?: { readonly module: string; readonly name: string };
}
export interface CodecDef<S extends z.ZodType = z.ZodType> extends Definition<S> {
  /** Which output slot takes it: `output.compression` or `output.encryption` (applied after compression). */
  readonly role: 'compression' | 'encryption';
  create(config: z.output<S>, ctx: BuildContext): Codec;
}
export interface DestinationDef<S extends z.ZodType = z.ZodType> extends Definition<S> {
  create(config: z.output<S>, ctx: BuildContext): Destination;
}
export interface SinkDef<S extends z.ZodType = z.ZodType> extends Definition<S> {
  create(config: z.output<S>, ctx: BuildContext): RecordSink;
}

// The define* helpers exist for inference: the config type flows from the schema into create().
export const defineSource = <S extends z.ZodType>(def: SourceDef<S>): SourceDef<S> => def;
export const defineFormat = <S extends z.ZodType>(def: FormatDef<S>): FormatDef<S> => def;
export const defineCodec = <S extends z.ZodType>(def: CodecDef<S>): CodecDef<S> => def;
export const defineDestination = <S extends z.ZodType>(def: DestinationDef<S>): DestinationDef<S> => def;
export const defineSink = <S extends z.ZodType>(def: SinkDef<S>): SinkDef<S> => def;
