#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm install` builds it (prepare script).
import { main } from '../dist/cli/main.js';

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
