import type { Row } from '../core/item.js';

export interface EncoderContext {
  readonly pipeline: string;
  readonly runId: string;
  readonly batchId: string;
  /** The run's creation time: rendering is a function of membership and this, never of now. */
  readonly createdAt: Date;
  /** Output field names in order, when the pipeline declares a map. */
  readonly columns?: readonly string[];
  /**
   * The run's first record, for formats that derive a layout from data (CSV columns without a
   * map): the same for every part, so split files share one layout. Undefined for an empty run.
   */
  readonly sample?: Row;
}

/** Which item a record came from, for error messages. */
export interface ItemRef {
  readonly id: string;
  readonly describe: string;
}

/**
 * One file's encoder: pure, synchronous, deterministic. A new encoder is made for each file
 * (each split part), so begin/end frame exactly one file.
 */
export interface FormatEncoder {
  /** Header row, `[`, XML prolog; may be empty. */
  begin(): Uint8Array;
  /**
   * Throws FormatError naming the item and field when the record cannot be encoded. The sink
   * may discard the last result (the record did not fit, it goes to the next part): so the
   * count of records in a file is given to end(), never counted here.
   */
  encode(record: Row, item: ItemRef): Uint8Array;
  /**
   * The same record as text, where encode's bytes are exactly its UTF-8: for a caller that
   * writes many records into one buffer of its own (a parse worker's block), which then makes
   * no Buffer per record.
   */
  encodeText?(record: Row, item: ItemRef): string;
  /**
   * Bytes at the start of every record's encoding that belong between records (JSON's comma):
   * a file's first record goes without them (the file sink drops them). A format whose records
   * need a separator gives it so, rather than remembering whether a record came before: encode()
   * then depends on the record alone, and records can be encoded ahead, in worker threads.
   */
  readonly separatorBytes?: number;
  /** Closing bytes for a file of `records` records: `]`, an envelope's batch_info, a closing tag; may be empty. */
  end(records: number): Uint8Array;
}
