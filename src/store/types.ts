import type { FileArtifact, RunMode, RunReport, RunStatus } from '../core/report.js';
import { isJsonSpaceByte } from '../core/utf8.js';
import type { MigrationResult } from './migrate.js';

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
  /** Any of these items (an empty list matches none): the dashboard retries or skips the ones ticked. */
  readonly itemIds?: readonly string[];
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
  /**
   * false: the commit must survive a process crash but may be lost with the last few on power
   * loss (no fsync of its own). For runs that start again from the first item when resumed (a
   * file being rendered), where a lost checkpoint costs nothing. Default true.
   */
  readonly durable?: boolean;
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
  /** Only runs of this batch. */
  readonly batchId?: string;
  /** Only runs created at or after `since` and before `before` (reports, SLAs). */
  readonly since?: Date;
  readonly before?: Date;
  readonly limit?: number;
}

export interface RunStore {
  /** Creates a run in status `running`. `id` and `createdAt` come from the caller (ids, clock). */
  createRun(spec: RunSpec & { readonly id: string; readonly createdAt: Date; readonly batchId: string | null }): Promise<RunRecord>;
  /** Records one chunk in one transaction: checkpoint, counters, item errors. */
  commitChunk(runId: string, commit: ChunkCommit): Promise<void>;
  /**
   * Records chunks of one run in one transaction, in the order given, as commitChunk would one
   * after another: all of them or none, and one wait for the disk. Durable unless every one of
   * them is `durable: false`.
   */
  commitChunks(runId: string, commits: readonly ChunkCommit[]): Promise<void>;
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
  /** Consecutive failed deliveries, for the circuit breaker. */
  readonly failures: number;
  /** Since when the circuit breaker holds deliveries back; null while closed. */
  readonly breakerOpenedAt: Date | null;
}

/**
 * The steps of one delivery, in order: sealed → rendered → uploading (complete bytes under a temp
 * name) → published (final name) → verified → acknowledged; or failed, skipped, rolled_back.
 */
export type DeliveryStep = 'sealed' | 'rendered' | 'uploading' | 'published' | 'verified' | 'acknowledged' | 'failed' | 'skipped' | 'rolled_back';

