import { hostname, userInfo } from 'node:os';
import type { AuditAction, AuditEntry, Store } from '../store/types.js';
import type { Delivery } from '../triggers/scheduler.js';

/** Who took an action: an API key's owner and id, or the person at a terminal. */
export interface Actor {
  readonly actor: string;
  readonly keyId: string | null;
}

/** `cli:<os user>@<host>`: the CLI has no key, so the account running it answers for it. */
export function cliActor(): Actor {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    // A uid without a passwd entry (containers): the environment is all there is.
    user = process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
  return { actor: `cli:${user}@${hostname()}`, keyId: null };
}

export interface AuditedAction {
  readonly action: AuditAction;
  readonly target: string;
  readonly pipeline?: string | null;
  readonly details?: Readonly<Record<string, unknown>> | null;
}

/** Records an operator action in the store's audit log. Callers pass ids and counts, never keys or secrets. */
export async function recordAudit(store: Store, who: Actor, what: AuditedAction, at: Date): Promise<AuditEntry> {
  const entry: AuditEntry = { at, ...who, action: what.action, target: what.target, pipeline: what.pipeline ?? null, details: what.details ?? null };
  await store.recordAudit(entry);
  return entry;
}

/** A flush (API or CLI) as the audit log keeps it: the batch it cut and how its run ended. */
export const flushAction = (pipeline: string, delivered: Delivery | null): AuditedAction => ({
  action: 'pipeline.flush', target: pipeline, pipeline,
  details: { batch_id: delivered?.batch.id ?? null, records: delivered?.batch.records ?? 0, run_id: delivered?.report.job_id ?? null, status: delivered?.report.status ?? null },
});

export const auditJson = (e: AuditEntry) => ({
  at: e.at.toISOString(), actor: e.actor, key_id: e.keyId, action: e.action, target: e.target, pipeline: e.pipeline, details: e.details,
});
