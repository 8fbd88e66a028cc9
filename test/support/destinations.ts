import { createHash } from 'node:crypto';
import type { PutOptions } from '../../src/destinations/types.js';
import { LadingError } from '../../src/errors/lading-error.js';

export const MiB = 1024 * 1024;
export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** Put options for tests: no-clobber by default, a signal that never aborts. */
export const opts = (extra: Partial<PutOptions> = {}): PutOptions => ({ onCollision: 'fail', signal: new AbortController().signal, ...extra });
/** The expected size and digest a file sink would pass for `b`. */
export const expect = (b: Buffer): Pick<PutOptions, 'expected'> => ({ expected: { bytes: b.length, sha256: sha(b) } });
/** For assert.rejects: a LadingError with this code (and category, when given). */
export const isCode = (code: string, transient?: boolean) => (e: unknown): boolean =>
  e instanceof LadingError && e.code === code && (transient === undefined || e.transient === transient);
