// npm run bench [-- --records 1000000 --runs 3]
// Delivery benchmark: N synthetic leads (the demo generator) as NDJSON → 7 mapped fields → CSV →
// gzip level 6 → local folder, through the built CLI as a user runs it. Each figure is the median
// of --runs runs, measured by GNU time (wall seconds, peak RSS of the process).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateLeads } from '../src/demo/leads.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } } });
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
  if (r.status !== 0) throw new Error(`benchmark run failed: ${r.stderr}`);
  const [wall, rssKb] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
  return { wall, rssMb: rssKb / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const time = ensureTime();
const input = leadsFile(records);
writeFileSync(join(dir, 'delivery.yaml'), pipeline(input));
rmSync(join(dir, '.lading'), { recursive: true, force: true });
const cli = resolve('bin/lading.js');
const results = Array.from({ length: runs }, () => measure(time, [process.execPath, cli, 'run', 'delivery.yaml', '--quiet', '--data-dir', join(dir, '.lading')]));
const wall = median(results.map((r) => r.wall));
const rss = median(results.map((r) => r.rssMb));
const inputMb = statSync(input).size / 1e6;
const outputMb = statSync(join(dir, 'out', 'leads.csv.gz')).size / 1e6;

console.log(`# lading bench — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`);
console.log('');
console.log('| benchmark | records | input | output | wall (median) | records/s | peak RSS (median) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(`| delivery: NDJSON → map → CSV → gzip -6 → local | ${records.toLocaleString('en-US')} | ${inputMb.toFixed(0)} MB | ${outputMb.toFixed(1)} MB | ${wall.toFixed(2)} s | ${Math.round(records / wall).toLocaleString('en-US')} | ${rss.toFixed(0)} MB |`);
console.log('');
console.log(`runs: ${results.map((r) => `${r.wall.toFixed(2)} s / ${r.rssMb.toFixed(0)} MB`).join(', ')}`);
