import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import type { Row } from '../core/item.js';
import type { FormatEncoder } from './types.js';

export const ndjsonConfig = z.object({
  type: z.literal('ndjson').describe('Newline-delimited JSON: one JSON object per line.'),
  line_ending: z.enum(['\n', '\r\n']).default('\n').describe('Line ending after every record.'),
}).strict().meta({ id: 'format.ndjson' });

export type NdjsonConfig = z.output<typeof ndjsonConfig>;

/** JSON has no bigint: it is written as a decimal string (the same text CSV writes). */
const bigintAsString = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/** JSON.stringify, falling back to a replacer only when a bigint makes the fast path throw. */
function stringify(record: Row): string {
  try {
    return JSON.stringify(record);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(record, bigintAsString); // still throws for a circular structure
  }
}

/**
 * `JSON.stringify(record)` plus the line ending per record; nothing before or after, so a file
 * with no records is empty. Keys keep the record's order; JSON.stringify escapes lone surrogates,
 * so every line is valid UTF-8 and CR/LF inside strings are always escaped.
 */
class NdjsonEncoder implements FormatEncoder {
  constructor(private readonly lineEnding: string) {}

  begin(): Uint8Array {
    return new Uint8Array(0);
  }

  encode(record: Row): Uint8Array {
    return Buffer.from(stringify(record) + this.lineEnding, 'utf8');
  }

  end(): Uint8Array {
    return new Uint8Array(0);
  }
}

export const ndjson = defineFormat({
  type: 'ndjson',
  summary: 'Newline-delimited JSON, one record per line.',
  schema: ndjsonConfig,
  extension: 'ndjson',
  mediaType: 'application/x-ndjson',
  encoder: (config): FormatEncoder => new NdjsonEncoder(config.line_ending),
});
