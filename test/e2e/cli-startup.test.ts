/**
 * Heavy dependencies load on first use (src/core/lazy.ts): a command that never touches SFTP,
 * FTP, PGP, PostgreSQL, mail or a cloud bucket must not load their libraries, nor one that
 * serves nothing and reads no CSV or JSON the HTTP server, the logger, metrics or those parsers.
 * A module resolve hook in the lading process writes down every module it resolves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ladingBin } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const lazyPackages = /\/node_modules\/(pg|ssh2|basic-ftp|nodemailer|openpgp|@aws-sdk\/[^/]+|@google-cloud\/storage|fastify|pino|prom-client)\//;

/** The packages of `lazyPackages` that `lading <args>` loaded. */
function loaded(args: readonly string[], cwd: string): string[] {
  const dir = tempDir();
  const log = join(dir, 'resolved.txt');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(log, resolved.url + '\\n');
  return resolved;
}
`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)}, { data: { log: ${JSON.stringify(log)} } });
`);
  const run = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, ladingBin, ...args], { cwd, encoding: 'utf8' });
  // 3: the example's run completes with the failures it documents.
  assert.ok(run.status === 0 || run.status === 3, run.stderr);
  const modules = readFileSync(log, 'utf8').split('\n');
  assert.ok(modules.some((m) => m.includes('/node_modules/better-sqlite3/')), 'the hook sees packages (the SQLite driver is one)');
  return [...new Set(modules.flatMap((m) => lazyPackages.exec(m)?.[1] ?? []))];
}

test('--version and a local-folder run of NDJSON load no SFTP, FTP, PGP, PostgreSQL, mail, cloud, HTTP server, logger, metrics, CSV or JSON library', () => {
  const dir = tempDir();
  cpSync(fileURLToPath(new URL('../../examples/partner-csv-gzip', import.meta.url)), dir, { recursive: true });
  assert.deepEqual(loaded(['--version'], dir), []);
  assert.deepEqual(loaded(['run', 'pipeline.yaml', '--quiet', '--data-dir', join(dir, '.lading')], dir), []);
});
