// Executor floor: the least a single JavaScript thread must do to hand the leads to a handler —
// read the file, split it into lines, JSON.parse each, call the handler with chunks of 1,000.
// No store, no checkpoints, no ids or line numbers, no error handling: not a peer to beat but the
// bound that lading's main-thread run is measured against (its time ÷ this one's).
// Usage: node bench/peers/node-parse-loop.mjs <leads.ndjson> <handler.mjs>
import { createReadStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [input, handlerPath] = process.argv.slice(2);
const { processChunk } = await import(pathToFileURL(resolve(handlerPath)).href);
let chunk = [];
let carry;
let leads = 0;
// Split on the bytes and decode each line on its own, as lading does: a line's one-byte string
// parses faster than a slice of a chunk-sized string that one non-ASCII character made two-byte.
for await (const read of createReadStream(input, { highWaterMark: 64 * 1024 })) {
  const bytes = carry === undefined ? read : Buffer.concat([carry, read]);
  const last = bytes.lastIndexOf(10);
  let pos = 0;
  while (pos <= last) {
    const nl = bytes.indexOf(10, pos);
    if (nl > pos) chunk.push(JSON.parse(bytes.toString('utf8', pos, nl)));
    pos = nl + 1;
    if (chunk.length === 1000) {
      await processChunk(chunk);
      leads += chunk.length;
      chunk = [];
    }
  }
  carry = pos < bytes.length ? bytes.subarray(pos) : undefined;
}
if (carry !== undefined && carry.length > 0) chunk.push(JSON.parse(carry.toString('utf8')));
if (chunk.length > 0) await processChunk(chunk);
leads += chunk.length;
process.stderr.write(`${leads} leads\n`);
