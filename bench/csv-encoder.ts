// CSV hot path: the hand-written encoder (src/formats/csv.ts) against a naive-but-correct baseline
// that quotes with a regex test + regex replace per field and joins an array per row.
// Run: npx tsx bench/csv-encoder.ts
import { csv, csvConfig } from '../src/formats/csv.js';
import type { Row } from '../src/core/item.js';

const ROWS = 200_000;
const columns = ['id', 'email', 'first_name', 'last_name', 'phone', 'state', 'score', 'note', 'created_at'];
const records: Row[] = Array.from({ length: ROWS }, (_, i) => ({
  id: `lead_${i}`,
  email: `user${i}@example.com`,
  first_name: i % 7 === 0 ? 'José' : 'John',
  last_name: i % 11 === 0 ? 'Smith, Jr.' : 'Smith',
  phone: String(5550000000 + i),
  state: 'NY',
  score: i % 3 === 0 ? null : (i % 1000) / 10,
  note: i % 13 === 0 ? 'said "call me"\nafter 5pm' : 'ok',
  created_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), // ingested JSON carries text, not Date
}));

function naive(rows: readonly Row[]): Buffer[] {
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const out = [Buffer.from(columns.join(',') + '\n')];
  for (const row of rows) out.push(Buffer.from(columns.map((c) => cell(row[c])).join(',') + '\n'));
  return out;
}

function handWritten(rows: readonly Row[]): Uint8Array[] {
  const encoder = csv.encoder(csvConfig.parse({ type: 'csv' }), {
    pipeline: 'bench', runId: 'run', batchId: 'batch', createdAt: new Date(0), columns,
  });
  const out = [encoder.begin()];
  rows.forEach((row, i) => out.push(encoder.encode(row, { id: String(i), describe: `item ${i}` })));
  out.push(encoder.end());
  return out;
}

if (!Buffer.concat(naive(records)).equals(Buffer.concat(handWritten(records)))) throw new Error('outputs differ');
for (const [name, run] of [['naive regex', naive], ['lading csv', handWritten]] as const) {
  run(records); // warm up
  const best = Math.min(...[0, 1, 2, 3, 4, 5, 6].map(() => {
    const start = process.hrtime.bigint();
    run(records);
    return Number(process.hrtime.bigint() - start) / 1e9;
  }));
  console.log(`${name.padEnd(12)} ${Math.round(ROWS / best).toLocaleString('en-US').padStart(10)} records/s`);
}
