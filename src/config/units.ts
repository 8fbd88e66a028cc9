import { z } from 'zod';

const sizeUnits: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
const durationUnits: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

function parseUnit(text: string, units: Record<string, number>): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!match) return undefined;
  const factor = units[(match[2] ?? '').toLowerCase() || Object.keys(units)[0]!];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

/** A byte size: a number of bytes, or a string such as "50MB" (decimal) or "64KiB" (binary). */
export const byteSize = () =>
  z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const bytes = parseUnit(value, sizeUnits);
    if (bytes === undefined || bytes <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 50MB, 64KiB or 1048576, found "${value}"` });
      return z.NEVER;
    }
    return bytes;
  }).meta({ unit: 'bytes', examples: ['50MB', '64KiB', 1048576] });

/** A duration: milliseconds, or a string such as "15m", "4h", "30s", "250ms". */
export const duration = () =>
  z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const ms = parseUnit(value, durationUnits);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 15m, 4h, 30s or 250ms, found "${value}"` });
      return z.NEVER;
    }
    return ms;
  }).meta({ unit: 'milliseconds', examples: ['15m', '4h', 500] });

/** Secrets met by the parse in progress (parsing is synchronous, so one collector at a time is enough). */
let secretsSeen: string[] | null = null;

/** Runs a parse and returns the values it accepted for `secret()` keys, so the caller can check where each came from. */
export function collectSecrets<T>(parse: () => T): { readonly result: T; readonly secrets: readonly string[] } {
  const outer = secretsSeen;
  const seen: string[] = [];
  secretsSeen = seen;
  try {
    return { result: parse(), secrets: seen };
  } finally {
    secretsSeen = outer;
  }
}

/**
 * A string that holds a secret: a pipeline must take it from ${env:NAME}, so it never reaches the store,
 * a report or `config print`. `holdsSecret` narrows that for values that only sometimes carry one (a URL).
 */
export const secret = (holdsSecret: (value: string) => boolean = () => true) =>
  z.string().check((payload) => { if (holdsSecret(payload.value)) secretsSeen?.push(payload.value); }).meta({ secret: true });

/** A URL holds a secret when it carries a password (`scheme://user:password@host`). */
export const urlWithPassword = (value: string): boolean => /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(value);
