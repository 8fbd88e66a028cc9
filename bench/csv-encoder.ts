// CSV hot path: the hand-written encoder (src/formats/csv.ts) against a naive-but-correct baseline
// (regex test + regex replace per field, an array joined per row). Both produce the same bytes;
// runs alternate and the best of 7 is reported. Run: npx tsx bench/csv-encoder.ts
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
  created_at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), // ingested JSON carries text
}));

type Write = (bytes: Uint8Array) => void;

function naive(rows: readonly Row[], write: Write): void {
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  write(Buffer.from(columns.join(',') + '\n'));
  for (const row of rows) write(Buffer.from(columns.map((c) => cell(row[c])).join(',') + '\n'));
}

function handWritten(rows: readonly Row[], write: Write): void {
  const encoder = csv.encoder(csvConfig.parse({ type: 'csv' }), {
    pipeline: 'bench', runId: 'run', batchId: 'batch', createdAt: new Date(0), columns,
  });
  const item = { id: 'bench', describe: 'bench item' }; // only read when encode throws
  write(encoder.begin());
  for (const row of rows) write(encoder.encode(row, item));
  write(encoder.end(rows.length));
}

const runs = { 'naive regex': naive, 'lading csv': handWritten };
const collect = (run: typeof naive) => { const parts: Uint8Array[] = []; run(records, (b) => parts.push(b)); return Buffer.concat(parts); };
if (!collect(naive).equals(collect(handWritten))) throw new Error('outputs differ');

const best: Record<string, number> = {};
let bytes = 0; // what a sink would do with the bytes; keeps the work from being optimised away
for (let round = 0; round < 7; round++) {
  for (const [name, run] of Object.entries(runs)) {
    const start = process.hrtime.bigint();
    run(records, (b) => { bytes += b.length; });
    best[name] = Math.min(best[name] ?? Infinity, Number(process.hrtime.bigint() - start) / 1e9);
  }
}
for (const [name, seconds] of Object.entries(best)) {
  console.log(`${name.padEnd(12)} ${Math.round(ROWS / seconds).toLocaleString('en-US').padStart(10)} records/s`);
}
if (bytes === 0) throw new Error('no output');
