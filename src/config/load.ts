import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors/lading-error.js';
import type { ErrorCode } from '../errors/codes.js';
import { pipelineConfig, type PipelineConfig } from './pipeline.js';
import { collectSecrets } from './units.js';

export interface LoadedPipeline {
  readonly config: PipelineConfig;
  /** The config with defaults filled and ${env:…} references as written: stored with each run, printed by `config print`. */
  readonly snapshot: unknown;
  /** Relative paths in the config resolve against this folder. */
  readonly baseDir: string;
  /** The file name, or `<object>` for a config given as a TypeScript object. */
  readonly origin: string;
}

type Path = readonly (string | number)[];

const envRef = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

export const formatPath = (path: Path): string =>
  path.reduce<string>((out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg), '') || '(root)';

/** Replaces ${env:NAME} in every string; remembers where, so the snapshot can put the references back. */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], found: Map<string, string>, missing: { path: Path; name: string }[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${env:')) return value;
    const resolved = value.replace(envRef, (_, name: string) => {
      const v = env[name];
      if (v === undefined) missing.push({ path: [...path], name });
      return v ?? '';
    });
    found.set(JSON.stringify(path), value);
    return resolved;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], found, missing));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], found, missing)]));
  }
  return value;
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

function restoreRefs(output: unknown, refs: Map<string, string>): unknown {
  const copy = structuredClone(output);
  for (const [key, original] of refs) {
    const path = JSON.parse(key) as (string | number)[];
    const parent = valueAt(copy, path.slice(0, -1));
    const last = path.at(-1);
    if (last !== undefined && parent !== null && typeof parent === 'object' && typeof (parent as Record<string, unknown>)[last] === 'string') {
      (parent as Record<string | number, unknown>)[last] = original;
    } else if (last === undefined) {
      return original;
    }
  }
  return copy;
}

class Locator {
  constructor(private readonly file: string, private readonly doc?: Document, private readonly lines?: LineCounter) {}

  /** `file:line:col` of the node at `path` (or of the key `key` inside it). */
  at(path: Path, key?: string): string | undefined {
    if (!this.doc || !this.lines) return undefined;
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true);
      if (!isNode(node) || !node.range) continue;
      let offset = node.range[0];
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === key);
        if (pair && isNode(pair.key) && pair.key.range) offset = pair.key.range[0];
      }
      const { line, col } = this.lines.linePos(offset);
      return `${this.file}:${line}:${col}`;
    }
    return undefined;
  }
}

function describeFound(value: unknown, path: Path, refs: Map<string, string>): string {
  const ref = refs.get(JSON.stringify(path));
  if (ref !== undefined) return ` (found ${ref})`;
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return ` (found ${JSON.stringify(value)})`;
  return '';
}

function issuesOf(error: z.ZodError, data: unknown, locate: Locator, refs: Map<string, string>): ConfigIssue[] {
  return error.issues.flatMap((issue): ConfigIssue[] => {
    const path = issue.path as (string | number)[];
    const code: ErrorCode = (issue as { params?: { code?: ErrorCode } }).params?.code ?? 'CONFIG_INVALID';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        code, path: formatPath([...path, key]), message: `unknown key "${key}"`, ...optional('location', locate.at(path, key)),
      }));
    }
    const value = valueAt(data, path);
    const message = value === undefined && issue.code === 'invalid_type' ? `missing; ${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')}` : `${issue.message.replace(/^Invalid input: /, '')}${describeFound(value, path, refs)}`;
    return [{ code, path: formatPath(path), message, ...optional('location', locate.at(path)) }];
  });
}

