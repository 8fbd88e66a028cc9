import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunReport } from '../../src/core/report.js';
import { lading, lastJsonLine } from '../support/cli.js';
import { startRecordingServer, type Answer } from '../support/servers/http.js';
import { startFtpServer } from '../support/servers/ftp.js';
import { startGcsStandin } from '../support/servers/gcs-standin.js';
import { startS3 } from '../support/servers/s3.js';
import { startSshd } from '../support/servers/sshd.js';

/** A started server: the environment the example's pipeline reads, and the names delivered to it. */
interface Partner {
  readonly env: Record<string, string>;
  delivered(): Promise<string[]>;
  stop(): Promise<void>;
}

/** s3rver for S3 examples; for GCS the JSON-API stand-in (no GCS emulator can be had here). */
async function startObjectStore(kind: 's3' | 'gcs'): Promise<Partner> {
  if (kind === 's3') {
    const s3 = await startS3();
    return {
      env: { EXAMPLE_S3_ENDPOINT: s3.url, EXAMPLE_S3_BUCKET: s3.bucket, EXAMPLE_S3_ACCESS_KEY_ID: s3.accessKeyId, EXAMPLE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey },
      delivered: () => s3.list(),
      stop: () => s3.stop(),
    };
  }
  const gcs = await startGcsStandin();
  return { env: { EXAMPLE_GCS_ENDPOINT: gcs.url, EXAMPLE_GCS_BUCKET: gcs.bucket }, delivered: async () => [...gcs.objects.keys()], stop: () => gcs.stop() };
}

const listLocal = (root: string): string[] => (existsSync(root) ? readdirSync(root, { recursive: true, encoding: 'utf8' }) : []);

async function startPartner(kind: NonNullable<Expected['requires']>, dir: string, env: Readonly<Record<string, string>>): Promise<Partner> {
  switch (kind) {
    case 'sshd': {
      const sshd = await startSshd();
      return {
        env: {
          EXAMPLE_SFTP_HOST: sshd.host, EXAMPLE_SFTP_PORT: String(sshd.port), EXAMPLE_SFTP_USER: sshd.username,
          EXAMPLE_SFTP_KEY: sshd.privateKey, EXAMPLE_SFTP_HOST_KEY: sshd.hostKeyFingerprint, EXAMPLE_SFTP_PATH: sshd.root,
        },
        delivered: async () => listLocal(sshd.root),
        stop: () => sshd.stop(),
      };
    }
    case 'ftp': {
      const root = join(dir, 'out');
      mkdirSync(root, { recursive: true });
      const ftp = await startFtpServer({ root, ...(env.EXAMPLE_FTP_USER ? { username: env.EXAMPLE_FTP_USER } : {}), ...(env.EXAMPLE_FTP_PASSWORD ? { password: env.EXAMPLE_FTP_PASSWORD } : {}) });
      return { env: { EXAMPLE_FTP_HOST: ftp.host, EXAMPLE_FTP_PORT: String(ftp.port) }, delivered: async () => listLocal(root), stop: () => ftp.stop() };
    }
    case 's3':
    case 'gcs':
      return startObjectStore(kind);
  }
}
import { tempDir } from '../support/tmp.js';

interface Expected {
  readonly status: string;
  readonly summary: Record<string, number>;
  readonly error_codes: readonly string[];
  readonly files: readonly { name?: string; name_pattern?: string; records: number; sha256?: string }[];
  readonly setup?: readonly (readonly string[])[];
  /** A server the example delivers to, started here on loopback: its address reaches the pipeline through the environment. */
  readonly requires?: 'sshd' | 'ftp' | 's3' | 'gcs';
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
    const partner = expected.requires && await startPartner(expected.requires, dir, expected.env ?? {});
    const env = { ...expected.env, ...(server ? { EXAMPLE_HTTP_URL: server.url } : {}), ...partner?.env };
    for (const step of expected.setup ?? []) {
      const r = await lading([...step, ...data], { cwd: dir, env });
      assert.equal(r.code, 0, r.stderr);
    }
    const result = await lading(['run', 'pipeline.yaml', '--json', '--quiet', ...data], { cwd: dir, env }).finally(() => server?.stop());
    // Where the files can be seen: the partner server's storage, the upload server's paths, or the local out/ folder.
    const delivered = partner ? await partner.delivered() : server ? server.requests.map((r) => r.path.split('?')[0]!.split('/').at(-1)!) : listLocal(join(dir, 'out'));
    await partner?.stop();
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
      assert.ok(delivered.some((name) => name === got.name || name.endsWith(`/${got.name}`)), `${got.name} not among ${delivered.join(', ')}`);
    }
  });
}
