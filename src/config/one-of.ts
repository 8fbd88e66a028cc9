import { z } from 'zod';

interface Typed {
  readonly type: string;
  readonly schema: z.ZodType;
}

/** A parsed slot: the chosen component's config; its `type` names the component. */
export type Slot<D extends Typed> = z.output<D['schema']> & { readonly type: string };

/**
 * A config slot filled by one registered component: `format: csv` (defaults) or
 * `format: {type: csv, delimiter: ";"}`. With `none`, the string "none" leaves the slot empty.
 * The docs generator reads the `slot` meta to link each component's own section.
 */
export function oneOf<D extends Typed>(kind: string, defs: readonly D[], opts: { none?: boolean } = {}) {
  const types = defs.map((d) => d.type);
  const expected = [...(opts.none ? ['none'] : []), ...types].join(', ');
  const union = z.discriminatedUnion('type', defs.map((d) => d.schema) as unknown as [z.ZodObject<{ type: z.ZodLiteral<string> }>], {
    error: (issue) => issue.code === 'invalid_union' || issue.code === 'invalid_type'
      ? `unknown ${kind} type${typeof issue.input === 'object' && issue.input && 'type' in issue.input ? ` "${String(issue.input.type)}"` : ''}; expected one of: ${expected}`
      : undefined,
  });
  const normalize = (value: unknown) => (typeof value === 'string' ? (opts.none && value === 'none' ? undefined : { type: value }) : value);
  const slot = opts.none ? z.preprocess(normalize, union.optional()) : z.preprocess(normalize, union);
  return slot.meta({ slot: kind, types }) as unknown as z.ZodType<Slot<D>, unknown>;
}

/** The registered definition for a parsed slot value. */
export function pick<D extends { readonly type: string }>(defs: readonly D[], config: unknown): D {
  const type = (config as { type?: unknown } | undefined)?.type;
  const def = defs.find((d) => d.type === type);
  if (!def) throw new Error(`no registered component of type ${String(type)}`);
  return def;
}
