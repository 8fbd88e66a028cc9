// A handler run in lading's worker threads (output.threads): each thread imports this module
// itself, so module-level state (this set, a connection pool) is per thread, not shared.
import { appendFileSync, mkdirSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

const blocked = new Set(['mallory@example.com']);

export function processChunk(items, ctx) {
  const failures = {};
  const accepted = [];
  for (const item of items) {
    if (blocked.has(item.data.customer)) failures[item.id] = ctx.permanentError(`customer ${item.data.customer} is blocked`);
    else accepted.push(JSON.stringify({ ...item.data, chunk: ctx.chunkIndex, thread: threadId }));
  }
  mkdirSync('out', { recursive: true });
  if (accepted.length > 0) appendFileSync('out/accepted.ndjson', `${accepted.join('\n')}\n`);
  return { failures };
}
