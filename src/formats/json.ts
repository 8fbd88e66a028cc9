import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import { jsonText } from './json-text.js';
import type { Row } from '../core/item.js';
import type { EncoderContext, FormatEncoder, ItemRef } from './types.js';

export const jsonConfig = z.object({
  type: z.literal('json').describe('One JSON document: an object holding the records array and, after it, batch_info.'),
  array_key: z.string().min(1).default('records').describe('Key of the array that holds the records.'),
  batch_info: z.boolean().default(true)
    .describe('Write "batch_info": {"id", "created", "record_count"} after the array; record_count counts the records in this file.'),
  pretty: z.boolean().default(false)
    .describe('Indent the envelope by 2 spaces and put each record, compact, on its own line.'),
}).strict().superRefine((config, ctx) => {
  if (config.batch_info && config.array_key === 'batch_info') {
    ctx.addIssue({ code: 'custom', path: ['array_key'], message: 'array_key cannot be "batch_info" while batch_info is on' });
  }
}).meta({ id: 'format.json' });

export type JsonConfig = z.output<typeof jsonConfig>;

/**
 * Streams `{"records":[…],"batch_info":{…}}` followed by one newline. batch_info comes after the
 * array so record_count is known without buffering. Compact by default; `pretty` gives
 *
 *     {
 *       "records": [
 *         {"id":1},
 *         {"id":2}
 *       ],
 *       "batch_info": {
 *         "id": "batch_0001",
 *         "created": "2026-01-02T03:04:05.000Z",
 *         "record_count": 2
 *       }
 *     }
 */
class JsonEncoder implements FormatEncoder {
  /** Every record comes with the comma before it; the sink drops it from a file's first record. */
  readonly separatorBytes = 1;
  private readonly separator: string;

  constructor(private readonly config: JsonConfig, private readonly ctx: EncoderContext) {
    this.separator = config.pretty ? ',\n    ' : ',';
  }

  begin(): Uint8Array {
    const key = JSON.stringify(this.config.array_key);
    return Buffer.from(this.config.pretty ? `{\n  ${key}: [` : `{${key}:[`, 'utf8');
  }

  encode(record: Row, item: ItemRef): Uint8Array {
    return Buffer.from(this.encodeText(record, item), 'utf8');
  }

  encodeText(record: Row, item: ItemRef): string {
    return this.separator + jsonText(record, item);
  }

  /** Pure: the sink also calls it to measure the closing bytes for a prospective count. */
  end(records: number): Uint8Array {
    const { pretty } = this.config;
    let tail = pretty ? (records === 0 ? ']' : '\n  ]') : ']';
    if (this.config.batch_info) {
      const info = { id: this.ctx.batchId, created: this.ctx.createdAt.toISOString(), record_count: records };
      tail += pretty ? `,\n  "batch_info": ${JSON.stringify(info, null, 2).replaceAll('\n', '\n  ')}` : `,"batch_info":${JSON.stringify(info)}`;
    }
    return Buffer.from(tail + (pretty ? '\n}\n' : '}\n'), 'utf8');
  }
}

export const json = defineFormat({
  type: 'json',
  summary: 'A single JSON document: the records array, then batch_info (id, created, record_count).',
  schema: jsonConfig,
  extension: 'json',
  mediaType: 'application/json',
  thread: { module: import.meta.url, name: 'json' },
  encoder: (config, ctx): FormatEncoder => new JsonEncoder(config, ctx),
});
