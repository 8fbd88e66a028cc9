/**
 * A few top-level fields of a JSON object read straight from its UTF-8 bytes, after one pass
 * that checks the whole text is JSON, without building the object. `lading serve` keeps a bulk
 * POST's records as the bytes they came in and looks inside each only for what its validate rules
 * and key field read: JSON.parse built every field of every record for that, in 1.7× the time
 * of this pass with the wanted fields decoded (bench/json-fields.ts; docs/benchmarks.md, machine X).
 *
 * Where the pass cannot vouch for the bytes — not JSON, not an object, a key written with escapes,
 * nesting deeper than it tracks — `read` answers undefined and the caller parses the text as
 * before, so JSON.parse stays the judge of every record this pass does not take: the error it
 * throws is the one reported, and a stricter pass here would only cost time, never a record.
 */

/** Containers deeper than this are left to JSON.parse. */
const maxDepth = 256;
const OBJECT = 1;
const ARRAY = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const isSpace = new Uint8Array(256);
isSpace[0x20] = isSpace[0x09] = isSpace[0x0a] = isSpace[0x0d] = 1;
const isHex = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') isHex[c.charCodeAt(0)] = 1;
/** What may follow a backslash, \u aside. */
const isEscape = new Uint8Array(256);
for (const c of '"\\/bfnrt') isEscape[c.charCodeAt(0)] = 1;

/** Set by `string`: whether the string it scanned last held an escape. */
let escaped = false;

/** A JSON string opening at b[p]; the position after its closing quote, or -1. */
function string(b: Uint8Array, p: number, end: number): number {
  p++;
  escaped = false;
  while (p < end) {
    const c = b[p++]!;
    // Most bytes of a record are letters, digits and punctuation above the quote.
    if (c > QUOTE && c !== BACKSLASH) continue;
    if (c === QUOTE) return p;
    if (c < 0x20) return -1;
    if (c !== BACKSLASH) continue;
    escaped = true;
    if (p >= end) return -1;
    const e = b[p++]!;
    if (e === 0x75) {
      if (p + 4 > end || !isHex[b[p]!] || !isHex[b[p + 1]!] || !isHex[b[p + 2]!] || !isHex[b[p + 3]!]) return -1;
      p += 4;
    } else if (!isEscape[e]) return -1;
  }
  return -1;
}

function digits(b: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = b[p]!;
    if (c < 0x30 || c > 0x39) break;
    p++;
  }
  return p;
}

/** A JSON number at b[p] (RFC 8259: no leading zeros, no bare dot, no plus sign); its end, or -1. */
function number(b: Uint8Array, p: number, end: number): number {
  if (b[p] === 0x2d) p++;
  if (p >= end) return -1;
  const first = b[p]!;
  if (first === 0x30) p++;
  else if (first >= 0x31 && first <= 0x39) p = digits(b, p + 1, end);
  else return -1;
  if (p < end && b[p] === 0x2e) {
    const from = ++p;
    p = digits(b, p, end);
    if (p === from) return -1;
  }
  if (p < end && (b[p]! | 0x20) === 0x65) {
    p++;
    if (p < end && (b[p] === 0x2b || b[p] === 0x2d)) p++;
    const from = p;
    p = digits(b, p, end);
    if (p === from) return -1;
  }
  return p;
}

function literal(b: Uint8Array, p: number, end: number, word: readonly number[]): number {
  if (p + word.length > end) return -1;
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) return -1;
  return p + word.length;
}

const TRUE = [...'true'].map((c) => c.charCodeAt(0));
const FALSE = [...'false'].map((c) => c.charCodeAt(0));
const NULL = [...'null'].map((c) => c.charCodeAt(0));

const skipSpace = (b: Uint8Array, p: number, end: number): number => {
  while (p < end && isSpace[b[p]!]) p++;
  return p;
};

/** The containers open in `value`, innermost last. */
const stack = new Uint8Array(maxDepth);

/** `"key"` and its colon at b[p]; the position of the value after them, or -1. */
function member(b: Uint8Array, p: number, end: number): number {
  if (b[p] !== QUOTE) return -1;
  p = string(b, p, end);
  if (p < 0) return -1;
  p = skipSpace(b, p, end);
  if (b[p] !== COLON) return -1;
  return skipSpace(b, p + 1, end);
}

