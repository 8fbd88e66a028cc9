import iconv from 'iconv-lite';

/** The output character encodings text formats offer (config key `encoding`). */
export const encodingNames = ['utf-8', 'iso-8859-1', 'windows-1252'] as const;
export type EncodingName = (typeof encodingNames)[number];

/**
 * What a text format needs to know about its output encoding: which characters it can write, how
 * many bytes each takes, and how to turn text into bytes. UTF-8 can write every character except
 * a lone surrogate (half of a UTF-16 pair, which has no UTF-8 form); ISO-8859-1 and
 * Windows-1252 write one byte per character and lack everything outside their 256-entry tables.
 */
export interface Charset {
  readonly name: EncodingName;
  /**
   * What `unencodable: replace` writes instead of a character the encoding lacks: "?" in the
   * single-byte encodings, U+FFFD (the Unicode replacement character, as Node and WHATWG
   * encoders write it) for a lone surrogate in UTF-8.
   */
  readonly replacement: string;
  /** Matches a character the encoding cannot write; a surrogate pair is one character (u flag). */
  readonly unencodable: RegExp;
  /** Bytes one code point takes in this encoding; only meaningful for encodable code points. */
  byteLength(codePoint: number): number;
  /** Whether the encoding can write this code point. */
  canEncode(codePoint: number): boolean;
  /** Text to bytes. Unencodable characters must have been dealt with before (see `replaceUnencodable`). */
  encode(text: string): Buffer;
}

const utf8: Charset = {
  name: 'utf-8',
  replacement: '\uFFFD',
  unencodable: /[\uD800-\uDFFF]/u, // with the u flag this matches lone surrogates only
  byteLength: (cp) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4),
  canEncode: (cp) => cp < 0xd800 || (cp > 0xdfff && cp <= 0x10ffff),
  encode: (text) => Buffer.from(text, 'utf8'),
};

/** A single-byte charset, its table read from iconv-lite so lading and iconv agree on every byte. */
function singleByte(name: 'iso-8859-1' | 'windows-1252'): Charset {
  const decoded = iconv.decode(Buffer.from(Array.from({ length: 256 }, (_, i) => i)), name);
  // Bytes iconv-lite cannot decode (0x81, 0x8D, 0x8F, 0x90, 0x9D in Windows-1252) come back as U+FFFD.
  const chars = new Set([...decoded].map((c) => c.codePointAt(0)!).filter((cp) => cp !== 0xfffd));
  const hex = (cp: number) => `\\u{${cp.toString(16)}}`;
  /** A character class body listing the code points as ranges (much faster to test than 256 singles). */
  const classOf = (cps: readonly number[]) => {
    const sorted = [...cps].sort((a, b) => a - b);
    let body = '';
    for (let i = 0; i < sorted.length; i++) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
      body += i === j ? hex(sorted[i]!) : `${hex(sorted[i]!)}-${hex(sorted[j]!)}`;
      i = j;
    }
    return body;
  };
  // Where a character's byte equals its code point (all of ISO-8859-1; Windows-1252 but for
  // 0x80–0x9F), Node's latin1 writer gives iconv-lite's bytes, much faster; iconv-lite does the
  // rest (Windows-1252's € “ ” …, and "?" for anything that slipped through unreplaced).
  const identity = Array.from({ length: 256 }, (_, i) => i).filter((i) => decoded.charCodeAt(i) === i);
  const needsIconv = new RegExp(`[^${classOf(identity)}]`, 'u');
  return {
    name,
    replacement: '?',
    unencodable: new RegExp(`[^${classOf([...chars])}]`, 'u'),
    byteLength: () => 1,
    canEncode: (cp) => chars.has(cp),
    encode: (text) => (needsIconv.test(text) ? iconv.encode(text, name) : Buffer.from(text, 'latin1')),
  };
}

const cache = new Map<EncodingName, Charset>([['utf-8', utf8]]);

/** The charset for a config's `encoding`; single-byte tables are built on first use, not at import. */
export function charset(name: EncodingName): Charset {
  let found = cache.get(name);
  if (found === undefined) {
    found = singleByte(name as 'iso-8859-1' | 'windows-1252');
    cache.set(name, found);
  }
  return found;
}

/** `text` with every character the charset cannot write replaced by its replacement (one per character, a pair counts once). */
export function replaceUnencodable(cs: Charset, text: string): string {
  if (!cs.unencodable.test(text)) return text;
  let out = '';
  for (const char of text) out += cs.canEncode(char.codePointAt(0)!) ? char : cs.replacement;
  return out;
}

/** The first character of `text` the charset cannot write, or undefined. */
export function firstUnencodable(cs: Charset, text: string): string | undefined {
  const match = cs.unencodable.exec(text);
  return match === null ? undefined : match[0];
}

/** `U+00E9 "é"`, for messages; a lone surrogate is shown by its code alone. */
export function describeChar(char: string): string {
  const cp = char.codePointAt(0)!;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const printable = cp >= 0x20 && cp !== 0x7f && !(cp >= 0x80 && cp < 0xa0) && !(cp >= 0xd800 && cp <= 0xdfff);
  return printable ? `${code} ${JSON.stringify(char)}` : code;
}
