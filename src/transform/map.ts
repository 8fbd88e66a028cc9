/**
 * The map stage: builds each output record from the map's field list, in order. Without a map,
 * records pass through unchanged. `buildMapper` compiles the parsed config once (paths split,
 * transforms compiled); the returned function allocates only the output object and the values
 * the transforms produce.
 *
 * Per field: read `source` (a dot path; defaults to `name`); when the value is absent, null or
 * "" and a `default` is set, use the default; a value that is still absent or null is written as
 * null without running transforms; otherwise the transforms run in order. A transform that
 * cannot apply (an object given to trim, an unparseable date) throws MAP_TRANSFORM_FAILED
 * naming the item and field.
 */
import { z } from 'zod';
import type { Row } from '../core/item.js';
import { ladingError } from '../errors/lading-error.js';
import type { ItemRef } from '../formats/types.js';
import { compilePath } from './path.js';
import { compileTransforms, TransformFailure, transformList, type TransformFn } from './transforms.js';

export const mapField = z
  .object({
    name: z
      .string()
      .min(1)
      .refine((name) => name !== '__proto__', { message: '"__proto__" cannot be an output field name' })
      .describe(
        'Output field name; also the CSV column header. Output records have their keys in map order ' +
          '(except that JavaScript lists integer-like keys such as "7" first; file formats use the map order regardless).',
      ),
    source: z.string().min(1).optional().describe('Dot path of the input value (meta.ip reads record.meta.ip). Defaults to name.'),
    default: z
      .union([z.string(), z.number(), z.boolean()])
      .optional()
      .describe('Value used when the source value is absent, null or ""; applied before the transforms.'),
    transform: transformList.optional(),
  })
  .strict()
  .describe('One output field.');

export const mapConfig = z
  .array(mapField)
  .min(1, { message: 'map needs at least one field; leave map out to pass records through unchanged' })
  .superRefine((fields, ctx) => {
    const seen = new Map<string, number>();
    fields.forEach((field, index) => {
      const first = seen.get(field.name);
      if (first === undefined) seen.set(field.name, index);
      else ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate output field "${field.name}" (first declared at map[${first}])` });
    });
  })
  .describe('Output fields, in order. Leave map out to pass records through unchanged.');

export type MapConfig = z.output<typeof mapConfig>;
export type MapField = z.output<typeof mapField>;

/** Builds the output record of one item; throws MappingError (MAP_TRANSFORM_FAILED). */
export type Mapper = (record: Row, item: ItemRef) => Row;

interface CompiledField {
  readonly name: string;
  readonly source: string;
  readonly get: (record: unknown) => unknown;
  readonly fallback: string | number | boolean | undefined;
  readonly transform: TransformFn | undefined;
}

function compileField(field: MapField): CompiledField {
  const source = field.source ?? field.name;
  return {
    name: field.name,
    source,
    get: compilePath(source),
    fallback: field.default,
    transform: field.transform === undefined ? undefined : compileTransforms(field.transform),
  };
}

/** Output field names in order, or undefined when there is no map (records pass through). */
export function mapColumns(config: MapConfig | undefined): string[] | undefined {
  return config?.map((field) => field.name);
}

/** Compiles `map` into a per-record function. No map (undefined) returns records unchanged. */
export function buildMapper(config: MapConfig | undefined): Mapper {
  if (config === undefined) return (record) => record;
  const fields = config.map(compileField);
  const count = fields.length;

  return (record, item) => {
    const out: Row = {};
    for (let i = 0; i < count; i++) {
      const field = fields[i]!;
      let value = field.get(record);
      if ((value === undefined || value === null || value === '') && field.fallback !== undefined) value = field.fallback;
      if (value === undefined || value === null) {
        out[field.name] = null;
        continue;
      }
      if (field.transform !== undefined) {
        value = field.transform(value);
        if (value instanceof TransformFailure) {
          const from = field.source === field.name ? '' : ` (from "${field.source}")`;
          throw ladingError(
            'MAP_TRANSFORM_FAILED',
            `${item.describe}, field "${field.name}"${from}: ${value.transform} failed: ${value.reason}`,
            { itemId: item.id, field: field.name },
          );
        }
      }
      out[field.name] = value;
    }
    return out;
  };
}
