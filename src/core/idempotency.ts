import { createHash } from 'node:crypto';
import type { Item } from './item.js';

/**
 * The idempotency key of one item or of a group sent together: stable for the same run and the
 * same items, whatever the attempt, so a receiver can drop what it already has.
 */
export function idempotencyKey(runId: string, items: readonly Pick<Item, 'id'>[]): string {
  if (items.length === 1) return `${runId}:${items[0]!.id}`;
  const digest = createHash('sha256');
  for (const item of items) digest.update(item.id).update('\n');
  return `${runId}:${items.length}:${digest.digest('hex').slice(0, 32)}`;
}
