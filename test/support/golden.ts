import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const goldenDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden');

/**
 * Compares `bytes` with test/golden/<relPath> byte for byte (CRLF, BOM and the final newline are
 * part of the contract). `UPDATE_GOLDEN=1` rewrites the file instead; review the diff.
 */
export function assertGolden(relPath: string, bytes: Uint8Array): void {
  const path = join(goldenDir, relPath);
  const actual = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  let expected: Buffer;
  try {
    expected = readFileSync(path);
  } catch {
    assert.fail(`golden file test/golden/${relPath} is missing; run with UPDATE_GOLDEN=1 to create it`);
  }
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  throw new assert.AssertionError({
    message: `bytes differ from test/golden/${relPath} at offset ${at} (actual ${actual.length} bytes, expected ${expected.length}); `
      + 'if the change is intended, run with UPDATE_GOLDEN=1 and review the diff',
    actual: actual.toString('utf8'),
    expected: expected.toString('utf8'),
    operator: 'strictEqual',
  });
}