/** Any JSON value at b[p]; the position after it, or -1. Iterative, so depth costs no stack. */
function value(b: Uint8Array, p: number, end: number): number {
  let depth = 0;
  for (;;) {
    if (p >= end) return -1;
    const c = b[p]!;
    if (c === QUOTE) p = string(b, p, end);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      p = skipSpace(b, p + 1, end);
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      if (b[p] === close) p++;
      else {
        if (depth === maxDepth) return -1;
        stack[depth++] = c === OPEN_BRACE ? OBJECT : ARRAY;
        if (c === OPEN_BRACE) p = member(b, p, end);
        if (p < 0) return -1;
        continue;
      }
    } else if (c === 0x74) p = literal(b, p, end, TRUE);
    else if (c === 0x66) p = literal(b, p, end, FALSE);
    else if (c === 0x6e) p = literal(b, p, end, NULL);
    else p = number(b, p, end);
    if (p < 0) return -1;
    // After a value: a comma goes on to the next one, a bracket closes its container.
    for (;;) {
      if (depth === 0) return p;
      p = skipSpace(b, p, end);
      const next = b[p++];
      const kind = stack[depth - 1];
      if (next === COMMA) {
        p = skipSpace(b, p, end);
        if (kind === OBJECT) p = member(b, p, end);
        if (p < 0) return -1;
        break;
      }
      if (next !== (kind === OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      depth--;
    }
  }
}

/** Reads the same fields from many objects: the names are encoded once. */
export class JsonFieldReader {
  readonly #names: readonly string[];
  readonly #encoded: readonly Uint8Array[];
  readonly #starts: Int32Array;
  readonly #ends: Int32Array;
  readonly #plain: Uint8Array;

  /** `names`: top-level keys, exactly as written in the JSON (no dot paths). */
  constructor(names: Iterable<string>) {
    this.#names = [...new Set(names)];
    this.#encoded = this.#names.map((name) => Buffer.from(name, 'utf8'));
    this.#starts = new Int32Array(this.#names.length);
    this.#ends = new Int32Array(this.#names.length);
    this.#plain = new Uint8Array(this.#names.length);
  }

  /**
   * The JSON object in `bytes[start, end)` (UTF-8, already checked valid) as an object holding
   * only the wanted fields it has, each as JSON.parse gives it, the last one where a key repeats;
   * or undefined when these bytes are left to JSON.parse (see the top of this file).
   */
  read(bytes: Buffer, start: number, end: number): Record<string, unknown> | undefined {
    const b = bytes;
    const names = this.#encoded;
    const starts = this.#starts.fill(-1);
    const ends = this.#ends;
    const plain = this.#plain;
    let p = skipSpace(b, start, end);
    if (b[p] !== OPEN_BRACE) return undefined;
    p = skipSpace(b, p + 1, end);
    if (b[p] === CLOSE_BRACE) p++;
    else {
      for (;;) {
        if (b[p] !== QUOTE) return undefined;
        const keyAt = p + 1;
        p = string(b, p, end);
        if (p < 0 || escaped) return undefined;
        // Unescaped, the key's bytes between its quotes are its UTF-8.
        const length = p - 1 - keyAt;
        p = skipSpace(b, p, end);
        if (b[p] !== COLON) return undefined;
        const valueAt = skipSpace(b, p + 1, end);
        p = value(b, valueAt, end);
        if (p < 0) return undefined;
        for (let n = 0; n < names.length; n++) {
          const name = names[n]!;
          if (name.length !== length) continue;
          let i = 0;
          while (i < length && b[keyAt + i] === name[i]) i++;
          if (i === length) {
            starts[n] = valueAt;
            ends[n] = p;
            // A string's text is its bytes when it holds no escape (set by its scan, the last one).
            plain[n] = b[valueAt] === QUOTE && !escaped ? 1 : 0;
          }
        }
        p = skipSpace(b, p, end);
        const next = b[p++];
        if (next === CLOSE_BRACE) break;
        if (next !== COMMA) return undefined;
        p = skipSpace(b, p, end);
      }
    }
    if (skipSpace(b, p, end) !== end) return undefined;

    const fields: Record<string, unknown> = {};
    for (let n = 0; n < names.length; n++) {
      const from = starts[n]!;
      if (from < 0) continue;
      const to = ends[n]!;
      const field: unknown = plain[n] === 1 ? b.toString('utf8', from + 1, to - 1) : JSON.parse(b.toString('utf8', from, to));
      const name = this.#names[n]!;
      // An own data property even for "__proto__", as JSON.parse makes it.
      if (name === '__proto__') Object.defineProperty(fields, name, { value: field, enumerable: true, writable: true, configurable: true });
      else fields[name] = field;
    }
    return fields;
  }
}
