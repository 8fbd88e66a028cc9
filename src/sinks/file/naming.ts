import { DateTime } from 'luxon';

/** Values a file name pattern can use; dates render in the configured timezone. */
export interface NameValues {
  readonly pipeline: string;
  readonly batchId: string;
  readonly runId: string;
  readonly createdAt: Date;
  readonly timezone: string;
  readonly part: number;
  readonly records: number;
  readonly ext: string;
  /** The partition value (output.partition), already a safe name; empty without partitions. */
  readonly partition: string;
}

export const nameTokens = {
  pipeline: 'pipeline name',
  batch_id: 'batch id (the run id for sources without batches)',
  run_id: 'run id',
  date: 'run creation date, YYYYMMDD',
  time: 'run creation time, HHmmss',
  timestamp: 'run creation time, Unix seconds',
  year: 'four-digit year',
  month: 'two-digit month',
  day: 'two-digit day',
  part: 'part number from 1; {part:3} pads to three digits (001)',
  records: 'records in this file',
  ext: 'format extension plus codec extensions, e.g. csv.gz',
  partition: 'the value of output.partition.field for the records in this file, made safe for a file name',
} as const;

const tokenPattern = /\{([a-z_]+)(?::(\d))?\}/g;

/** Returns a problem description, or undefined when the pattern is safe and uses known tokens. */
export function checkPattern(pattern: string): string | undefined {
  for (const match of pattern.matchAll(tokenPattern)) {
    if (!Object.hasOwn(nameTokens, match[1]!)) return `unknown token {${match[1]}}; known: ${Object.keys(nameTokens).map((t) => `{${t}}`).join(' ')}`;
  }
  const literal = pattern.replace(tokenPattern, 'x');
  if (literal.includes('\0')) return 'contains a NUL character';
  if (literal.startsWith('/') || literal.startsWith('\\') || /^[a-zA-Z]:/.test(literal)) return 'is an absolute path';
  if (literal.split(/[\\/]/).some((segment) => segment === '..' || segment === '.' || segment === '')) return 'has an empty, "." or ".." path segment';
  return undefined;
}

export const usesToken = (pattern: string, token: keyof typeof nameTokens): boolean =>
  [...pattern.matchAll(tokenPattern)].some((m) => m[1] === token);

/** Token values can come from config or data (pipeline name, partition value): keep them to one safe path segment. */
export const safeSegment = (value: string): string => value.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');

export function renderName(pattern: string, v: NameValues): string {
  const at = DateTime.fromJSDate(v.createdAt, { zone: v.timezone });
  const values: Record<keyof typeof nameTokens, string> = {
    pipeline: safeSegment(v.pipeline),
    batch_id: safeSegment(v.batchId),
    run_id: safeSegment(v.runId),
    date: at.toFormat('yyyyLLdd'),
    time: at.toFormat('HHmmss'),
    timestamp: String(Math.floor(v.createdAt.getTime() / 1000)),
    year: at.toFormat('yyyy'),
    month: at.toFormat('LL'),
    day: at.toFormat('dd'),
    part: String(v.part),
    records: String(v.records),
    ext: v.ext,
    partition: v.partition,
  };
  return pattern.replace(tokenPattern, (_, token: keyof typeof nameTokens, width?: string) =>
    width === undefined ? values[token] : values[token].padStart(Number(width), '0'));
}
