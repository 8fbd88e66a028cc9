import assert from 'node:assert/strict';
import { LadingError } from '../../src/errors/lading-error.js';

/** Awaits `promise`, which must reject with a LadingError; returns it for checks. */
export async function failure(promise: Promise<unknown>): Promise<LadingError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LadingError, `expected a LadingError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection, but it resolved');
}

/** Awaits `promise`, which must reject with a LadingError of `code`; returns the error for more checks. */
export async function rejects(promise: Promise<unknown>, code: string): Promise<LadingError> {
  const error = await failure(promise);
  assert.equal(error.code, code, error.message);
  return error;
}
