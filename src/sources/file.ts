import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { defineSource, type BuildContext } from '../core/component.js';
import type { Item } from '../core/item.js';
import { ConfigError, ladingError } from '../errors/lading-error.js';
import { readCsvBatches, type CsvDialect } from './file/csv.js';
import { readJsonBatches } from './file/json.js';
import { readNdjsonBatches } from './file/ndjson.js';
import { itemsOf, openInput, statInput, type ByteCounter, type InputTarget, type ReaderOptions } from './file/open.js';
import type { Cursor, Source, SourceInfo, SourceProgress } from './types.js';

const oneChar = (what: string) =>
  z.string().length(1, `${what} must be exactly one character`)
    .refine((c) => c !== '\r' && c !== '\n', `${what} cannot be a line break`)
    .refine((c) => c.charCodeAt(0) < 0x80, `${what} must be an ASCII character`);

const csvDialect = z.object({
  delimiter: z.string().min(1, 'delimiter cannot be empty')
    .refine((d) => !d.includes('\r') && !d.includes('\n'), 'delimiter cannot contain a line break')
    .default(',').describe('Text between fields, e.g. "," ";" "\\t" or "||".'),
  quote: oneChar('quote').default('"').describe('ASCII character enclosing a field that holds the delimiter, a quote or a line break.'),
  escape: oneChar('escape').default('"').describe('ASCII character before a quote inside a quoted field; when equal to quote, quotes are doubled as in RFC 4180.'),
}).strict().superRefine((csv, ctx) => {
  if (csv.delimiter.includes(csv.quote)) ctx.addIssue({ code: 'custom', path: ['quote'], message: 'quote must not appear in the delimiter' });
  if (csv.delimiter.includes(csv.escape)) ctx.addIssue({ code: 'custom', path: ['escape'], message: 'escape must not appear in the delimiter' });
});

export const fileSourceConfig = z.object({
  type: z.literal('file').describe('Records from an NDJSON, CSV or JSON file, optionally gzip-compressed.'),
  path: z.string().min(1).describe('File to read; relative paths resolve against the pipeline file\'s folder. "-" reads standard input. Gzip is detected from the content, whatever the name.'),
  format: z.enum(['ndjson', 'csv', 'json']).optional()
    .describe('Input format. Default: from the extension after removing .gz (.ndjson and .jsonl: ndjson, .csv: csv, .json: json); required for standard input. NDJSON reports a malformed line as a failed item and reads on; a JSON file is one document, so a syntax error stops the run.'),
  csv: csvDialect.optional().describe('CSV dialect (format csv only). The first row names the columns, values stay strings, and a UTF-8 byte order mark is removed.'),
  encoding: z.literal('utf-8').default('utf-8').describe('Text encoding of the input. Invalid bytes fail only the record they are in (NDJSON, CSV).'),
}).strict().meta({ id: 'source.file' });

export type FileSourceConfig = z.output<typeof fileSourceConfig>;
export type FileFormat = NonNullable<FileSourceConfig['format']>;

export const fileSource = defineSource({
  type: 'file',
  summary: 'Records from an NDJSON, CSV or JSON array file (or standard input), gzip detected by content; malformed records fail one by one.',
  schema: fileSourceConfig,
  create: (config, ctx) => new FileSource(config, ctx),
});

/**
 * The format for `path` when the config names none: the extension after stripping `.gz`.
 * Throws ConfigError (source.format) for standard input or an unknown extension.
 */
export function inferFormat(path: string): FileFormat {
  if (path === '-') throw formatError('source.format is required when source.path is "-" (standard input): set ndjson, csv or json');
  const name = basename(path).toLowerCase().replace(/\.gz$/, '');
  const extension = name.slice(name.lastIndexOf('.') + 1);
  if (name.includes('.')) {
    if (extension === 'ndjson' || extension === 'jsonl') return 'ndjson';
    if (extension === 'csv') return 'csv';
    if (extension === 'json') return 'json';
  }
  throw formatError(`source.format: cannot tell the format of "${basename(path)}" from its extension; set format: ndjson, csv or json`);
}

function formatError(message: string): ConfigError {
  return new ConfigError('CONFIG_INVALID', message, {
    field: 'source.format',
    issues: [{ code: 'CONFIG_INVALID', path: 'source.format', message }],
  });
}

