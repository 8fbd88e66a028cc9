import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import { jsonText } from './json-text.js';
import type { Row } from '../core/item.js';
import type { FormatEncoder, ItemRef } from './types.js';

export const ndjsonConfig = z.object({
  type: z.literal('ndjson').describe('Newline-delimited JSON: one JSON object per line.'),
  line_ending: z.enum(['\n', '\r\n']).default('\n').describe('Line ending after every record.'),
}).strict().meta({ id: 'format.ndjson' });

export type NdjsonConfig = z.output<typeof ndjsonConfig>;

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

  encode(record: Row, item: ItemRef): Uint8Array {
    return Buffer.from(this.encodeText(record, item), 'utf8');
  }

  encodeText(record: Row, item: ItemRef): string {
    return jsonText(record, item) + this.lineEnding;
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
  thread: { module: import.meta.url, name: 'ndjson' },
  mediaType: 'application/x-ndjson',
  encoder: (config): FormatEncoder => new NdjsonEncoder(config.line_ending),
});