/** Secrets that did not come from ${env:…}: written into the file, they would be stored with every run's config. */
function literalSecrets(secrets: readonly string[], resolved: unknown, refs: Map<string, string>, locate: Locator): ConfigIssue[] {
  const fromEnv = new Set([...refs.keys()].map((key) => valueAt(resolved, JSON.parse(key) as Path)));
  const literal = new Set(secrets.filter((s) => s !== '' && !fromEnv.has(s)));
  if (literal.size === 0) return [];
  const paths: Path[] = [];
  const walk = (value: unknown, path: (string | number)[]): void => {
    if (typeof value === 'string') {
      if (literal.has(value)) paths.push(path);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, Array.isArray(value) ? Number(k) : k]);
    }
  };
  walk(resolved, []);
  return paths.map((path) => ({
    code: 'CONFIG_SECRET_LITERAL', path: formatPath(path), message: 'a secret is written into the file: write ${env:NAME} instead (or use the *_file variant where there is one)',
    ...optional('location', locate.at(path)),
  }));
}

const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

export function configError(origin: string, issues: ConfigIssue[]): ConfigError {
  const lines = issues.map((i) => `${i.location ? `${i.location} ` : ''}${i.path}: ${i.message}`);
  const code = issues[0]?.code ?? 'CONFIG_INVALID';
  return new ConfigError(code, `${origin}: ${issues.length === 1 ? 'invalid config' : `${issues.length} config problems`}\n  ${lines.join('\n  ')}`, { issues });
}

/** Parse, substitute, validate: pure, opens nothing. Throws ConfigError listing every problem. */
export function parsePipeline(input: unknown, opts: { env?: NodeJS.ProcessEnv; origin?: string; locate?: Locator } = {}): { config: PipelineConfig; snapshot: unknown } {
  const origin = opts.origin ?? '<object>';
  const locate = opts.locate ?? new Locator(origin);
  const refs = new Map<string, string>();
  const missing: { path: Path; name: string }[] = [];
  const resolved = substituteEnv(input, opts.env ?? process.env, [], refs, missing);
  const issues: ConfigIssue[] = missing.map(({ path, name }) => ({
    code: 'CONFIG_ENV_MISSING', path: formatPath(path), message: `environment variable ${name} is not set`, ...optional('location', locate.at(path)),
  }));
  const { result: parsed, secrets } = collectSecrets(() => pipelineConfig.safeParse(resolved));
  if (!parsed.success) issues.push(...issuesOf(parsed.error, resolved, locate, refs));
  issues.push(...literalSecrets(secrets, resolved, refs, locate));
  if (issues.length > 0 || !parsed.success) throw configError(origin, issues);
  return { config: parsed.data, snapshot: restoreRefs(parsed.data, refs) };
}

/** Parses YAML text; every problem names file:line:col and its config path. */
export function parsePipelineYaml(text: string, opts: { env?: NodeJS.ProcessEnv; origin?: string } = {}) {
  const origin = opts.origin ?? 'pipeline.yaml';
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw configError(origin, doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return { code: 'CONFIG_YAML_SYNTAX', path: '(yaml)', message: e.message.split('\n')[0]!, ...(pos ? { location: `${origin}:${pos.line}:${pos.col}` } : {}) };
    }));
  }
  return parsePipeline(doc.toJS(), { ...opts, origin, locate: new Locator(origin, doc, lines) });
}

/** A past run's pipeline, rebuilt from the snapshot it stored (${env:…} resolved again from today's environment). */
export function loadRunPipeline(run: { readonly id: string; readonly config: unknown; readonly baseDir: string | null }, env: NodeJS.ProcessEnv = process.env): LoadedPipeline {
  const origin = `run ${run.id}`;
  return { ...parsePipeline(run.config, { env, origin }), baseDir: run.baseDir ?? process.cwd(), origin };
}

export async function loadPipeline(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedPipeline> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError('CONFIG_NOT_FOUND', `cannot read pipeline file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  return { ...parsePipelineYaml(text, { env, origin: file }), baseDir: dirname(path), origin: file };
}

/** The secret values a parsed pipeline holds (resolved from ${env:…}): what logs must mask. */
export function secretValues(config: PipelineConfig): readonly string[] {
  return collectSecrets(() => pipelineConfig.safeParse(config)).secrets;
}