export class FileSource implements Source {
  readonly type = 'file';
  readonly description: string;
  private readonly format: FileFormat;
  readonly readNdjsonWith: Source['readNdjsonWith'];
  private readonly target: InputTarget | undefined;
  private readonly file: string;
  private readonly dialect: CsvDialect;
  private readonly counter: ByteCounter = { bytesRead: 0 };
  private opened = false;
  private size: number | undefined;
  private readonly reading = new Set<AbortController>();
  private stdinTaken = false;

  constructor(config: FileSourceConfig, private readonly ctx: BuildContext) {
    this.format = config.format ?? inferFormat(config.path);
    this.readNdjsonWith = this.format === 'ndjson' ? (reader, signal) => this.parse(0, signal, reader) : undefined;
    if (config.csv !== undefined && this.format !== 'csv') {
      const message = `source.csv applies only to format csv (this source reads ${this.format})`;
      throw new ConfigError('CONFIG_INVALID', message, { field: 'source.csv', issues: [{ code: 'CONFIG_INVALID', path: 'source.csv', message }] });
    }
    this.dialect = config.csv ?? csvDialect.parse({});
    if (config.path === '-') {
      this.description = 'stdin';
      this.file = 'stdin';
      this.target = undefined; // resolved at read time: ctx.stdin, else process.stdin
    } else {
      const path = resolve(ctx.baseDir, config.path);
      this.description = config.path;
      this.file = basename(path);
      this.target = { kind: 'file', path };
    }
  }

  async open(signal: AbortSignal): Promise<SourceInfo> {
    signal.throwIfAborted();
    if (this.target?.kind === 'file') this.size = await statInput(this.target.path);
    this.opened = true;
    return {};
  }

  async healthcheck(signal: AbortSignal): Promise<void> {
    await this.open(signal);
  }

  read(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item> {
    return this.parse(after?.seq ?? 0, signal, (bytes, options) => itemsOf(this.batches(bytes, options), options.signal));
  }

  /** Items many at a time, as each piece of the input completes them. */
  readBatches(after: Cursor | null, signal: AbortSignal, keep?: { readonly keepText?: boolean }): AsyncIterable<Item[]> {
    return this.parse(after?.seq ?? 0, signal, (bytes, options) => this.batches(bytes, { ...options, keepText: keep?.keepText }));
  }

  /** The reader of this source's format. */
  private batches(bytes: AsyncIterable<Buffer>, options: ReaderOptions): AsyncIterable<Item[]> {
    switch (this.format) {
      case 'ndjson': return readNdjsonBatches(bytes, options);
      case 'csv': return readCsvBatches(bytes, { ...options, dialect: this.dialect });
      case 'json': return readJsonBatches(bytes, options);
    }
  }

  progress(): SourceProgress | undefined {
    if (this.size === undefined) return undefined;
    return { done: Math.min(this.counter.bytesRead, this.size), total: this.size, unit: 'bytes' };
  }

  async close(): Promise<void> {
    for (const controller of this.reading) {
      controller.abort(ladingError('RUN_CANCELLED', `${this.description}: the source was closed while being read`));
    }
    this.reading.clear();
  }

  /** Opens the input and runs a reader over its bytes; close() stops it. */
  private async *parse<T>(after: number, signal: AbortSignal, reader: (bytes: AsyncIterable<Buffer>, options: ReaderOptions) => AsyncIterable<T>): AsyncGenerator<T> {
    const controller = new AbortController();
    this.reading.add(controller);
    const stop = AbortSignal.any([signal, controller.signal]);
    try {
      const target = await this.input(stop);
      this.counter.bytesRead = 0;
      const bytes = openInput(target, { signal: stop, counter: this.counter });
      yield* reader(bytes, { file: this.file, after, signal: stop });
    } finally {
      this.reading.delete(controller);
    }
  }

  private async input(signal: AbortSignal): Promise<InputTarget> {
    if (this.target !== undefined) {
      if (!this.opened) await this.open(signal);
      return this.target;
    }
    if (this.stdinTaken) {
      throw ladingError('SOURCE_NOT_FOUND', 'stdin: standard input can be read only once, so this run cannot resume; save the input to a file and use source.path');
    }
    this.stdinTaken = true;
    return { kind: 'stdin', stream: this.ctx.stdin ?? process.stdin };
  }
}
