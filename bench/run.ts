// npm run bench [-- --records 1000000 --runs 3 --only delivery|executor]
// delivery: N synthetic leads (the demo generator) as NDJSON → 7 mapped fields → CSV → gzip
//   level 6 → local folder, through the built CLI as a user runs it — next to Miller piped to
//   gzip -6 and a minimal hand-written Node script (bench/peers/node-delivery.mjs), whose CSV must
//   be byte-identical to lading's.
// executor: the same N leads through a no-op handler, chunk 1000, a checkpoint per chunk — next to
//   BullMQ on a loopback Redis doing the same work as N/10 jobs of one lead and as N/1000 jobs
//   of 1,000 leads (jobs added while a concurrency-50 worker runs).
// Each figure is the median of --runs runs, measured by GNU time (wall seconds, peak RSS).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateLeads } from '../src/demo/leads.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' }, only: { type: 'string' } } });
const want = (name: string) => values.only === undefined || values.only === name;
const records = Number(values.records);
const runs = Number(values.runs);
const dir = resolve('bench/.data');
mkdirSync(dir, { recursive: true });

function ensureTime(): string {
  if (existsSync('/usr/bin/time')) return '/usr/bin/time';
  if (process.getuid?.() === 0) spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq time'], { stdio: 'inherit' });
  if (!existsSync('/usr/bin/time')) throw new Error('GNU time (/usr/bin/time) is needed: apt-get install time');
  return '/usr/bin/time';
}

function leadsFile(n: number): string {
  const path = join(dir, `leads-${n}.ndjson`);
  if (existsSync(path)) return path;
  const fd = openSync(`${path}.tmp`, 'w');
  let lines: string[] = [];
  for (const lead of generateLeads(n, { invalidRatio: 0 })) {
    lines.push(JSON.stringify(lead));
    if (lines.length === 10_000) {
      writeSync(fd, `${lines.join('\n')}\n`);
      lines = [];
    }
  }
  if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
  closeSync(fd);
  spawnSync('mv', [`${path}.tmp`, path]);
  return path;
}

const pipeline = (input: string) => `name: bench-delivery
source: { type: file, path: ${JSON.stringify(input)} }
map:
  - { name: lead_id, source: id }
  - { name: email, source: email, transform: [trim, lowercase] }
  - { name: phone, source: phone, transform: digits_only }
  - { name: state, source: state, transform: uppercase }
  - { name: first_name, source: first_name }
  - { name: last_name, source: last_name }
  - { name: created_at, source: created_at }
output:
  type: file
  format: csv
  compression: { type: gzip, level: 6 }
  naming: "leads.{ext}"
  on_collision: overwrite
  destination: { type: local, path: out }
`;

