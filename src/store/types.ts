import type { FileArtifact, RunMode, RunReport, RunStatus } from '../core/report.js';

export interface RunSpec {
  readonly pipeline: string;
  readonly mode: RunMode;
  readonly source: string;
  /** The run whose dead letters this run retries. */
  readonly parentRunId?: string;
  /** host:pid of the process that runs it. */
  readonly owner?: string;
  /** The folder the config's relative paths resolve against. */
  readonly baseDir?: string;
  /** Owner of the API key that submitted it (`lading serve`): only keys of that owner (or admin) see it. */
  readonly submittedBy?: string;
  /** The exact config used, with ${env:…} references kept as written: replayable, secret-free. */
  readonly config: unknown;
}

export interface RunRecord {
  readonly id: string;
  readonly pipeline: string;
  readonly mode: RunMode;
  readonly status: RunStatus;
  readonly batchId: string | null;
  readonly source: string;
  readonly createdAt: Date;
  readonly completedAt: Date | null;
  readonly processed: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly warnings: number;
  readonly config: unknown;
  readonly report: RunReport | null;
  readonly parentRunId: string | null;
  readonly baseDir: string | null;
  /** The first run of a retry chain (itself for a first run): idempotency keys derive from it. */
  readonly lineage: string;
  readonly owner: string | null;
  readonly submittedBy: string | null;
  readonly heartbeatAt: Date | null;
  readonly control: RunControl | null;
  readonly lastCheckpoint: { readonly chunkIndex: number; readonly seq: number; readonly processed: number; readonly at: Date; readonly position?: string } | null;
}

export type RunControl = 'pause' | 'cancel';
export type DeadLetterStatus = 'dead' | 'retried' | 'skipped';

