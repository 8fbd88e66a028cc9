// A lading handler: export process(item, ctx) (one record) or processChunk(items, ctx) (a chunk).
// Throw ctx.permanentError(…) when a retry cannot help (the item becomes a dead letter at once)
// or ctx.transientError(…) to be tried again later; other errors are classified by lading
// (a connection reset is retried, an unknown error retried a few times, then dead-lettered).
import { appendFileSync, mkdirSync } from 'node:fs';

const seen = new Set();

export async function process(item, ctx) {
  const { sku, name, price, supplier } = item.data;
  if (!price) throw ctx.permanentError(`product ${sku} has no price`);
  if (supplier === 'flaky' && !seen.has(ctx.idempotencyKey)) {
    seen.add(ctx.idempotencyKey);
    throw ctx.transientError('supplier API busy, try again');
  }
  mkdirSync('out', { recursive: true });
  appendFileSync('out/catalog.ndjson', `${JSON.stringify({ sku, name, price: Number(price), key: ctx.idempotencyKey })}\n`);
}
