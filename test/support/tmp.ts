import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh temp folder, removed when the test file ends. */
export function tempDir(prefix = 'lading-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retried: a process the test started may still be writing inside while it exits (Chromium's
  // profile: ENOTEMPTY failed the dashboard suite once after all its tests passed).
  after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));
  return dir;
}
