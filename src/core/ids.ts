import { randomBytes } from 'node:crypto';

/** Generates ids; injectable so golden tests get stable names. */
export interface IdGenerator {
  next(prefix: string): string;
}

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * Time-ordered ids (`run_01k…`): 48 bits of milliseconds then 80 random bits, Crockford base32,
 * so `ORDER BY id` is creation order and ids are safe in file names.
 */
export const randomIds: IdGenerator = {
  next(prefix: string): string {
    let ms = Date.now();
    let time = '';
    for (let i = 0; i < 10; i++) {
      time = alphabet[ms % 32] + time;
      ms = Math.floor(ms / 32);
    }
    let rand = '';
    for (const byte of randomBytes(16)) rand += alphabet[byte & 31];
    return `${prefix}_${time}${rand}`;
  },
};

/** Sequential ids for tests and golden files: `run_0001`, `batch_0001`, … per prefix. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<string, number>();
  return {
    next(prefix: string): string {
      const n = (counters.get(prefix) ?? 0) + 1;
      counters.set(prefix, n);
      return `${prefix}_${String(n).padStart(4, '0')}`;
    },
  };
}
