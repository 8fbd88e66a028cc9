import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import type { Row } from '../core/item.js';
import type { EncoderContext, FormatEncoder } from './types.js';

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
  private count = 0;

  constructor(private readonly config: JsonConfig, private readonly ctx: EncoderContext) {}

  begin(): Uint8Array {
    const key = JSON.stringify(this.config.array_key);
    return Buffer.from(this.config.pretty ? `{\n  ${key}: [` : `{${key}:[`, 'utf8');
  }

  encode(record: Row): Uint8Array {
    const separator = this.config.pretty ? (this.count === 0 ? '\n    ' : ',\n    ') : (this.count === 0 ? '' : ',');
    this.count++;
    return Buffer.from(separator + stringify(record), 'utf8');
  }

  end(): Uint8Array {
    const { pretty } = this.config;
    let tail = pretty ? (this.count === 0 ? ']' : '\n  ]') : ']';
    if (this.config.batch_info) {
      const info = { id: this.ctx.batchId, created: this.ctx.createdAt.toISOString(), record_count: this.count };
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
  encoder: (config, ctx): FormatEncoder => new JsonEncoder(config, ctx),
});
