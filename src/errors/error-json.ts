import type { ErrorCode } from './codes.js';
import { ladingError, LadingError } from './lading-error.js';

/**
 * A LadingError as a worker thread posts it: what the main thread needs to make the same error
 * again (its category and stage follow from the code).
 */
export interface ErrorJson {
  readonly code: ErrorCode;
  readonly message: string;
  readonly itemId?: string;
  readonly field?: string;
  readonly location?: string;
  readonly retryAfterMs?: number;
}

export function errorJson(error: LadingError): ErrorJson {
  return {
    code: error.code, message: error.message,
    ...(error.itemId === undefined ? {} : { itemId: error.itemId }),
    ...(error.field === undefined ? {} : { field: error.field }),
    ...(error.location === undefined ? {} : { location: error.location }),
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  };
}

/** The error again, with the thread's stack when it sent one (a crash). */
export function fromErrorJson(json: ErrorJson & { readonly stack?: string }): LadingError {
  const { code, message, stack, ...info } = json;
  const error = ladingError(code, message, info);
  if (stack !== undefined) error.stack = stack;
  return error;
}

/** What a thread posts when a call failed for a reason other than a record (a bug): the error and its stack. */
export function crashJson(error: unknown): ErrorJson & { readonly stack?: string } {
  const json = error instanceof LadingError ? errorJson(error) : { code: 'UNCLASSIFIED' as const, message: error instanceof Error ? error.message : String(error) };
  return error instanceof Error && error.stack ? { ...json, stack: error.stack } : json;
}
