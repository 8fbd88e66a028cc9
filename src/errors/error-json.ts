import type { ErrorCode } from './codes.js';
import { ladingError, type LadingError } from './lading-error.js';

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
