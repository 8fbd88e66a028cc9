// Bundles the CLI's own modules, and the pure-JavaScript packages every command loads, into a
// few files under dist/bundle/, which bin/lading.js runs. Node 20's module loader spends most of
// a command's start-up resolving, reading and compiling ~300 files one at a time; one bundle of
// them started a 10-line run 0.15–0.25 s sooner on a slow machine (docs/benchmarks.md, machine U),
// and every `lading worker` of a scale-out starts that much sooner too. esbuild, because tsx
// already brings it, and because it splits what commands import lazily (serve's API server, the
// logger, metrics) into chunks of their own, loaded only when asked for.
//
// Left as they are: the library (dist/index.js, tsc's output), and the modules worker threads
// load (parse, handler, store threads, formats by URL), which import tsc's output. Packages stay
// outside the bundle unless listed: native ones (better-sqlite3), and the heavy ones only some
// components load on first use (cloud SDKs, ssh2, pg, fastify…), which would only grow it.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(root, 'dist/bundle');
const inline = new Set(['commander', 'croner', 'iconv-lite', 'luxon', 'yaml', 'zod']);

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: [resolve(root, 'src/cli/main.ts')],
  outdir,
  // Every output file sits in dist/bundle/ itself, so one relative path from any of them reaches dist/.
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // No keepNames: its __name() redefines the `name` of every class and named function, after which
  // V8 no longer inlines `instanceof` against such a class (the executor's `outcome instanceof
  // Flagged`, once an item: 2% of a 1M run spent in the builtin; docs/benchmarks.md, machine V),
  // and it costs a call and a defineProperty for each closure made. esbuild renames a class that
  // shares its name with another module's top-level name (Worker → Worker3); the errors, whose
  // names are seen, take theirs from the catalogue's table instead (errors/lading-error.ts).
  logLevel: 'warning',
  // The listed CommonJS packages (yaml, iconv-lite) require Node's own modules; an ES module has no `require`.
  banner: { js: "import { createRequire as __ladingRequire } from 'node:module';\nconst require = __ladingRequire(import.meta.url);" },
  plugins: [{
    name: 'lading-bundle',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:')) return { external: true };
        const parts = args.path.split('/');
        const name = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
        return inline.has(name) ? undefined : { external: true };
      });
      // A module finds its files (migrations, the dashboard's assets, worker entries, package.json)
      // from its own URL: inside the bundle that is the bundle's, so each module's import.meta.url
      // becomes the URL of its compiled file in dist/, which tsc wrote beside those files.
      b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
        const compiled = resolve(root, 'dist', relative(resolve(root, 'src'), args.path)).replace(/\.ts$/, '.js');
        const path = relative(outdir, compiled).split('\\').join('/');
        const source = await readFile(args.path, 'utf8');
        return { contents: source.replace(/\bimport\.meta\.url\b/g, `new URL(${JSON.stringify(path)}, import.meta.url).href`), loader: 'ts' };
      });
    },
  }],
});