/** One file (a part of a batch, its sidecar or its manifest) sent to one destination. */
export interface DeliveryRecord {
  readonly id: string;
  readonly pipeline: string;
  readonly batchId: string;
  /** The file within the batch: `1`, `east/2`, `1.sha256`, `manifest`. */
  readonly part: string;
  readonly destination: string;
  readonly runId: string;
  /** Fixed by the first run that opened the delivery: a later run reuses it. */
  readonly name: string;
  readonly tempName: string | null;
  readonly state: DeliveryStep;
  readonly uri: string | null;
  readonly bytes: number | null;
  readonly records: number | null;
  readonly sha256: string | null;
  readonly stagedPath: string | null;
  readonly attempts: number;
  readonly code: string | null;
  readonly reason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Fields a step changes; absent fields keep their value. */
export type DeliveryUpdate = Partial<Pick<DeliveryRecord, 'runId' | 'tempName' | 'uri' | 'bytes' | 'records' | 'sha256' | 'stagedPath' | 'attempts' | 'code' | 'reason'>>;

/** How a step is recorded: what it says, and the state it must start from (compare-and-set, for steps taken once). */
export interface StepOptions {
  /** Said with the step, e.g. how the partner acknowledged (`ack_file x.csv.ack`). */
  readonly detail?: string;
  /** The step is taken only while the delivery is in this state (and, when given, has this code; null: no code). */
  readonly expect?: { readonly state: DeliveryStep; readonly code?: string | null };
}

/** One step a delivery took. */
export interface DeliveryStepRecord {
  readonly state: DeliveryStep;
  readonly at: Date;
  readonly detail: string | null;
}

export interface DeliveryFilter {
  readonly pipeline?: string;
  readonly runId?: string;
  readonly batchId?: string;
  readonly states?: readonly DeliveryStep[];
  readonly limit?: number;
}

export interface Alert {
  readonly pipeline: string;
  readonly runId: string | null;
  readonly kind: 'deliveries_suspended' | 'deliveries_resumed' | 'breaker_opened' | 'breaker_closed' | 'ack_timeout';
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
  /**
   * The delivery of a batch's part to a destination: created in state `sealed` under `name`, or
   * the existing one (an earlier run's, with its name and state) returned unchanged.
   */
  openDelivery(spec: { readonly id: string; readonly pipeline: string; readonly batchId: string; readonly part: string; readonly destination: string; readonly runId: string; readonly name: string; readonly at: Date }): Promise<DeliveryRecord>;
  /** Moves a delivery to `state` and records the step; false for an unknown id, or when `step.expect` does not hold. */
  advanceDelivery(id: string, state: DeliveryStep, at: Date, update?: DeliveryUpdate, step?: StepOptions): Promise<boolean>;
  getDelivery(id: string): Promise<DeliveryRecord | null>;
  /** Steps in the order taken. */
  deliverySteps(id: string): Promise<DeliveryStepRecord[]>;
  /** Newest first. */
  listDeliveries(filter?: DeliveryFilter): Promise<DeliveryRecord[]>;
  /**
   * Counts a delivery outcome for the pipeline's circuit breaker in one step: a success closes it
   * and clears the count; the `threshold`-th consecutive failure (and each one after) opens it as of `at`.
   */
  recordDeliveryOutcome(pipeline: string, outcome: { readonly ok: boolean; readonly threshold: number; readonly at: Date }): Promise<DeliveryState>;
}

/** A notify rule of one pipeline: breached since when, and for how many runs in a row. */
export interface RuleState {
  readonly pipeline: string;
  readonly rule: string;
  readonly breachedAt: Date | null;
  readonly consecutive: number;
}

/** Names one channel's de-duplication state: the same rule is told once per min_interval per channel. */
export interface NotifyKey {
  readonly pipeline: string;
  readonly rule: string;
  readonly channel: string;
}

/** One notification as a channel was asked to send it; `suppressed` = held back by min_interval. */
export interface NotificationRecord {
  readonly pipeline: string;
  readonly runId: string | null;
  readonly event: 'alert' | 'recovery' | 'success';
  readonly rule: string | null;
  readonly channel: string;
  /** Where it went, without credentials: an address, a host. */
  readonly target: string;
  readonly status: 'sent' | 'failed' | 'suppressed';
  readonly code: string | null;
  readonly message: string;
  readonly at: Date;
}

/** State behind notify: rule breaches and per-channel rate limits, atomic so separate processes agree. */
export interface NotifyStore {
  /** Counts one more breach in a row (the first sets breachedAt); returns the state after it. */
  breachRule(pipeline: string, rule: string, at: Date): Promise<RuleState>;
  /** Clears a rule; returns the state it had when it was breached, null when it was not. */
  clearRule(pipeline: string, rule: string): Promise<RuleState | null>;
  /** Takes the right to send an alert on this channel: false when one went out less than minIntervalMs before `at`. Marks the channel open for a recovery. */
  claimAlert(key: NotifyKey, at: Date, minIntervalMs: number): Promise<boolean>;
  /** Takes the right to send the recovery: true once after an alert went out on this channel. */
  claimRecovery(key: NotifyKey): Promise<boolean>;
  recordNotification(notification: NotificationRecord): Promise<void>;
  /** Newest first. */
  listNotifications(filter?: { readonly pipeline?: string; readonly limit?: number }): Promise<NotificationRecord[]>;
}

/**
 * A record for the inbox: its data, or the JSON text it was parsed from (stored as is, so a large
 * ingest is not serialised a second time — and the API need not keep every parsed record alive
 * until its commit; see inboxJson). The text may be a string or its UTF-8 bytes: a bulk POST's
 * records are views of the request body, which reach the SQLite store's writer thread as one
 * copied buffer instead of a thousand cloned strings.
 */
export type InboxInput = InboxInputOptions & (
  | { readonly data: Record<string, unknown>; readonly json?: string | Uint8Array }
  | { readonly data?: undefined; readonly json: string | Uint8Array }
);

interface InboxInputOptions {
  /** Deduplicates re-sends: a second record with the same key is not stored again. */
  readonly key?: string;
  /** Higher is more urgent; a `priority_count` trigger counts pending records at or above its min_priority. */
  readonly priority?: number;
}

/**
 * The JSON a store keeps for an inbox record, as text or as UTF-8 bytes (SQLite stores either as
 * TEXT). A line that parsed can begin and end only in JSON's white space, which is not kept
 * (`trim` of text without it returns it as is).
 */
export function inboxJson(record: InboxInput): string | Uint8Array {
  const json = record.json;
  if (json === undefined) return JSON.stringify(record.data);
  if (typeof json === 'string') return json.trim();
  let start = 0;
  let end = json.length;
  while (start < end && isJsonSpaceByte(json[start]!)) start++;
  while (end > start && isJsonSpaceByte(json[end - 1]!)) end--;
  return start === 0 && end === json.length ? json : json.subarray(start, end);
}

/** inboxJson as text. */
export function inboxText(record: InboxInput): string {
  const json = inboxJson(record);
  return typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
}

/** A page of readBatchJson: record `ids[i]` holds the JSON text `json[i]`, in id order. */
export interface InboxJsonPage {
  readonly ids: readonly number[];
  readonly json: readonly string[];
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

/** What the triggers look at: the pending (not yet batched) records of a pipeline. */
export interface InboxStats {
  readonly pending: number;
  /** Sum of the records' sizes as ingested (UTF-8 bytes of each record's JSON). */
  readonly bytes: number;
  readonly oldest: Date | null;
  /** Pending records that carry a priority, counted per priority value, highest first. */
  readonly priorities: readonly { readonly priority: number; readonly count: number }[];
}

export interface CutOptions {
  readonly id: string;
  readonly at: Date;
  /** Why the batch is cut (its flush reason): count, bytes, age, schedule, manual, rule, priority, backup. */
  readonly reason: string;
  readonly maxRecords?: number;
  /**
   * Only records received at or before this instant: a missed schedule fire replays its own
   * window. A batch is a range of ids, so the cut stops at the first pending record received later.
   */
  readonly until?: Date;
  /** The schedule fire this cut acts on, recorded in the same transaction (even when nothing is pending). */
  readonly fire?: { readonly trigger: string; readonly at: Date };
}

export interface InboxStore {
  /** Durable when the promise resolves (committed). */
  ingest(pipeline: string, records: readonly InboxInput[], at: Date): Promise<{ readonly accepted: number; readonly duplicates: number }>;
  /** Freezes the pending records (up to maxRecords, oldest first) into a new batch in one transaction; null when none is pending. */
  cutBatch(pipeline: string, opts: CutOptions): Promise<Batch | null>;
  getBatch(batchId: string): Promise<Batch | null>;
  /** Pending (not yet batched) records with id > afterId, in id order: what a dry run looks at without cutting. */
  readPending(pipeline: string, afterId: number, limit: number): Promise<InboxRecord[]>;
  /** The oldest batch cut but not yet delivered: a crash between cut and delivery resumes it. */
  openBatch(pipeline: string): Promise<Batch | null>;
  /** Members of a batch with id > afterId, in id order. */
  readBatch(batchId: string, afterId: number, limit: number): Promise<InboxRecord[]>;
  /**
   * readBatch without the parse: each record's id and JSON text as stored, for a run's parse
   * workers (engine/parallel.ts), which parse it off the event loop.
   */
  readBatchJson(batchId: string, afterId: number, limit: number): Promise<InboxJsonPage>;
  completeBatch(batchId: string, runId: string, at: Date): Promise<void>;
  inboxStats(pipeline: string): Promise<InboxStats>;
  // ── schedule triggers ──
  /** The last fire time a schedule trigger acted on; null when it never fired. */
  lastFire(pipeline: string, trigger: string): Promise<Date | null>;
  /** Records a fire acted on without a cut (arming, a skipped missed fire); never moves the time back. */
  recordFire(pipeline: string, trigger: string, at: Date): Promise<void>;
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
  /**
   * How many ingestRequests calls may be in flight at once: calls made while others are pending
   * are still applied in call order (a re-sent request key sees the first answer). 1 when absent.
   */
  readonly ingestDepth?: number;
  createApiKey(key: ApiKeyRecord & { readonly hash: string }): Promise<void>;
  /** The key with its hash, revoked or not; null when no key has that id. */
  getApiKey(id: string): Promise<(ApiKeyRecord & { readonly hash: string }) | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** False when no unrevoked key has that id. */
  revokeApiKey(id: string, at: Date): Promise<boolean>;
}

// ── dashboard: chunk timelines and throughput ────────────────────────────────────────────────

/** A committed chunk as stored: the dashboard's timeline of a run. */
export interface ChunkRecord {
  readonly index: number;
  readonly lastSeq: number;
  readonly processed: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly warnings: number;
  readonly committedAt: Date;
  /** null for chunks committed before durations were recorded. */
  readonly durationMs: number | null;
}

/** Items of one pipeline whose chunks were committed within one UTC hour. */
export interface ThroughputBucket {
  readonly pipeline: string;
  /** The hour's start. */
  readonly hour: Date;
  readonly processed: number;
  readonly succeeded: number;
  readonly failed: number;
}

export interface ThroughputQuery {
  /** Chunks committed at or after this instant and before `until`. */
  readonly since: Date;
  readonly until: Date;
  /** Only runs submitted by this API key owner. */
  readonly submittedBy?: string;
}

export interface DashboardStore {
  /** The run's committed chunks in index order; empty for an unknown run. */
  listChunks(runId: string): Promise<ChunkRecord[]>;
  /** Per pipeline and hour (both ascending), from chunk commits: hours without commits are absent. */
  throughput(query: ThroughputQuery): Promise<ThroughputBucket[]>;
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

// ── reports, lineage, retention ─────────────────────────────────────────────────────────────

/** An inbox record found by its id or its idempotency key: where `lading trace` starts. */
export interface InboxRecordRef {
  readonly id: number;
  readonly pipeline: string;
  readonly key: string | null;
  readonly receivedAt: Date;
  readonly batchId: string | null;
}

/** Records received (or runs created, files delivered) in [from, to), of one pipeline or all. */
export interface ReportWindow {
  readonly from: Date;
  readonly to: Date;
  readonly pipeline?: string;
}

/** The inbox records a pipeline accepted in a window, followed to their batches and deliveries. */
export interface InboxReconciliation {
  readonly pipeline: string;
  readonly accepted: number;
  /** Cut into a batch (delivered or not). */
  readonly batched: number;
  /** In a delivered batch, without an unresolved dead letter. */
  readonly delivered: number;
  /** With a dead letter still open (dead) or given up on (skipped). */
  readonly failed: number;
  /** Delivered records whose data equals another delivered record's of the window. */
  readonly duplicates: number;
  /** The oldest record not yet in a delivered batch. */
  readonly oldestUndelivered: Date | null;
  /** The longest a record waited between arrival and its batch's delivery. */
  readonly maxLatencyMs: number | null;
  /** Batches cut but not delivered that hold records of the window. */
  readonly openBatches: readonly { readonly batchId: string; readonly records: number; readonly cutAt: Date }[];
  /** Ids of the failed records (at most 20), for the differences list. */
  readonly failedIds: readonly number[];
}

/** A file a run recorded as delivered, with its run's pipeline and batch. */
export interface DeliveredFile extends FileArtifact {
  readonly runId: string;
  readonly pipeline: string;
  readonly batchId: string | null;
  readonly destination: string;
  readonly deliveredAt: Date;
}

/** Dead letters of the runs created in a window, counted per run and status. */
export interface DeadLetterCount {
  readonly pipeline: string;
  readonly runId: string;
  readonly status: DeadLetterStatus;
  readonly count: number;
}

/** What one purge removes from one pipeline: rows older than each cut-off; an absent cut-off keeps everything of its kind. */
export interface PurgePlan {
  readonly pipeline: string;
  /** Inbox records of batches delivered before this. */
  readonly records?: Date;
  /** Staged files of deliveries settled (verified, acknowledged, skipped) before this. */
  readonly files?: Date;
  /** Resolved dead letters (retried, skipped) and warnings of runs created before this. */
  readonly deadLetters?: Date;
  /** Finished runs completed before this, with their chunks, item errors and file rows. */
  readonly runs?: Date;
  /** Counts what would go, reading the same pages, and removes nothing. */
  readonly dryRun?: boolean;
}

export interface PurgeResult {
  readonly records: number;
  readonly deadLetters: number;
  readonly runs: number;
  /** Staged files whose delivery no longer names them: the caller removes them from disk. */
  readonly files: readonly { readonly deliveryId: string; readonly path: string }[];
}

/**
 * Takes the rows a purge removes as JSON objects ({kind: record | dead_letter | run, …}), a page at
 * a time, before that page's removal commits (SQLite then removes only the rows it took that still
 * qualify): a page it throws on ends the purge with that page and every later one kept; the pages
 * before it are gone, and were taken. Synchronous, so nothing else runs between the two.
 */
export type PurgeArchive = (rows: readonly Record<string, unknown>[]) => void;

/**
 * Lineage, reconciliation and retention. Retention never removes what is not yet confirmed
 * delivered: records of undelivered batches, open dead letters, runs of undelivered batches or
 * unsettled deliveries, and staged files of unsettled deliveries are kept regardless of age.
 */
export interface ReportStore {
  /** Inbox records whose id (`42` or `inbox:42`) or idempotency key is `ref`. */
  findInboxRecords(ref: string): Promise<InboxRecordRef[]>;
  /** One row per pipeline that accepted records in the window. */
  reconcile(window: ReportWindow): Promise<InboxReconciliation[]>;
  /** Files recorded as delivered in the window, oldest first. */
  listDeliveredFiles(window: ReportWindow): Promise<DeliveredFile[]>;
  deadLetterCounts(window: ReportWindow): Promise<DeadLetterCount[]>;
  /**
   * Rows are read and removed a page at a time, each page in a transaction of its own, so memory
   * does not grow with what goes and no lock is held longer than a page; `archive` gets each page
   * before its commit (never on a dry run). A purge that fails part way has removed the pages
   * before the failure; the next one goes on from there. A dry run reads the same pages.
   */
  purge(plan: PurgePlan, archive?: PurgeArchive): Promise<PurgeResult>;
}

// ── audit log ──────────────────────────────────────────────────────────────────────────────

/** Operator actions the audit log records; a fixed set, as they are filters and labels. */
export type AuditAction =
  | 'run.pause' | 'run.resume' | 'run.cancel' | 'run.retry'
  | 'dead_letters.retry' | 'dead_letters.skip'
  | 'deliveries.resume' | 'delivery.retry'
  | 'key.create' | 'key.revoke'
  | 'pipeline.flush';

/** One operator action: who (an API key's owner and id, or `cli:<user>@<host>`), what, on what. Never a secret. */
export interface AuditEntry {
  readonly at: Date;
  readonly actor: string;
  /** The API key the request carried; null for the CLI. */
  readonly keyId: string | null;
  readonly action: AuditAction;
  /** What was acted on: a run, delivery or key id, or a pipeline name. */
  readonly target: string;
  readonly pipeline: string | null;
  /** What the action did: counts, the new run's id, the outcome. */
  readonly details: Readonly<Record<string, unknown>> | null;
}

export interface AuditFilter {
  /** Entries at or after this instant. */
  readonly since?: Date;
  /** An actor, or an API key id. */
  readonly actor?: string;
  readonly action?: AuditAction;
  readonly limit?: number;
}

export interface AuditStore {
  recordAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;
}

// ── work distribution (lading worker) ──────────────────────────────────────────────────────

/** An item as materialised in the store: JSON, its source error (a malformed record) kept by code and message. */
export interface StoredItem {
  readonly id: string;
  readonly seq: number;
  readonly data: Record<string, unknown>;
  readonly origin?: { readonly file?: string; readonly line?: number };
  readonly position?: string;
  readonly error?: { readonly code: string; readonly message: string; readonly field?: string; readonly location?: string };
}

/**
 * A job for the workers: its run is created in status `queued`. `chunks`: any worker takes any
 * chunk (per-item and per-chunk sinks); `whole`: one worker claims the whole run (a file can't be
 * written from several machines) and reads its source itself.
 */
export type QueuedJobSpec = RunSpec & {
  readonly id: string;
  readonly createdAt: Date;
  readonly batchId: string | null;
  /** Higher is claimed first; among equals, the older job. */
  readonly priority: number;
} & ({ readonly kind: 'chunks'; readonly chunks: readonly (readonly StoredItem[])[] } | { readonly kind: 'whole' });

/** A chunk (or a whole job) held by one worker until `expiresAt`; every write about it is fenced by `token`. */
export interface ChunkLease {
  readonly runId: string;
  readonly index: number;
  readonly token: string;
  readonly workerId: string;
  readonly expiresAt: Date;
  /** Claims of this chunk so far, this one included: above 1, an earlier worker died or gave it back. */
  readonly attempts: number;
  /** The worker whose lease on this chunk had expired when this claim took it over; null when the chunk was pending. */
  readonly takenOverFrom: string | null;
  /** null: a whole job. */
  readonly items: readonly StoredItem[] | null;
  /** Items of the job, for progress and the report; null for a whole job. */
  readonly total: number | null;
}

/**
 * Leases, not locks: a worker that dies simply stops extending, and its chunk is claimable again
 * once the lease expires. Writes with a token another claim replaced throw STORE_LEASE_LOST and
 * change nothing, so a chunk's results are recorded by exactly one holder.
 */
export interface WorkStore {
  /** Creates the queued run and its chunks in one transaction. */
  enqueueJob(spec: QueuedJobSpec): Promise<RunRecord>;
  /**
   * Leases the next pending chunk (or one whose lease expired before `now`) of the highest-priority,
   * oldest queued or running job, with a fresh token; the run becomes `running`. null: nothing to do.
   * PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: an immediate transaction.
   */
  claimChunk(workerId: string, leaseMs: number, now: Date): Promise<ChunkLease | null>;
  /** Heartbeat: the lease now runs until now + leaseMs; returns what an operator asked of the run. Throws STORE_LEASE_LOST. */
  extendLease(token: string, leaseMs: number, now: Date): Promise<{ readonly control: RunControl | null }>;
  /**
   * commitChunk fenced by the token. A chunks job's chunk becomes done, except the job's last
   * one: that one stays leased (`last: true`) until finishLeasedJob, so a worker dying before it
   * finished the run leaves the chunk to be reclaimed and the run finished by its next holder.
   * Throws STORE_LEASE_LOST.
   */
  commitLeasedChunk(token: string, commit: ChunkCommit): Promise<{ readonly last: boolean }>;
  /** finishRun fenced by the token; every chunk of the job is done afterwards. Throws STORE_LEASE_LOST. */
  finishLeasedJob(token: string, report: RunReport): Promise<void>;
  /** Gives a lease back (a worker stopping): the chunk is pending again at once. No-op when already lost. */
  releaseChunk(token: string): Promise<void>;
  /**
   * Ends a job no worker has claimed yet with `report` (status cancelled) and drops its chunks, in
   * one transaction; false when it is no longer queued (a worker took it: cancel it with setControl).
   */
  cancelQueuedJob(runId: string, report: RunReport): Promise<boolean>;
  // ── named leases (one batch scheduler in the cluster) ──
  /** Takes the lease when free, expired, or held by `takeFrom` (a holder known dead); returns its token, null when another holds it. */
  acquireLease(name: string, holder: string, leaseMs: number, now: Date, takeFrom?: string): Promise<string | null>;
  /** Extends the lease held with `token`; false when it was lost meanwhile. */
  renewLease(name: string, token: string, leaseMs: number, now: Date): Promise<boolean>;
  releaseLease(name: string, token: string): Promise<void>;
  /** Who holds the lease, and until when; null when nobody ever took it. */
  leaseHolder(name: string): Promise<{ readonly holder: string; readonly expiresAt: Date } | null>;
  /** Chunk and whole-job leases unexpired at `now`, counted per pipeline and job kind (for /metrics). */
  activeLeases(now: Date): Promise<ActiveLeases[]>;
}

export interface ActiveLeases {
  readonly pipeline: string;
  readonly kind: 'chunks' | 'whole';
  readonly count: number;
}

// ── staged files (LADING_STAGING=database) ─────────────────────────────────────────────────

/** A staged file kept in the store, so a retry on any machine sends the bytes that were rendered. */
export interface StagingStore {
  /** Stores (or replaces) the file under `key`. */
  putStaged(key: string, file: { readonly bytes: Uint8Array; readonly sha256: string; readonly at: Date }): Promise<void>;
  /** null when nothing is kept under `key`. */
  getStaged(key: string): Promise<{ readonly bytes: Uint8Array; readonly sha256: string } | null>;
  /** No-op when nothing is kept under `key`. */
  removeStaged(key: string): Promise<void>;
}

export interface Store extends RunStore, DeliveryStore, InboxStore, KnownHostStore, NotifyStore, ApiStore, ReportStore, DashboardStore, AuditStore, WorkStore, StagingStore {
  /** Where the store lives, for messages: a file path or a URL without password. */
  readonly description: string;
  /** postgres: shared by processes on many machines, so files are staged in it by default. */
  readonly dialect: 'sqlite' | 'postgres';
  /** Applies pending migrations (stores also migrate when opened, unless told not to). */
  migrate(): Promise<MigrationResult>;
  close(): Promise<void>;
}
