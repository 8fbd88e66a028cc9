import type { Transform } from 'node:stream';

/** Byte transform applied after the format: gzip, later pgp. One stream per file. */
export interface Codec {
  /** Appended to the file extension: `gz`. */
  readonly extension: string;
  create(): CodecStream;
}

export interface CodecStream {
  readonly stream: Transform;
  /**
   * Worst-case bytes this stream may still emit for `pending` more input bytes, including
   * end-of-stream overhead. Split by max_bytes relies on it to never exceed the limit.
   */
  bound(pending: number): number;
  /** Pushes out everything buffered so far, so the bytes counted downstream are exact. */
  flush(): Promise<void>;
}
