// Delivery peer: the minimal hand-written Node script a developer would write for the same job —
// readline, JSON.parse per line, the 7-field mapping, RFC 4180 quoting, zlib gzip level 6.
// No validation, no error reporting, no checkpoints: the practical lower bound for the work.
// Usage: node bench/peers/node-delivery.mjs <leads.ndjson> <out.csv.gz>
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';

const [input, output] = process.argv.slice(2);
const gzip = createGzip({ level: 6 });
gzip.pipe(createWriteStream(output));
const quote = (v) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
let batch = 'lead_id,email,phone,state,first_name,last_name,created_at\n';
for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
  if (!line) continue;
  const r = JSON.parse(line);
  batch += `${[r.id, String(r.email).trim().toLowerCase(), String(r.phone).replace(/\D/g, ''), String(r.state).toUpperCase(), r.first_name, r.last_name, r.created_at].map(quote).join(',')}\n`;
  if (batch.length > 65536) {
    if (!gzip.write(batch)) await once(gzip, 'drain');
    batch = '';
  }
}
gzip.end(batch);
await once(gzip, 'end');
