import { codes, type Category, type ErrorCode, type Stage } from './codes.js';

export interface ErrorInfo {
  readonly itemId?: string;
  readonly field?: string;
  /** Where in the input or config: `leads.csv:4012`, `pipeline.yaml:31:11`. */
  readonly location?: string;
  readonly retryAfterMs?: number;
  /** The partner's own answer (HTTP status and body excerpt, FTP reply code and text), for delivery.on_rejection. */
  readonly partner?: PartnerAnswer;
  readonly cause?: unknown;
}

/** What a partner's server said when it refused: its status (HTTP) or reply code (FTP), and its text. */
export interface PartnerAnswer {
  readonly status: number;
  readonly reply: string;
}

/** On every LadingError's prototype chain, whichever copy of lading's modules made it. */
const brand = Symbol.for('lading.LadingError');

/**
 * Base of every error lading raises on purpose. Category and stage come from the catalogue
 * (errors/codes.ts), so a code is classified exactly once.
 */
export class LadingError extends Error {
  /**
   * `instanceof` holds for an error of the same class made by another copy of these modules: a
   * handler's `import { LadingError } from 'lading'` loads the library's files, while the CLI
   * runs its bundle (scripts/bundle.mjs), and the error must still be classified as what it says.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    for (let proto: object | null = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : null; proto !== null; proto = Object.getPrototypeOf(proto)) {
      if (brand in proto && (proto as { constructor: { name: string } }).constructor.name === this.name) return true;
    }
    return false;
  }

  readonly code: ErrorCode;
  readonly category: Category;
  readonly stage: Stage;
  readonly itemId: string | undefined;
  readonly field: string | undefined;
  readonly location: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly partner: PartnerAnswer | undefined;

  constructor(code: ErrorCode, message: string, info: ErrorInfo = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = codes[code].category;
    this.stage = codes[code].stage;
    this.itemId = info.itemId;
    this.field = info.field;
    this.location = info.location;
    this.retryAfterMs = info.retryAfterMs;
    this.partner = info.partner;
  }

  get transient(): boolean {
    return this.category === 'transient';
  }

  /** The report's `error_type`: the subclass named in the catalogue. */
  get errorType(): string {
    return codes[this.code].type;
  }
}
Object.defineProperty(LadingError.prototype, brand, { value: true });

/** One problem in a config, located: `pipeline.yaml:31:11 output.destination.port: expected integer`. */
export interface ConfigIssue {
  readonly code: ErrorCode;
  /** Dotted path into the config: `output.format.delimiter`, `map[2].transform`. */
  readonly path: string;
  /** `file:line:column` when the config came from a file. */
  readonly location?: string;
  readonly message: string;
}

/** A config that cannot be used; `issues` lists every problem found, not just the first. */
export class ConfigError extends LadingError {
  readonly issues: readonly ConfigIssue[];

  constructor(code: ErrorCode, message: string, info: ErrorInfo & { readonly issues?: readonly ConfigIssue[] } = {}) {
    super(code, message, info);
    this.issues = info.issues ?? [];
  }
}
export class SourceError extends LadingError {}
export class ValidationError extends LadingError {}
export class MappingError extends LadingError {}
export class FormatError extends LadingError {}
export class CodecError extends LadingError {}
export class DestinationError extends LadingError {}
export class StoreError extends LadingError {}
export class NetworkError extends LadingError {}
export class UsageError extends LadingError {}
/** The partner asked us to slow down; `retryAfterMs` carries its Retry-After when it sent one. */
export class RateLimitError extends LadingError {}
export class AuthError extends LadingError {}

const classes = {
  LadingError, ConfigError, SourceError, ValidationError, MappingError, FormatError,
  CodecError, DestinationError, StoreError, NetworkError, UsageError, RateLimitError, AuthError,
} as const;
// Each class is named by its key here, the name the catalogue gives it (codes[code].type), rather
// than by its identifier: the CLI's bundle renames a class whose name another bundled module also
// uses at its top level (scripts/bundle.mjs), and an error's `name` and LadingError's instanceof
// across copies rest on these names.
for (const [name, errorClass] of Object.entries(classes)) Object.defineProperty(errorClass, 'name', { value: name });

/** Builds the error of the class the catalogue names for `code`, so callers need not pick it. */
export function ladingError(code: ErrorCode, message: string, info?: ErrorInfo): LadingError {
  return new classes[codes[code].type](code, message, info);
}
