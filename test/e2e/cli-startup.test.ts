/**
 * Heavy dependencies load on first use (src/core/lazy.ts): a command that never touches SFTP,
 * FTP, PGP, PostgreSQL, mail or a cloud bucket must not load their libraries, nor one that
 * serves nothing and reads no CSV or JSON the HTTP server, the logger, metrics or those parsers.
 * A module resolve hook in the lading process writes down every module it resolves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ladingBin, lastJsonLine } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const lazyPackages = /\/node_modules\/(pg|ssh2|basic-ftp|nodemailer|openpgp|@aws-sdk\/[^/]+|@google-cloud\/storage|fastify|pino|prom-client)\//;

/** Every module `lading <args>` resolved. */
function resolvedBy(args: readonly string[], cwd: string): string[] {
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
  return modules;
}

/** The packages of `lazyPackages` that `lading <args>` loaded. */
const loaded = (args: readonly string[], cwd: string): string[] => [...new Set(resolvedBy(args, cwd).flatMap((m) => lazyPackages.exec(m)?.[1] ?? []))];

test('--version and a local-folder run of NDJSON load no SFTP, FTP, PGP, PostgreSQL, mail, cloud, HTTP server, logger, metrics, CSV or JSON library', () => {
  const dir = tempDir();
  cpSync(fileURLToPath(new URL('../../examples/partner-csv-gzip', import.meta.url)), dir, { recursive: true });
  assert.deepEqual(loaded(['--version'], dir), []);
  assert.deepEqual(loaded(['run', 'pipeline.yaml', '--quiet', '--data-dir', join(dir, '.lading')], dir), []);
});

test('the CLI runs from its bundle: a run loads neither lading\'s compiled modules nor zod, yaml or commander file by file', () => {
  const dir = tempDir();
  cpSync(fileURLToPath(new URL('../../examples/partner-csv-gzip', import.meta.url)), dir, { recursive: true });
  const modules = resolvedBy(['run', 'pipeline.yaml', '--quiet', '--data-dir', join(dir, '.lading')], dir);
  const dist = fileURLToPath(new URL('../../dist/', import.meta.url));
  const own = modules.filter((m) => m.startsWith(pathToFileURL(dist).href));
  assert.ok(own.some((m) => m.endsWith('/dist/bundle/main.js')), 'bin/lading.js runs dist/bundle/main.js');
  assert.deepEqual(own.filter((m) => !m.includes('/dist/bundle/')), []);
  assert.deepEqual(modules.filter((m) => /\/node_modules\/(zod|yaml|commander)\//.test(m)), []);
});

test('a handler that throws the library\'s own LadingError (import from lading) is judged by its code, though the CLI runs a bundled copy', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'leads.ndjson'), '{"id":1}\n{"id":2}\n');
  // `import … from 'lading'` resolves to the package's main, dist/index.js: the library's files, not the bundle.
  const library = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href;
  writeFileSync(join(dir, 'handler.mjs'), `import { appendFileSync } from 'node:fs';
import { LadingError } from ${JSON.stringify(library)};
export function process(item) {
  appendFileSync(${JSON.stringify(join(dir, 'calls.txt'))}, item.data.id + '\\n');
  if (item.data.id === 2) throw new LadingError('SINK_HANDLER_REJECTED', 'lead 2 refused');
}
`);
  writeFileSync(join(dir, 'pipeline.yaml'), 'name: refused\nsource: { type: file, path: leads.ndjson }\noutput: { type: handler, module: ./handler.mjs }\nexecution: { retry: { attempts: 3, backoff: fixed, base_delay: 10 } }\n');
  const run = spawnSync(process.execPath, [ladingBin, 'run', 'pipeline.yaml', '--data-dir', join(dir, '.lading')], { cwd: dir, encoding: 'utf8' });
  // Permanent, as its code says: lead 2 was tried once, not retried as an unexpected error would be.
  assert.deepEqual(readFileSync(join(dir, 'calls.txt'), 'utf8').split('\n').filter(Boolean).sort(), ['1', '2']);
  const finished = lastJsonLine<{ type: string; summary: { failed: number; retries: number } }>(run.stderr);
  assert.equal(finished.type, 'run_finished', run.stderr);
  assert.deepEqual([finished.summary.failed, finished.summary.retries], [1, 0]);
  assert.match(run.stdout, /SINK_HANDLER_REJECTED: lead 2 refused/);
});

test('on Node 22.1 and later the CLI keeps its compiled code in Node\'s compile cache, unless NODE_DISABLE_COMPILE_CACHE is set', {
  skip: typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function' ? false : `Node ${process.version} has no module compile cache`,
}, () => {
  // The cache's default place is os.tmpdir()/node-compile-cache: a TMPDIR of the test's own shows what the CLI wrote.
  const env = (tmp: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
    const { NODE_COMPILE_CACHE: _cache, NODE_DISABLE_COMPILE_CACHE: _disabled, ...rest } = process.env;
    return { ...rest, TMPDIR: tmp, ...extra };
  };
  const cached = tempDir();
  assert.equal(spawnSync(process.execPath, [ladingBin, '--version'], { env: env(cached), encoding: 'utf8' }).status, 0);
  const cache = join(cached, 'node-compile-cache');
  assert.ok(existsSync(cache) && readdirSync(cache).length > 0, `nothing cached in ${cache}`);

  // A handler thread is told where the cache is too: each thread starts a module loader of its own.
  const dir = tempDir();
  writeFileSync(join(dir, 'leads.ndjson'), '{"id":1}\n');
  writeFileSync(join(dir, 'handler.mjs'), `import { appendFileSync } from 'node:fs';
export function processChunk() { appendFileSync(${JSON.stringify(join(dir, 'seen.txt'))}, String(process.env.NODE_COMPILE_CACHE)); }
`);
  writeFileSync(join(dir, 'pipeline.yaml'), 'name: cached\nsource: { type: file, path: leads.ndjson }\noutput: { type: handler, module: ./handler.mjs, threads: 1 }\n');
  const run = spawnSync(process.execPath, [ladingBin, 'run', 'pipeline.yaml', '--quiet', '--data-dir', join(dir, '.lading')], { cwd: dir, env: env(cached), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(readFileSync(join(dir, 'seen.txt'), 'utf8').startsWith(cache), 'the handler thread saw no compile cache');

  const disabled = tempDir();
  assert.equal(spawnSync(process.execPath, [ladingBin, '--version'], { env: env(disabled, { NODE_DISABLE_COMPILE_CACHE: '1' }), encoding: 'utf8' }).status, 0);
  assert.equal(existsSync(join(disabled, 'node-compile-cache')), false);
});
