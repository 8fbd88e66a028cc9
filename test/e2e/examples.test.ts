import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunReport } from '../../src/core/report.js';
import { lading, lastJsonLine } from '../support/cli.js';
import { startRecordingServer, type Answer } from '../support/servers/http.js';
import { tempDir } from '../support/tmp.js';

interface Expected {
  readonly status: string;
  readonly summary: Record<string, number>;
  readonly error_codes: readonly string[];
  readonly files: readonly { name?: string; name_pattern?: string; records: number; sha256?: string }[];
  readonly setup?: readonly (readonly string[])[];
  /** Environment the example reads through ${env:…}. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A partner the example talks to: a recording HTTP server on loopback, its URL in EXAMPLE_HTTP_URL.
   * Each path gets its answers in turn (the last repeats; 200 when unlisted); `requests` counts all, retries included.
   */
  readonly server?: { readonly answers_by_path: Readonly<Record<string, readonly Answer[]>>; readonly requests: number };
}

const examples = readdirSync('examples', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

for (const name of examples) {
  test(`example ${name} runs and yields its documented files and report`, async () => {
    const dir = join(tempDir(), name);
    cpSync(join('examples', name), dir, { recursive: true });
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
    const data = ['--data-dir', join(dir, '.lading')];
    const seen = new Map<string, number>();
    const server = expected.server && await startRecordingServer((req) => {
      const path = req.path.split('?')[0]!;
      const n = (seen.get(path) ?? 0) + 1;
      seen.set(path, n);
      const answers = expected.server!.answers_by_path[path] ?? [{ status: 200 }];
      return answers[Math.min(n, answers.length) - 1]!;
    });
    const env = { ...expected.env, ...(server ? { EXAMPLE_HTTP_URL: server.url } : {}) };
    for (const step of expected.setup ?? []) {
      const r = await lading([...step, ...data], { cwd: dir, env });
      assert.equal(r.code, 0, r.stderr);
    }
    const result = await lading(['run', 'pipeline.yaml', '--json', '--quiet', ...data], { cwd: dir, env }).finally(() => server?.stop());
    if (server) assert.equal(server.requests.length, expected.server!.requests, 'requests the partner received, retries included');
    const report = lastJsonLine<RunReport>(result.stdout);
    assert.equal(report.status, expected.status, result.stderr);
    assert.deepEqual(Object.fromEntries(Object.keys(expected.summary).map((k) => [k, report.summary[k as keyof RunReport['summary']]])), expected.summary);
    assert.deepEqual(report.errors.map((e) => e.code), expected.error_codes);
    assert.equal(report.artifacts.files.length, expected.files.length);
    for (const [i, want] of expected.files.entries()) {
      const got = report.artifacts.files[i]!;
      if (want.name) assert.equal(got.name, want.name);
      if (want.name_pattern) assert.match(got.name, new RegExp(want.name_pattern));
      assert.equal(got.records, want.records);
      if (want.sha256) assert.equal(got.sha256, want.sha256, `${got.name} bytes changed`);
      assert.ok(readdirSync(join(dir, 'out')).includes(got.name));
    }
  });
}
