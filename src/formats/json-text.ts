import type { ItemRef } from './types.js';
import { ladingError } from '../errors/lading-error.js';

/** JSON has no bigint: it is written as a decimal string (the same text CSV writes). */
const bigintAsString = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/**
 * JSON.stringify for record values, shared by the formats: the fast path first, a bigint-aware
 * replacer only when it throws, and a value that still cannot be encoded (a circular structure)
 * fails this item with FORMAT_UNENCODABLE_VALUE instead of the whole run.
 */
export function jsonText(value: unknown, item: ItemRef): string {
  try {
    return JSON.stringify(value);
  } catch (first) {
    if (!(first instanceof TypeError)) throw first;
    try {
      return JSON.stringify(value, bigintAsString);
    } catch (error) {
      if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
      throw ladingError('FORMAT_UNENCODABLE_VALUE', `${item.describe}: ${error.message}`, { itemId: item.id, cause: error });
    }
  }
}
