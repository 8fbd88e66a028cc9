// Bulk ingest hot path: the hand-written field reader (src/core/json-fields.ts) against what it
// replaced, JSON.parse of each NDJSON line's text, both giving the validator the same fields of
// 1,000 demo leads (the bench's bulk body). Blocks of runs alternate; the best block is reported.
// Run: npx tsx bench/json-fields.ts
import { isDeepStrictEqual } from 'node:util';
import { JsonFieldReader } from '../src/core/json-fields.js';
import { generateLeads } from '../src/demo/leads.js';

const body = Buffer.from(`${[...generateLeads(1000, { invalidRatio: 0 })].map((lead) => JSON.stringify(lead)).join('\n')}\n`);
// The bench's ingest pipelines validate email and phone; one keyed on id (source.key_field) reads that too.
const wanted = ['email', 'phone', 'id'];
const reader = new JsonFieldReader(wanted);

function lines(each: (start: number, end: number) => unknown): unknown[] {
  const out: unknown[] = [];
  for (let at = 0; at < body.length;) {
    const lf = body.indexOf(0x0a, at);
    out.push(each(at, lf));
    at = lf + 1;
  }
  return out;
}

const pick = (record: Record<string, unknown>) => Object.fromEntries(wanted.filter((k) => Object.hasOwn(record, k)).map((k) => [k, record[k]]));
const runs = {
  'JSON.parse per line': () => lines((start, end) => JSON.parse(body.toString('utf8', start, end)) as unknown),
  'lading field reader': () => lines((start, end) => reader.read(body, start, end)),
};
const parsed = runs['JSON.parse per line']().map((record) => pick(record as Record<string, unknown>));
if (!isDeepStrictEqual(parsed, runs['lading field reader']())) throw new Error('the two read different fields');

const best: Record<string, number> = {};
for (let block = 0; block < 30; block++) {
  for (const [name, run] of Object.entries(runs)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) run();
    best[name] = Math.min(best[name] ?? Infinity, Number(process.hrtime.bigint() - start) / 1e6 / 20);
  }
}
for (const [name, ms] of Object.entries(best)) {
  console.log(`${name.padEnd(20)} ${ms.toFixed(2).padStart(6)} ms per 1,000-lead body  ${Math.round(1000 / ms * 1000).toLocaleString('en-US').padStart(10)} records/s`);
}
