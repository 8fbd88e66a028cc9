#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm install` builds it (prepare script).
import module from 'node:module';

// Node 22.1 and later keep V8's compiled code for the modules a command loads on disk
// (os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off), as TypeScript's
// own CLI does: a 10-line run on Node 24 started in 0.29 s instead of 0.34 s (docs/benchmarks.md,
// machine S). Node 20 has no such cache. Before main's import, which is what it compiles.
const cache = module.enableCompileCache?.();
// Worker threads (parse workers, handler threads, the store's ingest and read threads) read the
// variable, not the call: without it they compiled every module again.
if (cache?.directory !== undefined) process.env.NODE_COMPILE_CACHE ??= cache.directory;
// The CLI as one bundle (scripts/bundle.mjs): Node 20 loads a few files instead of ~300.
const { main } = await import('../dist/bundle/main.js');

// A reader that went away (`lading runs --help | head -1`) ends the command quietly, as it ends
// `cat` or `grep`, instead of with a stack trace for EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

process.exitCode = await main(process.argv);
// Nothing reads standard input any more. A run that stopped before its input ended leaves it
// open for its owner (sources/file/open.ts), and a pipe whose writer goes on would keep the
// process alive, waiting for lines nobody will read.
process.stdin.destroy();
