export type CollisionMode = 'fail' | 'overwrite' | 'skip_if_identical';

export interface PutOptions {
  readonly onCollision: CollisionMode;
  readonly signal: AbortSignal;
  /** Expected size and digest: the destination verifies against them before the final name appears. */
  readonly expected?: { readonly bytes: number; readonly sha256: string };
  /** Facts about the file (pipeline, batch_id, run_id, records, sha256) a destination may attach as object metadata. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Called once the complete, verified bytes sit under the temporary name (relative, like `name`)
   * and before the rename: the delivery records the step, so a crash in between can be finished
   * by completePut instead of sending the file again. Destinations without a temp name never call it.
   */
  readonly onUploaded?: (tempName: string) => Promise<void>;
}

export interface PutReceipt {
  readonly uri: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly attempts: number;
  /** True when an identical file was already there (skip_if_identical). */
  readonly skipped: boolean;
}

/** Where files land. A partner never sees a partial file under its final name. */
export interface Destination {
  readonly type: string;
  /** Human form for messages and reports: `local:/data/out`. */
  readonly description: string;
  /** Writes under a temporary name, verifies bytes and sha256, then renames to `name`. */
  put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt>;
  stat(name: string): Promise<{ bytes: number; sha256?: string } | null>;
  /**
   * Finishes a put interrupted between upload and rename: gives the temp file left under
   * `name`'s temp name the final name when it holds exactly the expected bytes. False when there
   * is no such temp file (or it differs), so the caller sends the file again.
   */
  completePut?(name: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<boolean>;
  /** Deletes a published file (rollback); false when it is not there. */
  remove?(name: string): Promise<boolean>;
  /**
   * A link anyone holding it can GET `name` with until it expires, signed with the destination's
   * own credentials (the API hands it out instead of proxying the bytes). Throws
   * API_ARTIFACT_UNSIGNABLE when the configured credentials cannot sign.
   */
  signedUrl?(name: string, ttlMs: number): Promise<SignedUrl>;
  /** Connects and probes write permission; `lading validate` and run start call it. */
  healthcheck(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface SignedUrl {
  readonly url: string;
  readonly expiresAt: Date;
}
