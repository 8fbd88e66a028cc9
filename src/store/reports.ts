// Helpers the two stores share for lineage, reconciliation and retention.
import type { PurgeResult } from './types.js';

/** The inbox record id a trace reference names: `42` or `inbox:42` (the item id runs give it); null for anything else. */
export function inboxRef(ref: string): number | null {
  const match = /^(?:inbox:)?(\d{1,15})$/.exec(ref);
  return match ? Number(match[1]) : null;
}

/** Thrown inside a dry run's purge transaction: rolls it back, carrying what it would have removed. */
export class RollBack extends Error {
  constructor(readonly result: PurgeResult) {
    super('dry run: rolled back');
  }
}

/** How many failed record ids the reconciliation lists; the count says how many there are in all. */
export const failedSampleSize = 20;
