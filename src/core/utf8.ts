/**
 * Byte-level facts about UTF-8 JSON and CSV text, shared by the file readers, the ingest route
 * and the stores (which keep a record's JSON as the bytes it arrived in).
 */

/** 3 when `bytes` opens with a UTF-8 byte order mark, else 0: the bytes to skip. */
export const utf8BomLength = (bytes: Uint8Array): number => (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0);

/** Whether `bytes`, shorter than a byte order mark, may still be the start of one: wait for more. */
export const isUtf8BomPrefix = (bytes: Uint8Array): boolean =>
  (bytes.length < 1 || bytes[0] === 0xef) && (bytes.length < 2 || bytes[1] === 0xbb);

/** JSON's white space: space, tab, line feed, carriage return. */
export const isJsonSpaceByte = (byte: number): boolean => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
