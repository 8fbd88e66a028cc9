import type { Item } from '../core/item.js';
import type { ReaderOptions } from './file/open.js';

/** Resume point the store checkpoints: items strictly after `seq` are read again. */
export interface Cursor {
  readonly seq: number;
  /** Where the source stands after item `seq`, when it can seek (the sql source: the last key, as JSON). */
  readonly position?: string;
}

export interface SourceProgress {
  readonly done: number;
  readonly total: number;
  readonly unit: 'bytes' | 'items';
}

/** What a source knows once opened: an inbox source has cut (or resumed) its batch by then. */
export interface SourceInfo {
  readonly batchId?: string;
  /** Item count, when known up front (inbox batch, inline items). */
  readonly total?: number;
}

export interface Source {
  readonly type: string;
  /** For reports and messages: the file path, `inbox`, `inline`. */
  readonly description: string;
  open(signal: AbortSignal): Promise<SourceInfo>;
  /** Items strictly after `after`, in a stable order; ends when the input is exhausted. */
  read(after: Cursor | null, signal: AbortSignal): AsyncIterable<Item>;
  /**
   * The same items as read(), in runs of any length: for sources that read many at once, so the
   * engine pays a promise per run instead of one per item. `keepText`: a record read from JSON
   * text (an NDJSON line, a JSON array's element) keeps that text as Item.text, for a caller that
   * stores records as text (`lading ingest`). Each run is the caller's to keep or empty: the
   * engine empties it once its items are in chunks (engine/run.ts, rechunked).
   */
  readBatches?(after: Cursor | null, signal: AbortSignal, options?: { readonly keepText?: boolean }): AsyncIterable<Item[]>;
  /**
   * NDJSON sources: runs `reader` over the input's bytes from the start, with the options read()
   * would use, so the engine can split the lines into blocks and parse them in worker threads.
   */
  readNdjsonWith?<T>(reader: (bytes: AsyncIterable<Buffer>, options: ReaderOptions) => AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T>;
  /**
   * Sources of stored JSON records (the inbox): read()'s items from the start as their ids and
   * JSON text, a page at a time, so the engine can parse them in worker threads.
   */
  readJsonPages?(signal: AbortSignal): AsyncIterable<JsonPage>;
  /** How far reading has come, for progress bars and ETA; undefined when unknown. */
  progress?(): SourceProgress | undefined;
  /** Checks the input can be read (file exists) without consuming it; `lading validate` calls it. */
  healthcheck?(signal: AbortSignal): Promise<void>;
  /** Called once the run's outcome is known; an inbox source marks its batch delivered. */
  close(outcome: 'completed' | 'aborted'): Promise<void>;
}

/** Items by id and JSON text: item `ids[i]`'s record is `json[i]` parsed. */
export interface JsonPage {
  readonly ids: readonly string[];
  readonly json: readonly string[];
}