function measure(time: string, args: string[]): { wall: number; rssMb: number } {
  const r = spawnSync(time, ['-f', '%e %M', ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`benchmark run failed: ${args.join(' ')}\n${r.stderr.slice(-2000)}`);
  const [wall, rssKb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
  return { wall, rssMb: rssKb / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const repeat = <T>(f: () => T): T[] => Array.from({ length: runs }, f);

const time = ensureTime();
const input = leadsFile(records);
const cli = resolve('bin/lading.js');
const data = ['--data-dir', join(dir, '.lading')];
rmSync(join(dir, '.lading'), { recursive: true, force: true });

console.log(`# lading bench — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`);

/** Miller from Debian, for the delivery peer; installed when missing and root. */
function ensureMiller(): void {
  if (spawnSync('sh', ['-c', 'command -v mlr']).status === 0) return;
  if (process.getuid?.() === 0) spawnSync('sh', ['-c', 'apt-get install -y -qq miller || (apt-get update -qq && apt-get install -y -qq miller)'], { stdio: 'inherit' });
  if (spawnSync('sh', ['-c', 'command -v mlr']).status !== 0) throw new Error('Miller (mlr) is needed for the delivery peer: apt-get install miller');
}

/** sha256 of a gzip file's decompressed bytes: the CSV the partner gets, whatever the gzip implementation. */
function csvDigest(path: string): string {
  return createHash('sha256').update(gunzipSync(readFileSync(path))).digest('hex');
}

if (want('delivery')) {
  ensureMiller();
  writeFileSync(join(dir, 'delivery.yaml'), pipeline(input));
  const results = repeat(() => measure(time, [process.execPath, cli, 'run', 'delivery.yaml', '--quiet', ...data]));
  const miller = `mlr --ijsonl --ocsv put '$lead_id=$id; $email=tolower(strip($email)); $phone=gsub($phone,"[^0-9]",""); $state=toupper($state)' then cut -o -f lead_id,email,phone,state,first_name,last_name,created_at ${JSON.stringify(input)} | gzip -6 > ${JSON.stringify(join(dir, 'mlr.csv.gz'))}`;
  const mlr = repeat(() => measure(time, ['sh', '-c', miller]));
  const node = repeat(() => measure(time, [process.execPath, resolve('bench/peers/node-delivery.mjs'), input, join(dir, 'node.csv.gz')]));
  const ours = csvDigest(join(dir, 'out', 'leads.csv.gz'));
  const identical = ours === csvDigest(join(dir, 'mlr.csv.gz')) && ours === csvDigest(join(dir, 'node.csv.gz'));
  const wall = median(results.map((r) => r.wall));
  const inputMb = statSync(input).size / 1e6;
  console.log('\n| delivery: NDJSON → 7 mapped fields → CSV → gzip -6 | records | input | wall (median) | records/s | lading ÷ peer (time) | peak RSS (median) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const row = (label: string, rs: { wall: number; rssMb: number }[]) => {
    const w = median(rs.map((r) => r.wall));
    console.log(`| ${label} | ${fmt(records)} | ${inputMb.toFixed(0)} MB | ${w.toFixed(2)} s | ${fmt(records / w)} | ${rs === results ? '—' : `${(wall / w).toFixed(2)}×`} | ${median(rs.map((r) => r.rssMb)).toFixed(0)} MB |`);
  };
  row('lading run (validate-free pipeline, checkpoints, atomic local delivery)', results);
  row('Miller 6 `mlr --ijsonl --ocsv` + `gzip -6`', mlr);
  row('hand-written Node script (readline, JSON.parse, zlib)', node);
  console.log(`\nCSV byte-identical across the three: ${identical ? 'yes' : 'NO'} (sha256 of the decompressed CSV ${ours.slice(0, 16)}…)`);
  console.log(`lading runs: ${results.map((r) => `${r.wall.toFixed(2)} s / ${r.rssMb.toFixed(0)} MB`).join(', ')}`);
}

/** BullMQ is a benchmark peer, not a dependency of lading: installed on demand next to its script. */
function ensureBullmq(): void {
  if (existsSync(resolve('bench/peers/node_modules/bullmq'))) return;
  const r = spawnSync('npm', ['install', '--prefix', resolve('bench/peers'), '--no-audit', '--no-fund', 'bullmq@6', 'ioredis@5'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not install bullmq for the executor benchmark');
}

if (want('executor')) {
  ensureBullmq();
  writeFileSync(join(dir, 'executor.yaml'), `name: bench-executor\nsource: { type: file, path: ${JSON.stringify(input)} }\noutput: { type: handler, module: ${JSON.stringify(resolve('bench/peers/noop-handler.mjs'))} }\nexecution: { chunk_size: 1000 }\n`);
  const lading = repeat(() => measure(time, [process.execPath, cli, 'run', 'executor.yaml', '--quiet', ...data]));
  const peer = (jobs: number, perJob: number) => repeat(() => measure(time, [process.execPath, resolve('bench/peers/bullmq.mjs'), input, String(jobs), String(perJob)]));
  const single = peer(Math.floor(records / 10), 1);
  const grouped = peer(Math.floor(records / 1000), 1000);
  const rate = (items: number, rs: { wall: number }[]) => items / median(rs.map((r) => r.wall));
  const ours = rate(records, lading);
  console.log('\n| executor overhead | items | wall (median) | items/s | lading ÷ peer (items/s) | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(`| lading: no-op handler, chunk 1000, checkpoint per chunk | ${fmt(records)} | ${median(lading.map((r) => r.wall)).toFixed(2)} s | ${fmt(ours)} | — | ${median(lading.map((r) => r.rssMb)).toFixed(0)} MB |`);
  for (const [label, rs, items] of [[`BullMQ 6: ${fmt(records / 10)} jobs × 1 lead`, single, Math.floor(records / 10)], [`BullMQ 6: ${fmt(records / 1000)} jobs × 1,000 leads`, grouped, Math.floor(records / 1000) * 1000]] as const) {
    console.log(`| ${label} | ${fmt(items)} | ${median(rs.map((r) => r.wall)).toFixed(2)} s | ${fmt(rate(items, rs))} | ${(ours / rate(items, rs)).toFixed(1)}× | ${median(rs.map((r) => r.rssMb)).toFixed(0)} MB |`);
  }
}
