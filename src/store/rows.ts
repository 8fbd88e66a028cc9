// Rows as the two stores read them, and their mapping to the store's records, written once.
// The drivers differ only in how a time and a JSON document come back: better-sqlite3 gives ISO
// text and JSON text, node-postgres gives Date objects and parsed JSON. Each store passes a
// Decode for its driver; everything else about a row is the same.
import type { RunReport } from '../core/report.js';
import type {
  ApiKeyRecord, Attempt, Batch, ChunkLease, DeliveryRecord, DeliveryState, DeliveryStep, DeliveryUpdate, ItemErrorRecord, RunRecord, StoredItem,
} from './types.js';

export interface Decode<Time, Json> {
  time(value: Time): Date;
  json<T>(value: Json): T;
}

export const sqliteDecode: Decode<string, string> = {
  time: (value) => new Date(value),
  json: <T>(value: string) => JSON.parse(value) as T,
};

export const postgresDecode: Decode<Date, unknown> = {
  time: (value) => value,
  json: <T>(value: unknown) => value as T,
};

const timeOrNull = <Time>(d: Decode<Time, unknown>, value: Time | null | undefined): Date | null =>
  value === null || value === undefined ? null : d.time(value);

export interface RunRow<Time, Json> {
  id: string; pipeline: string; mode: string; status: string; batch_id: string | null; source: string;
  created_at: Time; completed_at: Time | null; processed: number; succeeded: number; failed: number;
  warnings: number; config: Json; report: Json | null; last_chunk_index: number | null;
  last_seq: number | null; last_processed: number | null; last_checkpoint_at: Time | null;
  parent_run_id: string | null; base_dir: string | null; last_position: string | null; lineage: string | null; owner: string | null; heartbeat_at: Time | null; control: string | null;
  submitted_by: string | null;
}

export function toRun<Time, Json>(row: RunRow<Time, Json>, d: Decode<Time, Json>): RunRecord {
  return {
    id: row.id,
    pipeline: row.pipeline,
    mode: row.mode as RunRecord['mode'],
    status: row.status as RunRecord['status'],
    batchId: row.batch_id,
    source: row.source,
    createdAt: d.time(row.created_at),
    completedAt: timeOrNull(d, row.completed_at),
    processed: row.processed,
    succeeded: row.succeeded,
    failed: row.failed,
    warnings: row.warnings,
    config: d.json<unknown>(row.config),
    report: row.report === null ? null : d.json<RunReport>(row.report),
    parentRunId: row.parent_run_id,
    baseDir: row.base_dir,
    lineage: row.lineage ?? row.id,
    owner: row.owner,
    submittedBy: row.submitted_by,
    heartbeatAt: timeOrNull(d, row.heartbeat_at),
    control: row.control === 'pause' || row.control === 'cancel' ? row.control : null,
    lastCheckpoint: row.last_chunk_index === null || row.last_seq === null || row.last_checkpoint_at === null
      ? null
      : {
          chunkIndex: row.last_chunk_index, seq: row.last_seq, processed: row.last_processed ?? 0, at: d.time(row.last_checkpoint_at),
          ...(row.last_position === null ? {} : { position: row.last_position }),
        },
  };
}

export interface BatchRow<Time> {
  id: string; pipeline: string; records: number; bytes: number; cut_at: Time; reason: string; status: string;
}

export function toBatch<Time>(row: BatchRow<Time>, d: Decode<Time, unknown>): Batch {
  return {
    id: row.id, pipeline: row.pipeline, records: row.records, bytes: row.bytes, cutAt: d.time(row.cut_at),
    reason: row.reason, status: row.status === 'delivered' ? 'delivered' : 'open',
  };
}

export interface ItemErrorRow<Json> {
  item_id: string | null; seq: number | null; chunk_index: number | null; code: string; error_type: string;
  category: string; severity: string; field: string | null; location: string | null; message: string; attempts: number;
  payload?: Json | null; history?: Json | null; status?: string | null;
}

export function toItemError<Json>(row: ItemErrorRow<Json>, d: Decode<unknown, Json>): ItemErrorRecord {
  return {
    itemId: row.item_id,
    seq: row.seq,
    chunkIndex: row.chunk_index,
    code: row.code,
    errorType: row.error_type,
    category: row.category === 'transient' ? 'transient' : 'permanent',
    severity: row.severity === 'warn' ? 'warn' : 'block',
    field: row.field,
    location: row.location,
    message: row.message,
    attempts: row.attempts,
    ...(row.payload == null ? {} : { payload: d.json<unknown>(row.payload) }),
    ...(row.history == null ? {} : { history: d.json<Attempt[]>(row.history) }),
    ...(row.severity === 'block' && row.status === null ? { detail: true } : {}),
  };
}