export interface Attempt {
  readonly attempt: number;
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

export interface ItemErrorRecord {
  readonly itemId: string | null;
  readonly seq: number | null;
  readonly chunkIndex: number | null;
  readonly code: string;
  readonly errorType: string;
  readonly category: 'transient' | 'permanent';
  readonly severity: 'block' | 'warn';
  readonly field: string | null;
  readonly location: string | null;
  readonly message: string;
  readonly attempts: number;
  /** The item's data, kept for failures so they can be retried or exported. */
  readonly payload?: unknown;
  readonly history?: readonly Attempt[];
  /** A further failure of an item already failed by another row (every broken field is kept); not a dead letter of its own. */
  readonly detail?: boolean;
}

/** A failed item as the dead-letter commands see it. */
export interface DeadLetter extends ItemErrorRecord {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: DeadLetterStatus;
}

export interface DeadLetterFilter {
  readonly runId?: string;
  readonly pipeline?: string;
  readonly errorType?: string;
  readonly itemId?: string;
  readonly status?: DeadLetterStatus;
  readonly limit?: number;
  readonly offset?: number;
}

export interface ChunkCommit {
  readonly index: number;
  /** Highest item seq in the chunk: the resume cursor. */
  readonly lastSeq: number;
  /** The source's position after that item, when it can seek. */
  readonly lastPosition?: string;
  readonly processed: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly warnings: number;
  /** Failures and warnings of this chunk's items. */
  readonly errors: readonly ItemErrorRecord[];
  readonly at: Date;
  readonly durationMs?: number;
}

export interface ItemErrorQuery {
  readonly limit?: number;
  readonly offset?: number;
  readonly severity?: 'block' | 'warn';
  /** One row per failed item: leaves out the detail rows of items failing several rules. */
  readonly primary?: boolean;
}

export interface RunFilter {
  readonly pipeline?: string;
  /** Only runs submitted by this API key owner. */
  readonly submittedBy?: string;
  readonly limit?: number;
}

export interface RunStore {
  /** Creates a run in status `running`. `id` and `createdAt` come from the caller (ids, clock). */
  createRun(spec: RunSpec & { readonly id: string; readonly createdAt: Date; readonly batchId: string | null }): Promise<RunRecord>;
  /** Records one chunk in one transaction: checkpoint, counters, item errors. */
  commitChunk(runId: string, commit: ChunkCommit): Promise<void>;
  finishRun(runId: string, report: RunReport): Promise<void>;
  getRun(id: string): Promise<RunRecord | null>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /** Item errors in seq order; `severity` filters failures (block) from warnings (warn). */
  listItemErrors(runId: string, opts?: ItemErrorQuery): Promise<ItemErrorRecord[]>;
  /** Counts by error_type, for failures and for warnings. */
  errorCategories(runId: string): Promise<{ readonly failed: Record<string, number>; readonly warnings: Record<string, number> }>;
  /** The run is alive: records the heartbeat and returns what another process asked of it. */
  heartbeat(runId: string, owner: string, at: Date): Promise<{ readonly control: RunControl | null }>;
  /** Asks a run to pause or cancel (null: carry on); false when no such run is running. */
  setControl(runId: string, control: RunControl | null): Promise<boolean>;
  /** Takes an interrupted or timed-out run back to running under a new owner, for `run --resume`. */
  reopenRun(runId: string, owner: string, at: Date): Promise<RunRecord>;
  listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;
  /** Marks the dead letters matching the filter (status 'dead' only) as retried or skipped; returns how many. */
  markDeadLetters(filter: DeadLetterFilter, status: 'retried' | 'skipped'): Promise<number>;
}

export interface DeliveryState {
  readonly pipeline: string;
  readonly suspendedAt: Date | null;
  readonly code: string | null;
  readonly reason: string | null;
}

export interface Alert {
  readonly pipeline: string;
  readonly runId: string | null;
  readonly kind: 'deliveries_suspended' | 'deliveries_resumed';
  readonly code: string | null;
  readonly message: string;
  readonly at: Date;
}

export interface DeliveryStore {
  recordFile(runId: string, file: FileArtifact & { readonly destination: string; readonly deliveredAt: Date }): Promise<void>;
  listFiles(runId: string): Promise<FileArtifact[]>;
  deliveryState(pipeline: string): Promise<DeliveryState>;
  /** Stops the pipeline's deliveries (idempotent: the first suspension's time and reason are kept). */
  suspendDeliveries(pipeline: string, why: { readonly code: string; readonly reason: string; readonly at: Date }): Promise<void>;
  /** False when deliveries were not suspended. */
  resumeDeliveries(pipeline: string): Promise<boolean>;
  recordAlert(alert: Alert): Promise<void>;
  listAlerts(filter?: { readonly pipeline?: string; readonly limit?: number }): Promise<Alert[]>;
}

export interface InboxInput {
  readonly data: Record<string, unknown>;
  /** Deduplicates re-sends: a second record with the same key is not stored again. */
  readonly key?: string;
}

export interface InboxRecord {
  readonly id: number;
  readonly data: Record<string, unknown>;
  readonly receivedAt: Date;
}

export interface Batch {
  readonly id: string;
  readonly pipeline: string;
  readonly records: number;
  readonly bytes: number;
  readonly cutAt: Date;
  readonly reason: string;
  readonly status: 'open' | 'delivered';
}

export interface InboxStore {
  /** Durable when the promise resolves (committed). */
  ingest(pipeline: string, records: readonly InboxInput[], at: Date): Promise<{ readonly accepted: number; readonly duplicates: number }>;
  /** Freezes the pending records (up to maxRecords, oldest first) into a new batch in one transaction; null when none is pending. */
  cutBatch(pipeline: string, opts: { readonly id: string; readonly at: Date; readonly reason: string; readonly maxRecords?: number }): Promise<Batch | null>;
  getBatch(batchId: string): Promise<Batch | null>;
  /** Pending (not yet batched) records with id > afterId, in id order: what a dry run looks at without cutting. */
  readPending(pipeline: string, afterId: number, limit: number): Promise<InboxRecord[]>;
  /** The oldest batch cut but not yet delivered: a crash between cut and delivery resumes it. */
  openBatch(pipeline: string): Promise<Batch | null>;
  /** Members of a batch with id > afterId, in id order. */
  readBatch(batchId: string, afterId: number, limit: number): Promise<InboxRecord[]>;
  completeBatch(batchId: string, runId: string, at: Date): Promise<void>;
  inboxStats(pipeline: string): Promise<{ readonly pending: number; readonly oldest: Date | null }>;
}

// ── API (lading serve) ─────────────────────────────────────────────────────────────────────

/** One ingest request of the API: its records and, when the client sent one, its Idempotency-Key. */
export interface IngestRequest {
  readonly pipeline: string;
  readonly records: readonly InboxInput[];
  readonly requestKey?: string;
  /** JSON kept with the answer of a keyed request and given back on a re-send (the rejected records). */
  readonly extra?: unknown;
}

export interface IngestOutcome {
  readonly accepted: number;
  readonly duplicates: number;
  readonly extra?: unknown;
  /** A re-send of a request key already answered: nothing was stored, the first answer's counts are returned. */
  readonly replayed: boolean;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly owner: string;
  readonly scopes: readonly string[];
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface ApiStore {
  /** Stores several requests' records in ONE transaction (group commit); durable when it resolves. One outcome per request, in order. */
  ingestRequests(requests: readonly IngestRequest[], at: Date): Promise<IngestOutcome[]>;
  createApiKey(key: ApiKeyRecord & { readonly hash: string }): Promise<void>;
  /** The key with its hash, revoked or not; null when no key has that id. */
  getApiKey(id: string): Promise<(ApiKeyRecord & { readonly hash: string }) | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** False when no unrevoked key has that id. */
  revokeApiKey(id: string, at: Date): Promise<boolean>;
}

export interface KnownHost {
  readonly host: string;
  readonly keyType: string;
  readonly fingerprint: string;
  readonly firstSeen: Date;
}

/** Host keys trusted on first use (SFTP destinations without a pinned host_key). */
export interface KnownHostStore {
  knownHost(host: string): Promise<KnownHost | null>;
  /** Records the first key seen for `host`; an existing entry is left unchanged (returned as it is). */
  rememberHost(entry: KnownHost): Promise<KnownHost>;
}

export interface Store extends RunStore, DeliveryStore, InboxStore, KnownHostStore, ApiStore {
  /** Where the store lives, for messages: a file path or a URL without password. */
  readonly description: string;
  migrate(): Promise<void>;
  close(): Promise<void>;
}
