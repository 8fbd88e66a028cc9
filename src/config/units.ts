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

/** A string that may hold a secret: masked by `config print`, never logged. Write it as ${env:NAME}. */
export const secret = () => z.string().meta({ secret: true });
