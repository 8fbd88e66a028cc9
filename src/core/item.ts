import type { LadingError } from '../errors/lading-error.js';
import { grouped } from './numbers.js';

export type Row = Record<string, unknown>;

/** The `data` of an item whose record is elsewhere: prepared in a worker thread, or not parsed yet. */
export const noData: Row = Object.freeze({}) as Row;

/**
 * Whether an item came unparsed (Item.unparsed), asked without reading the field: an NDJSON
 * reader's unparsed line makes the view of its bytes when the field is read.
 */
export const isUnparsed = (item: Item): boolean => 'unparsed' in item;

/** 0–9999 as text, and the same padded to four digits: built on first use, then kept. */
let smallNumbers: { readonly plain: readonly string[]; readonly padded: readonly string[] } | undefined;

/**
 * An item's id, `${prefix}${n}`, for a line number or record id n, without turning n into a
 * string through V8's number-to-string conversion: that keeps the last ~16k numbers it converted
 * in a cache in the old generation, so with a new number for every item each number's text
 * outlived a young-generation collection or two and was promoted — a 1M-line run's scavenges
 * copied 1.27 MB each instead of 1.0 MB and promoted 118 KB each instead of nothing, 0.26 s of
 * collection against 0.16 s (docs/benchmarks.md, machine V). Below 10^8 the text is joined from
 * two kept pieces; the short result is a fresh flat string that dies young with its item.
 */
export function numberedId(prefix: string, n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= 1e8) return `${prefix}${n}`;
  smallNumbers ??= {
    plain: Array.from({ length: 10_000 }, (_, i) => String(i)),
    padded: Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0')),
  };
  const { plain, padded } = smallNumbers;
  return n < 10_000 ? prefix + plain[n]! : prefix + (plain[Math.floor(n / 10_000)]! + padded[n % 10_000]!);
}

/** One record inside a run. */
export interface Item<T = Row> {
  /** Inbox record id, `${file}:${line}` for files, `inline:${index}` for inline items. */
  readonly id: string;
  /** 1-based position in the run's input: checkpoints and reports use it. */
  readonly seq: number;
  readonly data: T;
  /** Where the record came from, so errors can name the line. */
  readonly origin?: { readonly file?: string; readonly line?: number };
  /** Set when the source could not read this record (malformed line): the item fails with it. */
  readonly error?: LadingError;
  /** Where a seekable source stands after this item (the sql source: its key); checkpointed so a resume seeks instead of re-reading. */
  readonly position?: string;
  /** Validated, mapped and encoded ahead, in a worker thread (engine/parallel.ts): the executor does not process it again. */
  readonly prepared?: Prepared;
  /** The JSON text `data` was parsed from, when the reader was asked to keep it (ReaderOptions.keepText). */
  readonly text?: string;
  /**
   * The record's NDJSON line as read (ReaderOptions.unparsed), or its JSON as stored (an inbox
   * batch; no origin then), not parsed yet and `data` empty: a handler running in worker threads
   * parses, validates and maps it there.
   */
  readonly unparsed?: Uint8Array;
}

/**
 * A record a worker thread took through validate → map → the output format. A record that
 * passed has its file bytes, and its `data` is left empty (the mapped record stayed in the
 * worker); one that failed has its failures and keeps its input record as `data`.
 */
export interface Prepared {
  readonly encoded?: Uint8Array;
  readonly failures?: readonly LadingError[];
  readonly warnings?: readonly LadingError[];
}

export interface Chunk<T = Row> {
  readonly runId: string;
  readonly index: number;
  readonly items: readonly Item<T>[];
}

/** The reference formats and rules use in messages; `describe` is computed only when read (errors are rare, items many). */
class LazyItemRef {
  constructor(private readonly item: Pick<Item, 'id' | 'origin'>) {}

  get id(): string {
    return this.item.id;
  }

  get describe(): string {
    return describeItem(this.item);
  }
}

// A class with prototype getters: an object literal with a getter per item profiled 10x slower.
export const itemRef = (item: Pick<Item, 'id' | 'origin'>): { readonly id: string; readonly describe: string } => new LazyItemRef(item);

/** How an item is named in messages: `leads.csv line 4,012` or `item inbox:17`. */
export function describeItem(item: Pick<Item, 'id' | 'origin'>): string {
  const line = item.origin?.line;
  if (item.origin?.file !== undefined && line !== undefined) return `${item.origin.file} line ${grouped(line)}`;
  return `item ${item.id}`;
}
