/** What the delivery recorded about a rendered file: a kept copy must hold exactly these bytes. */
export interface StagedFacts {
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * One place files awaiting (re)delivery are kept. A reference is what the delivery records as
 * its staged file (`staged_path`): a local path, `store:<delivery id>`, or `s3://bucket/key`.
 */
export interface StagingBackend {
  /** local, database, or s3://bucket/prefix/: for messages and docs. */
  readonly description: string;
  owns(ref: string): boolean;
  /** Keeps the file rendered at `path` on this machine for delivery `id`; returns its reference. */
  keep(id: string, path: string, facts: StagedFacts): Promise<string>;
  read(ref: string): AsyncIterable<Uint8Array>;
  has(ref: string): Promise<boolean>;
  /** No-op when it is gone already. */
  remove(ref: string): Promise<void>;
}
