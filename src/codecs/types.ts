import type { Transform } from 'node:stream';

/** Byte transform applied after the format: gzip, later pgp. One stream per file. */
export interface Codec {
  /** Appended to the file extension: `gz`, `pgp`, `asc`. */
  readonly extension: string;
  /**
   * Loads and checks what the codec needs (keys, passphrases) before any file is rendered;
   * throws ConfigError. The file sink calls it when it opens and from its healthcheck, so
   * `lading validate` reports an expired or unreadable key.
   */
  prepare?(signal: AbortSignal): Promise<void>;
  create(): CodecStream;
}

export interface CodecStream {
  readonly stream: Transform;
  /**
   * Worst-case bytes this stream may still emit, from now to its end, if `pending` more input
   * bytes arrive — including end-of-stream overhead. A stream that cannot flush counts what it
   * has taken in but not yet emitted itself. Split by max_bytes relies on it never to be low.
   */
  bound(pending: number): number;
  /** Worst-case size of a whole new stream fed `bytes` input bytes: whether a record can fit an empty part at all. */
  sizeBound(bytes: number): number;
  /** Pushes out everything buffered so far where the codec can (gzip sync flush); may do nothing. */
  flush(): Promise<void>;
}
