import { z } from 'zod';
import { pipelineConfig } from '../config/pipeline.js';
import type { Registry } from '../core/registry.js';
import { channelDocs } from '../notify/config.js';
import { nameTokens } from '../sinks/file/naming.js';

type JsonSchema = {
  type?: string | string[]; const?: unknown; enum?: unknown[]; default?: unknown; description?: string;
  properties?: Record<string, JsonSchema>; required?: string[]; items?: JsonSchema; additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[]; oneOf?: JsonSchema[]; $ref?: string; unit?: string; slot?: string; types?: string[]; secret?: boolean;
  minimum?: number; maximum?: number; exclusiveMinimum?: number; pattern?: string; minLength?: number;
};

const toJson = (schema: z.ZodType): { root: JsonSchema; defs: Record<string, JsonSchema> } => {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  return { root: out, defs: out.$defs ?? {} };
};

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const slotAnchor: Record<string, string> = { source: 'sources', sink: 'outputs', format: 'formats', codec: 'codecs', destination: 'destinations' };

function typeText(s: JsonSchema, defs: Record<string, JsonSchema>): string {
  if (s.$ref) return typeText(defs[s.$ref.replace('#/$defs/', '')] ?? {}, defs);
  if (s.slot) return `one of: ${(s.types ?? []).map((t) => `\`${t}\``).join(', ')} (see [${slotAnchor[s.slot] ?? s.slot}](#${slotAnchor[s.slot] ?? s.slot}))`;
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const variants = s.anyOf ?? s.oneOf;
  if (variants) return [...new Set(variants.map((v) => typeText(v, defs)))].join(' \\| ');
  if (s.type === 'array') return `list of ${s.items ? typeText(s.items, defs) : 'values'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) return `map of name → ${typeText(s.additionalProperties, defs)}`;
  const range = s.minimum !== undefined || s.maximum !== undefined ? ` (${s.minimum ?? s.exclusiveMinimum ?? ''}…${s.maximum !== undefined && s.maximum < 1e15 ? s.maximum : ''})` : '';
  return `${Array.isArray(s.type) ? s.type.join(' \\| ') : s.type ?? 'any'}${range}`;
}

/** Rows for an object's keys, recursing into nested objects, lists of objects and maps. */
function rows(s: JsonSchema, defs: Record<string, JsonSchema>, prefix: string, out: string[]): void {
  const resolved = s.$ref ? defs[s.$ref.replace('#/$defs/', '')] ?? {} : s;
  for (const [key, prop] of Object.entries(resolved.properties ?? {})) {
    const path = `${prefix}${key}`;
    const p = prop.$ref ? { ...defs[prop.$ref.replace('#/$defs/', '')], description: prop.description ?? defs[prop.$ref.replace('#/$defs/', '')]?.description } : prop;
    const required = resolved.required?.includes(key) && p.default === undefined ? 'yes' : '';
    const dflt = p.default === undefined ? '' : `\`${JSON.stringify(p.default)}\``;
    const notes = [p.description ?? '', p.unit ? `Unit: ${p.unit}.` : '', p.secret ? 'Secret: write `${env:NAME}`.' : ''].filter(Boolean).join(' ');
    out.push(`| \`${path}\` | ${typeText(p, defs)} | ${required} | ${dflt} | ${cell(notes)} |`);
    if (p.slot) continue;
    if (p.type === 'object' && p.properties) rows(p, defs, `${path}.`, out);
    const objectVariant = (p.anyOf ?? []).find((v) => v.type === 'object' && v.properties);
    if (objectVariant) rows(objectVariant, defs, `${path}.`, out);
    if (p.type === 'array' && p.items && (p.items.properties || p.items.$ref)) rows(p.items, defs, `${path}[].`, out);
    // A list of tagged variants (batch.triggers): each variant's keys under its type.
    for (const variant of p.type === 'array' ? p.items?.oneOf ?? p.items?.anyOf ?? [] : []) {
      const v = variant.$ref ? defs[variant.$ref.replace('#/$defs/', '')] ?? {} : variant;
      const tag = (v.properties?.type as { const?: unknown } | undefined)?.const;
      if (typeof tag === 'string') rows(v, defs, `${path}[type=${tag}].`, out);
    }
    if (p.type === 'object' && p.additionalProperties && typeof p.additionalProperties === 'object') rows(p.additionalProperties, defs, `${path}.<field>.`, out);
  }
}

function table(schema: z.ZodType, prefix = ''): string[] {
  const { root, defs } = toJson(schema);
  const out = ['| key | type | required | default | description |', '| --- | --- | --- | --- | --- |'];
  rows(root, defs, prefix, out);
  return out;
}

function components(title: string, anchorNote: string, defs: readonly { type: string; summary: string; schema: z.ZodType }[]): string[] {
  const out = [`## ${title}`, '', anchorNote, ''];
  for (const def of defs) out.push(`### \`${def.type}\``, '', def.summary, '', ...table(def.schema), '');
  return out;
}

/** docs/config-reference.md, generated from the pipeline schema and the registry. */
export function renderConfigDoc(registry: Registry): string {
  return [
    '# Pipeline config reference',
    '',
    '<!-- Generated from the zod schemas in src/ by `npm run docs`; do not edit by hand. -->',
    '',
    'A pipeline is a YAML file (or the same object passed from TypeScript). Unknown keys are errors.',
    'Any string may contain `${env:NAME}` references: they are resolved at load time, never stored',
    '(runs keep the reference as written) and never printed. Sizes accept `50MB`, `64KiB` or bytes;',
    'durations accept `250ms`, `30s`, `15m`, `4h` or milliseconds. A component slot (`source`,',
    '`output`, `format`, `compression`, `destination`) takes an object with `type`, or just the type',
    'name to use its defaults (`format: csv`).',
    '',
    '## Pipeline',
    '',
    ...table(pipelineConfig),
    '',
    ...components('Sources', 'Set with `source: {type: …}`.', registry.sources),
    ...components('Outputs', 'Set with `output: {type: …}`.', registry.sinks),
    ...components('Formats', 'Set with `output.format`.', registry.formats),
    ...components('Codecs', 'Compression codecs go in `output.compression`, encryption codecs in `output.encryption` (applied after compression); `none` or absent means no codec.', registry.codecs),
    ...components('Destinations', 'Set with `output.destination`.', registry.destinations),
    ...components('Notification channels', 'Listed under `notify.on_failure`, `notify.on_success` and `notify.on_alert`; see docs/notifications.md.', channelDocs),
    '## File name tokens',
    '',
    'Used in `output.naming` and `output.manifest.naming`. A pattern may contain `/` for sub-folders;',
    'one that could escape the destination (`..`, an absolute path, NUL) is a config error.',
    '',
    '| token | value |',
    '| --- | --- |',
    ...Object.entries(nameTokens).map(([token, text]) => `| \`{${token}}\` | ${text} |`),
    '',
  ].join('\n');
}

/** schema/pipeline.schema.json, for editor completion (yaml-language-server). */
export function renderJsonSchema(): string {
  return `${JSON.stringify(z.toJSONSchema(pipelineConfig, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
}
