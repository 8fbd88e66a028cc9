/**
 * Field paths: how validate rules, `validate.required` and map `source` name a value inside a
 * record. `meta.ip` reads `record.meta.ip`; `tags.0` reads the first element of `record.tags`.
 *
 * Lookups follow own properties only, so a path can never reach `__proto__`, `constructor` or
 * anything else on a prototype. Arrays are entered only by a numeric segment (`tags.length` is
 * undefined). A key that itself contains dots (a CSV header such as `meta.ip`) wins over the
 * nested reading when the record has it as an own key.
 */

/** Reads one field of a record; undefined when any step is missing. Compiled once, run per record. */
export type PathGetter = (record: unknown) => unknown;

const INDEX = /^(?:0|[1-9]\d*)$/;

function step(target: unknown, key: string, isIndex: boolean): unknown {
  if (typeof target !== 'object' || target === null) return undefined;
  if (Array.isArray(target)) return isIndex && Object.hasOwn(target, key) ? target[Number(key)] : undefined;
  return Object.hasOwn(target, key) ? (target as Record<string, unknown>)[key] : undefined;
}

/** Splits `path` once and returns a getter for the hot path. */
export function compilePath(path: string): PathGetter {
  const segments = path.split('.');
  if (segments.length === 1) {
    const isIndex = INDEX.test(path);
    return (record) => step(record, path, isIndex);
  }
  const indexes = segments.map((segment) => INDEX.test(segment));
  const count = segments.length;
  return (record) => {
    if (typeof record !== 'object' || record === null) return undefined;
    if (!Array.isArray(record) && Object.hasOwn(record, path)) return (record as Record<string, unknown>)[path];
    let value: unknown = record;
    for (let i = 0; i < count; i++) {
      value = step(value, segments[i]!, indexes[i]!);
      if (value === undefined) return undefined;
    }
    return value;
  };
}

/**
 * The top-level keys a path's getter may read: the path itself (a key written with its dots wins),
 * and, for a dot path, its first part. A record holding only these keys reads the same.
 */
export const rootKeys = (path: string): string[] => (path.includes('.') ? [path, path.slice(0, path.indexOf('.'))] : [path]);

/** One-off lookup of a dot path (`meta.ip`) in a record. Use compilePath on hot paths. */
export function getPath(record: unknown, path: string): unknown {
  return compilePath(path)(record);
}