export interface DeliveryStateRow<Time> { suspended_at: Time | null; code: string | null; reason: string | null; failures: number; breaker_opened_at: Time | null }

export function toDeliveryState<Time>(pipeline: string, row: DeliveryStateRow<Time> | undefined, d: Decode<Time, unknown>): DeliveryState {
  return {
    pipeline, suspendedAt: timeOrNull(d, row?.suspended_at), code: row?.code ?? null, reason: row?.reason ?? null,
    failures: row?.failures ?? 0, breakerOpenedAt: timeOrNull(d, row?.breaker_opened_at),
  };
}

export interface DeliveryRow<Time> {
  id: string; pipeline: string; batch_id: string; part: string; destination: string; run_id: string; name: string; temp_name: string | null;
  state: DeliveryStep; uri: string | null; bytes: number | null; records: number | null; sha256: string | null; staged_path: string | null;
  attempts: number; code: string | null; reason: string | null; created_at: Time; updated_at: Time;
}

/** The columns a DeliveryUpdate sets. */
export const deliveryColumns: Record<keyof DeliveryUpdate, string> = {
  runId: 'run_id', tempName: 'temp_name', uri: 'uri', bytes: 'bytes', records: 'records', sha256: 'sha256',
  stagedPath: 'staged_path', attempts: 'attempts', code: 'code', reason: 'reason',
};

export function toDelivery<Time>(row: DeliveryRow<Time>, d: Decode<Time, unknown>): DeliveryRecord {
  return {
    id: row.id, pipeline: row.pipeline, batchId: row.batch_id, part: row.part, destination: row.destination, runId: row.run_id, name: row.name,
    tempName: row.temp_name, state: row.state, uri: row.uri, bytes: row.bytes, records: row.records, sha256: row.sha256, stagedPath: row.staged_path,
    attempts: row.attempts, code: row.code, reason: row.reason, createdAt: d.time(row.created_at), updatedAt: d.time(row.updated_at),
  };
}

export interface ApiKeyRow<Time, Json> { id: string; owner: string; scopes: Json; hash: string; created_at: Time; revoked_at: Time | null }

export const toApiKey = <Time, Json>(row: ApiKeyRow<Time, Json>, d: Decode<Time, Json>): ApiKeyRecord => ({
  id: row.id, owner: row.owner, scopes: d.json<string[]>(row.scopes), createdAt: d.time(row.created_at), revokedAt: timeOrNull(d, row.revoked_at),
});

export interface LeaseRow<Time, Json> {
  run_id: string; chunk_index: number; items: Json | null; lease_token: string; lease_worker: string; lease_expires_at: Time; attempts: number; total: number | null;
  /** lease_worker as it was before this claim: released chunks have none. */
  taken_over_from: string | null;
}

export function toLease<Time, Json>(row: LeaseRow<Time, Json>, d: Decode<Time, Json>): ChunkLease {
  return {
    runId: row.run_id, index: row.chunk_index, token: row.lease_token, workerId: row.lease_worker, expiresAt: d.time(row.lease_expires_at),
    attempts: row.attempts, takenOverFrom: row.taken_over_from, items: row.items === null ? null : d.json<StoredItem[]>(row.items), total: row.total,
  };
}

/** One driver's rows, by its time and JSON types. */
export interface DriverRows<Time, Json> {
  run: RunRow<Time, Json>;
  batch: BatchRow<Time>;
  itemError: ItemErrorRow<Json>;
  lease: LeaseRow<Time, Json>;
  deliveryState: DeliveryStateRow<Time>;
  delivery: DeliveryRow<Time>;
  apiKey: ApiKeyRow<Time, Json>;
}

/** The mappings bound to one driver's Decode, as a store uses them. */
export function mappers<Time, Json>(d: Decode<Time, Json>) {
  return {
    toRun: (row: RunRow<Time, Json>) => toRun(row, d),
    toBatch: (row: BatchRow<Time>) => toBatch(row, d),
    toItemError: (row: ItemErrorRow<Json>) => toItemError(row, d),
    toLease: (row: LeaseRow<Time, Json>) => toLease(row, d),
    toDeliveryState: (pipeline: string, row: DeliveryStateRow<Time> | undefined) => toDeliveryState(pipeline, row, d),
    toDelivery: (row: DeliveryRow<Time>) => toDelivery(row, d),
    toApiKey: (row: ApiKeyRow<Time, Json>) => toApiKey(row, d),
  };
}
