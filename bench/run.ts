// npm run bench [-- --records 1000000 --runs 3 --ingest-requests 60000 --only delivery,delivery-remote,inbox,executor,sources,ingest,workers,store (any of them)
//   --json <file> (default docs/benchmarks.json) --compare <earlier.json> (bench/compare.ts, printed at the end)]
// delivery: N synthetic leads (the demo generator) as NDJSON → 7 mapped fields → CSV → gzip
//   level 6 → local folder, through the built CLI as a user runs it — next to Miller piped to
//   gzip -6 and a minimal hand-written Node script (bench/peers/node-delivery.mjs), whose CSV must
//   be byte-identical to lading's.
// delivery-remote: the same pipeline with only the destination changed — SFTP to a private OpenSSH
//   sshd and S3 to s3rver, both on loopback (the test suite's servers) — next to the local folder.
//   Every delivered file is read back and must match the bytes and sha256 in lading's report.
// inbox: the same leads through `lading ingest` into the inbox, then one run of an inbox pipeline
//   (same mapping and output, local folder) that delivers them as one batch.
// executor: the same N leads through a no-op handler, chunk 1000, a checkpoint per chunk, on the
//   main thread (processChunk, and process(item): a call per lead) and in handler threads
//   (output.threads: auto, concurrency 4) — next to the floor of a main-thread run, a hand-written
//   loop that only reads and parses (bench/peers/node-parse-loop.mjs), BullMQ on a loopback Redis; and on the
//   PostgreSQL store, on the main thread and in handler threads, next to pg-boss on the same
//   PostgreSQL (a scratch database). Each peer does
//   the same work as jobs of one lead (BullMQ N/10 of them, pg-boss, some 40 times slower, N/100)
//   and as N/1000 jobs of 1,000 leads (jobs added while 50 jobs at a time are worked; the peer
//   checks every job completed).
// sources: the same N leads through the no-op handler (processChunk) read from NDJSON, from CSV (the
//   nested fields flattened, 15 columns) and from one JSON array: what each reader costs.
// ingest: `lading serve` (built CLI, SQLite in the bench data folder, a key from `lading keys
//   create`) under autocannon (50 connections, loopback): --ingest-requests single-lead POSTs,
//   and a sixtieth as many NDJSON POSTs of 1,000 leads — next to two Fastify routes with nothing
//   behind them in another process (bench/peers/fastify-noop.mjs). Fixed request counts rather
//   than durations, so the store can be checked afterwards to hold exactly the records answered 202;
//   counts that keep each load over a second on a fast machine (20,000 singles and 200 bulk
//   POSTs lasted 0.3–0.9 s, and their ratios moved by a third within the hour).
// workers: the first --records leads (at most 20,000) queued with `lading run --queue` and worked by
//   1, 2 and 4 `lading worker` processes into a loopback HTTP sink answering after 20 ms (IO-bound):
//   items/s from the first worker's start to the run's end, and the scaling factor over 1 worker.
//   The store is a scratch database on LADING_TEST_POSTGRES_URL's server when set, else SQLite.
// store: the delivery case again with its store in a scratch PostgreSQL database (npm run bench finds or
//   starts one, as the tests do), next to the SQLite figure of the same invocation.
// Each figure is the median of --runs runs, measured by GNU time (wall seconds, peak RSS).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { cpus, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { generateLeads } from '../src/demo/leads.js';
import { compareRuns, readRun, type BenchRun } from './compare.js';
import { autocannonVersion, postLoad, type Load, type PostBody } from './http-load.js';
import { median } from './median.js';
import { benchPipeline, ingestValidation } from './pipelines.js';
import { openStore } from '../src/store/open.js';
import { startServe, startServer } from '../test/support/cli.js';
import { scratchDatabase } from '../test/support/postgres.js';
import { startRecordingServer } from '../test/support/servers/http.js';
import { startS3 } from '../test/support/servers/s3.js';
import { startSshd } from '../test/support/servers/sshd.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string' }, runs: { type: 'string', default: '3' }, 'ingest-requests': { type: 'string' }, only: { type: 'string' },
    quick: { type: 'boolean', default: false }, json: { type: 'string' }, compare: { type: 'string' },
  },
});
// --quick: the everyday check in under two minutes — 100k leads, and smaller loads where a case's
// time does not scale with the leads (ingest requests, worker items, pg-boss's one-lead jobs) —
// still the median of --runs runs.
values.records ??= values.quick ? '100000' : '1000000';
values['ingest-requests'] ??= values.quick ? '2500' : '60000';
// Read now, so a mistyped file fails before the leads are made and the runs take their quarter of an hour.
const earlier = values.compare === undefined ? undefined : (() => {
  try {
    return readRun(values.compare);
  } catch (error) {
    console.error(`--compare: ${(error as Error).message}`);
    process.exit(2);
  }
})();
/** Each case asks once, as it starts: so the time between two asks is the case before, printed at the end on stderr. */
const started: [string, number][] = [];
const want = (name: string): boolean => {
  started.push([name, performance.now()]);
  return values.only === undefined || values.only.split(',').includes(name);
};
process.once('exit', () => {
  const spans = started.map(([name, at], i) => [name, ((started[i + 1]?.[1] ?? performance.now()) - at) / 1000] as const).filter(([, seconds]) => seconds >= 0.5);
  process.stderr.write(`time per case: ${spans.map(([name, seconds]) => `${name} ${seconds.toFixed(0)} s`).join(', ')}\n`);
});
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

interface Measured { wall: number; rssMb: number; stdout: string }

/**
 * Asynchronous, unlike spawnSync, because s3rver lives in this process and sshd's log drains
 * into it: a blocked event loop would stall the very servers being measured.
 */
function measure(time: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Measured> {
  return new Promise((done, fail) => {
    const child = spawn(time, ['-f', '%e %M', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    child.once('error', fail);
    child.once('close', (status) => {
      if (status !== 0) return fail(new Error(`benchmark run failed: ${args.join(' ')}\n${stderr.slice(-2000)}`));
      const [wall, rssKb] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
      done({ wall, rssMb: rssKb / 1024, stdout });
    });
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** Runs one after another: concurrent runs would measure each other. */
async function repeat<T>(f: () => Promise<T>): Promise<T[]> {
  const [out] = await rounds(f);
  return out;
}

type Rounds<T extends readonly (() => Promise<unknown>)[]> = { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>>[] };

/**
 * Each measurement once per round, in turn, for `runs` rounds. Figures set side by side then share
 * the machine's state of the moment (neighbours' load, page cache, clock speed): run in blocks,
 * three of lading then three of a peer, a ratio also measured how the hour drifted between the blocks.
 */
async function rounds<T extends readonly (() => Promise<unknown>)[]>(...fs: T): Promise<Rounds<T>> {
  const out = fs.map(() => [] as unknown[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, f] of fs.entries()) out[k]!.push(await f());
  }
  return out as Rounds<T>;
}

const time = ensureTime();
const input = leadsFile(records);
const cli = resolve('bin/lading.js');
const data = ['--data-dir', join(dir, '.lading')];
rmSync(join(dir, '.lading'), { recursive: true, force: true });

const heading = `lading bench — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
console.log(`# ${heading}`);
recordTables(values.json ?? resolve('docs/benchmarks.json'), heading, earlier);

/** Miller from Debian, for the delivery peer; installed when missing and root. */
function ensureMiller(): void {
  if (spawnSync('sh', ['-c', 'command -v mlr']).status === 0) return;
  if (process.getuid?.() === 0) spawnSync('sh', ['-c', 'apt-get install -y -qq miller || (apt-get update -qq && apt-get install -y -qq miller)'], { stdio: 'inherit' });
  if (spawnSync('sh', ['-c', 'command -v mlr']).status !== 0) throw new Error('Miller (mlr) is needed for the delivery peer: apt-get install miller');
}

/** sha256 of gzip bytes once decompressed: the CSV the partner gets, whatever the gzip implementation. */
function csvDigest(gz: Buffer): string {
  return createHash('sha256').update(gunzipSync(gz)).digest('hex');
}

const wallOf = (rs: readonly { wall: number }[]) => median(rs.map((r) => r.wall));
const rssOf = (rs: readonly { rssMb: number }[]) => median(rs.map((r) => r.rssMb));
const lastJsonLine = <T>(stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as T;

const fileSource = `{ type: file, path: ${JSON.stringify(input)} }`;
/** What `naming: "leads.{ext}"` produces. */
const deliveredName = 'leads.csv.gz';

/** Where a pipeline delivers, and how the benchmark reads back what arrived there. */
interface Destination {
  readonly yaml: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The delivered bytes, read from the destination itself, never from lading's staging folder. */
  fetch(name: string): Promise<Buffer>;
  /** Without this, a run whose upload silently failed would be checked against the previous run's file. */
  remove(name: string): Promise<void>;
}

const folder = (path: string): Destination => ({
  yaml: `{ type: local, path: ${JSON.stringify(path)} }`,
  fetch: async (name) => readFileSync(resolve(dir, path, name)),
  remove: async (name) => rmSync(resolve(dir, path, name), { force: true }),
});

interface Delivered extends Measured {
  /** Compressed bytes delivered. */
  bytes: number;
  /** csvDigest of the delivered file. */
  csv: string;
}

interface RunReport {
  status: string;
  summary: { succeeded: number };
  artifacts: { files: { name: string; bytes: number; sha256: string }[] };
}

/** One timed `lading run`; a figure counts only if the destination holds exactly the file lading reported. */
async function ladingRun(yamlFile: string, to: Destination, dataArgs = data): Promise<Delivered> {
  const r = await measure(time, [process.execPath, cli, 'run', yamlFile, '--quiet', '--json', ...dataArgs], to.env);
  const report = lastJsonLine<RunReport>(r.stdout);
  const [file, ...more] = report.artifacts.files;
  if (report.status !== 'completed' || report.summary.succeeded !== records || !file || more.length > 0) {
    throw new Error(`${yamlFile}: expected one file of ${records} records, got ${JSON.stringify({ status: report.status, summary: report.summary, files: report.artifacts.files })}`);
  }
  const got = await to.fetch(file.name);
  const sha256 = createHash('sha256').update(got).digest('hex');
  if (got.length !== file.bytes || sha256 !== file.sha256) {
    throw new Error(`${yamlFile}: the destination holds ${got.length} bytes sha256 ${sha256}; lading reported ${file.bytes} bytes sha256 ${file.sha256}`);
  }
  return { ...r, bytes: file.bytes, csv: csvDigest(got) };
}

/** One timed delivery run to `to`, its pipeline written once. */
function delivery(name: string, to: Destination): () => Promise<Delivered> {
  writeFileSync(join(dir, `${name}.yaml`), benchPipeline(name, fileSource, to.yaml));
  return async () => {
    await to.remove(deliveredName);
    return ladingRun(`${name}.yaml`, to);
  };
}

const deliveries = (name: string, to: Destination): Promise<Delivered[]> => repeat(delivery(name, to));

// Shared by every case that shows the local-folder figure, so a full run measures it once and
// each comparison uses figures from the same invocation.
let localRuns: Promise<Delivered[]> | undefined;
const localDeliveries = () => (localRuns ??= deliveries('bench-delivery', folder('out')));

if (want('delivery')) {
  ensureMiller();
  const miller = `mlr --ijsonl --ocsv put '$lead_id=$id; $email=tolower(strip($email)); $phone=gsub($phone,"[^0-9]",""); $state=toupper($state)' then cut -o -f lead_id,email,phone,state,first_name,last_name,created_at ${JSON.stringify(input)} | gzip -6 > ${JSON.stringify(join(dir, 'mlr.csv.gz'))}`;
  const [results, mlr, node] = await rounds(
    delivery('bench-delivery', folder('out')),
    () => measure(time, ['sh', '-c', miller]),
    () => measure(time, [process.execPath, resolve('bench/peers/node-delivery.mjs'), input, join(dir, 'node.csv.gz')]),
  );
  localRuns = Promise.resolve(results);
  const ours = results[0]!.csv;
  const identical = ours === csvDigest(readFileSync(join(dir, 'mlr.csv.gz'))) && ours === csvDigest(readFileSync(join(dir, 'node.csv.gz')));
  const wall = wallOf(results);
  const inputMb = statSync(input).size / 1e6;
  console.log('\n| delivery: NDJSON → 7 mapped fields → CSV → gzip -6 | records | input | wall (median) | records/s | lading ÷ peer (time) | peak RSS (median) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const row = (label: string, rs: Measured[]) => {
    const w = wallOf(rs);
    console.log(`| ${label} | ${fmt(records)} | ${inputMb.toFixed(0)} MB | ${w.toFixed(2)} s | ${fmt(records / w)} | ${rs === results ? '—' : `${(wall / w).toFixed(2)}×`} | ${rssOf(rs).toFixed(0)} MB |`);
  };
  row('lading run (validate-free pipeline, checkpoints, atomic local delivery)', results);
  row('Miller 6 `mlr --ijsonl --ocsv` + `gzip -6`', mlr);
  row('hand-written Node script (readline, JSON.parse, zlib)', node);
  console.log(`\nCSV byte-identical across the three: ${identical ? 'yes' : 'NO'} (sha256 of the decompressed CSV ${ours.slice(0, 16)}…)`);
  console.log(`lading runs: ${runsLine(results)}`);
}

if (want('store')) {
  // The same 1M-lead delivery, its checkpoints and report in a scratch PostgreSQL database instead of the SQLite file.
  if (!process.env.LADING_TEST_POSTGRES_URL) throw new Error('the store case needs a PostgreSQL: run it through npm run bench, which finds or starts one');
  const local = await localDeliveries();
  const scratch = await scratchDatabase();
  let pg: Delivered[];
  try {
    writeFileSync(join(dir, 'bench-delivery-pg.yaml'), benchPipeline('bench-delivery-pg', fileSource, folder('out-pg').yaml));
    pg = await repeat(async () => {
      await folder('out-pg').remove(deliveredName);
      return ladingRun('bench-delivery-pg.yaml', folder('out-pg'), ['--data-dir', join(dir, '.lading-pg'), '--db', scratch.url]);
    });
  } finally {
    await scratch.drop();
  }
  console.log('\n| store: the delivery case with its runs, checkpoints and report in … | records | wall (median) | records/s | ÷ SQLite (time) | peak RSS (median) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(`| SQLite file (the embedded default) | ${fmt(records)} | ${wallOf(local).toFixed(2)} s | ${fmt(records / wallOf(local))} | — | ${rssOf(local).toFixed(0)} MB |`);
  console.log(`| PostgreSQL on loopback | ${fmt(records)} | ${wallOf(pg).toFixed(2)} s | ${fmt(records / wallOf(pg))} | ${(wallOf(pg) / wallOf(local)).toFixed(2)}× | ${rssOf(pg).toFixed(0)} MB |`);
}

function runsLine(rs: readonly Measured[]): string {
  return rs.map((r) => `${r.wall.toFixed(2)} s / ${r.rssMb.toFixed(0)} MB`).join(', ');
}

/** OpenSSH's sshd for the SFTP figure, through the test suite's installer (which also creates /run/sshd). */
function ensureSshd(): string {
  if (spawnSync('bash', [resolve('scripts/ensure-sshd.sh')], { stdio: 'inherit' }).status !== 0) throw new Error('OpenSSH sshd is needed for the SFTP figure: bash scripts/ensure-sshd.sh');
  return spawnSync('/usr/sbin/sshd', ['-V'], { encoding: 'utf8' }).stderr.split(',')[0]!.trim().replace('_', ' ');
}

if (want('delivery-remote')) {
  const sshdVersion = ensureSshd();
  const sshd = await startSshd();
  const s3 = await startS3();
  try {
    const local = await localDeliveries();
    const sftp = await deliveries('bench-delivery-sftp', {
      ...folder(sshd.root),
      yaml: `{ type: sftp, host: ${sshd.host}, port: ${sshd.port}, username: ${sshd.username}, private_key_file: ${JSON.stringify(sshd.privateKeyPath)}, host_key: ${JSON.stringify(sshd.hostKeyFingerprint)}, remote_path: ${JSON.stringify(sshd.root)} }`,
    });
    const objects = await deliveries('bench-delivery-s3', {
      yaml: `{ type: s3, bucket: ${s3.bucket}, endpoint: ${JSON.stringify(s3.url)}, force_path_style: true, access_key_id: "\${env:BENCH_S3_ACCESS_KEY_ID}", secret_access_key: "\${env:BENCH_S3_SECRET_ACCESS_KEY}" }`,
      env: { ...process.env, BENCH_S3_ACCESS_KEY_ID: s3.accessKeyId, BENCH_S3_SECRET_ACCESS_KEY: s3.secretAccessKey },
      fetch: (name) => s3.read(name),
      remove: async (name) => { await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: name })); },
    });
    const s3rverVersion = (createRequire(import.meta.url)('s3rver/package.json') as { version: string }).version;
    const localWall = wallOf(local);
    console.log('\n| delivery: NDJSON → 7 mapped fields → CSV → gzip -6 → destination | records | output | wall (median) | MB/s (compressed) | records/s | lading ÷ local (time) | peak RSS (median) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    const row = (label: string, rs: Delivered[]) => {
      const w = wallOf(rs);
      const mb = median(rs.map((r) => r.bytes)) / 1e6;
      console.log(`| ${label} | ${fmt(records)} | ${mb.toFixed(1)} MB | ${w.toFixed(2)} s | ${(mb / w).toFixed(2)} | ${fmt(records / w)} | ${rs === local ? '—' : `${(w / localWall).toFixed(2)}×`} | ${rssOf(rs).toFixed(0)} MB |`);
    };
    row('local folder', local);
    row(`SFTP: ${sshdVersion} sshd on loopback, internal-sftp`, sftp);
    row(`S3-compatible: s3rver ${s3rverVersion} on loopback, in the bench process`, objects);
    const digests = new Set([...local, ...sftp, ...objects].map((r) => r.csv));
    console.log(`\nEvery delivered file read back from its destination: bytes and sha256 match lading's report (${local.length + sftp.length + objects.length} runs checked)`);
    console.log(`CSV byte-identical across the three destinations: ${digests.size === 1 ? 'yes' : 'NO'} (sha256 of the decompressed CSV ${local[0]!.csv.slice(0, 16)}…)`);
    console.log(`lading runs: local ${runsLine(local)}; sftp ${runsLine(sftp)}; s3 ${runsLine(objects)}`);
  } finally {
    await Promise.all([sshd.stop(), s3.stop()]);
  }
}

if (want('inbox')) {
  const store = join(dir, '.lading-inbox');
  const to = folder('out-inbox');
  writeFileSync(join(dir, 'bench-inbox.yaml'), benchPipeline('bench-inbox', '{ type: inbox }', to.yaml));
  const rounds = await repeat(async () => {
    // A fresh store per round: otherwise the second ingest would only count duplicates of the first.
    rmSync(store, { recursive: true, force: true });
    await to.remove(deliveredName);
    const ingest = await measure(time, [process.execPath, cli, 'ingest', 'bench-inbox', input, '--key-field', 'id', '--json', '--data-dir', store]);
    const counts = lastJsonLine<{ accepted: number; pending: number }>(ingest.stdout);
    if (counts.accepted !== records || counts.pending !== records) throw new Error(`lading ingest: expected ${records} records accepted and pending, got ${JSON.stringify(counts)}`);
    const run = await ladingRun('bench-inbox.yaml', to, ['--data-dir', store]);
    return { ingest, run, both: { wall: ingest.wall + run.wall, rssMb: Math.max(ingest.rssMb, run.rssMb) } };
  });
  const local = await localDeliveries();
  console.log('\n| inbox path: NDJSON → lading ingest → inbox run → CSV → gzip -6 → local folder | records | wall (median) | records/s | peak RSS (median) |');
  console.log('| --- | --- | --- | --- | --- |');
  const row = (label: string, rs: readonly { wall: number; rssMb: number }[]) => {
    console.log(`| ${label} | ${fmt(records)} | ${wallOf(rs).toFixed(2)} s | ${fmt(records / wallOf(rs))} | ${rssOf(rs).toFixed(0)} MB |`);
  };
  row('`lading ingest --key-field id` (commits of 5,000)', rounds.map((r) => r.ingest));
  row('`lading run` of the inbox pipeline (one batch)', rounds.map((r) => r.run));
  row('ingest + run', rounds.map((r) => r.both));
  row('`lading run` from the file (the delivery case, same invocation)', local);
  const identical = rounds.every((r) => r.run.csv === local[0]!.csv);
  console.log(`\nDelivered file read back: bytes and sha256 match lading's report; CSV byte-identical to the file-source delivery: ${identical ? 'yes' : 'NO'}`);
  console.log(`lading runs (ingest + run): ${rounds.map((r) => `${r.ingest.wall.toFixed(2)} s + ${r.run.wall.toFixed(2)} s`).join(', ')}`);
}

/** BullMQ is a benchmark peer, not a dependency of lading: installed on demand next to its script. */
function ensureBullmq(): void {
  if (existsSync(resolve('bench/peers/node_modules/bullmq'))) return;
  const r = spawnSync('npm', ['install', '--prefix', resolve('bench/peers'), '--no-audit', '--no-fund', 'bullmq@6', 'ioredis@5'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not install bullmq for the executor benchmark');
}

/** pg-boss likewise; 10 is its last major that runs on Node 20 (11 wants Node 22). */
function ensurePgBoss(): void {
  if (existsSync(resolve('bench/peers/node_modules/pg-boss'))) return;
  const r = spawnSync('npm', ['install', '--prefix', resolve('bench/peers'), '--no-audit', '--no-fund', 'pg-boss@10'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not install pg-boss for the executor benchmark');
}

if (want('executor')) {
  if (!process.env.LADING_TEST_POSTGRES_URL) throw new Error('the executor case needs a PostgreSQL for pg-boss: run it through npm run bench, which finds or starts one');
  ensureBullmq();
  ensurePgBoss();
  const executorYaml = (output: string, execution: string, handler = 'noop-handler.mjs') =>
    `name: bench-executor\nsource: { type: file, path: ${JSON.stringify(input)} }\noutput: { type: handler, module: ${JSON.stringify(resolve('bench/peers', handler))}${output} }\nexecution: { chunk_size: 1000${execution} }\n`;
  writeFileSync(join(dir, 'executor.yaml'), executorYaml('', ''));
  // The same handler in lading's worker threads (output.threads), with chunks enough in flight to keep them busy.
  writeFileSync(join(dir, 'executor-threads.yaml'), executorYaml(', threads: auto', ', concurrency: 4'));
  // A call per lead, as a BullMQ job of one lead is: process(item) instead of processChunk.
  writeFileSync(join(dir, 'executor-item.yaml'), executorYaml('', '', 'noop-item-handler.mjs'));
  const bullOneLeadJobs = Math.floor(records / 10);
  const bullmq = (jobs: number, perJob: number) => () => measure(time, [process.execPath, resolve('bench/peers/bullmq.mjs'), input, String(jobs), String(perJob)]);
  const [lading, ladingThreads, ladingItem, loop, single, grouped] = await rounds(
    () => measure(time, [process.execPath, cli, 'run', 'executor.yaml', '--quiet', ...data]),
    () => measure(time, [process.execPath, cli, 'run', 'executor-threads.yaml', '--quiet', ...data]),
    () => measure(time, [process.execPath, cli, 'run', 'executor-item.yaml', '--quiet', ...data]),
    // The floor on one thread: what any main-thread run must spend reading and parsing the leads.
    () => measure(time, [process.execPath, resolve('bench/peers/node-parse-loop.mjs'), input, resolve('bench/peers/noop-handler.mjs')]),
    bullmq(bullOneLeadJobs, 1),
    bullmq(Math.floor(records / 1000), 1000),
  );
  // pg-boss runs ~250 one-lead jobs/s on these machines: a hundredth of the leads (10,000 jobs at
  // 1M, ~40 s a run) measures its rate as well as BullMQ's tenth does, where a tenth took ~6 min
  // a run; --quick gives it 250.
  const pgOneLeadJobs = Math.floor(records / (values.quick ? 400 : 100));
  // pg-boss in a scratch database of its own, its schema created once before the timed runs; each run uses a queue of its own.
  const scratch = await scratchDatabase();
  let pgSingle: Measured[];
  let pgGrouped: Measured[];
  let ladingPg: Measured[];
  let ladingPgThreads: Measured[];
  try {
    const prepared = spawnSync(process.execPath, [resolve('bench/peers/pgboss.mjs'), scratch.url, '--prepare'], { encoding: 'utf8' });
    if (prepared.status !== 0) throw new Error(`pg-boss could not create its schema: ${prepared.stderr}`);
    const pgboss = (jobs: number, perJob: number) => () => measure(time, [process.execPath, resolve('bench/peers/pgboss.mjs'), scratch.url, input, String(jobs), String(perJob)]);
    // lading on the same database: the issue's target compares its PostgreSQL store with pg-boss.
    const onPg = (yaml: string) => () => measure(time, [process.execPath, cli, 'run', yaml, '--quiet', '--data-dir', join(dir, '.lading-executor-pg'), '--db', scratch.url]);
    [ladingPg, ladingPgThreads, pgSingle, pgGrouped] = await rounds(
      onPg('executor.yaml'),
      onPg('executor-threads.yaml'),
      pgboss(pgOneLeadJobs, 1),
      pgboss(Math.floor(records / 1000), 1000),
    );
  } finally {
    await scratch.drop();
  }
  const rate = (items: number, rs: Measured[]) => items / wallOf(rs);
  console.log('\n| executor overhead | items | wall (median) | items/s | lading ÷ peer (items/s) | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  // BullMQ is set against lading on its embedded SQLite store, pg-boss against lading on the same PostgreSQL.
  // A call per lead is measured on SQLite only: set against BullMQ's one-lead jobs, it says what a call costs.
  for (const [store, ours, threaded, perItem, floor, peer, oneLead, one, thousand] of [
    ['SQLite', lading, ladingThreads, ladingItem, loop, 'BullMQ 6', bullOneLeadJobs, single, grouped],
    ['PostgreSQL', ladingPg, ladingPgThreads, undefined, undefined, 'pg-boss 10', pgOneLeadJobs, pgSingle, pgGrouped],
  ] as const) {
    console.log(`| lading (${store} store): no-op handler, chunk 1000, checkpoint per chunk | ${fmt(records)} | ${wallOf(ours).toFixed(2)} s | ${fmt(rate(records, ours))} | — | ${rssOf(ours).toFixed(0)} MB |`);
    console.log(`| lading (${store} store): the same, handler in threads (\`threads: auto\`, concurrency 4) | ${fmt(records)} | ${wallOf(threaded).toFixed(2)} s | ${fmt(rate(records, threaded))} | — | ${rssOf(threaded).toFixed(0)} MB |`);
    if (perItem) console.log(`| lading (SQLite store): the same, a call per lead (\`process(item)\`) | ${fmt(records)} | ${wallOf(perItem).toFixed(2)} s | ${fmt(rate(records, perItem))} | — | ${rssOf(perItem).toFixed(0)} MB |`);
    const rows: [string, Measured[], number][] = [];
    if (floor) rows.push(['hand-written loop, one thread: read, split, `JSON.parse`, chunks of 1,000 to the same handler (no store, no checkpoints, no ids)', floor, records]);
    rows.push([`${peer}: ${fmt(oneLead)} jobs × 1 lead`, one, oneLead], [`${peer}: ${fmt(records / 1000)} jobs × 1,000 leads`, thousand, Math.floor(records / 1000) * 1000]);
    for (const [label, rs, items] of rows) {
      // Against the floor lading runs at about 1×, where a tenth is too coarse to read.
      const ratio = (mine: Measured[]) => `${(rate(records, mine) / rate(items, rs)).toFixed(rs === floor ? 2 : 1)}×`;
      const others = [`in threads: ${ratio(threaded)}`, ...(perItem ? [`a call per lead: ${ratio(perItem)}`] : [])];
      console.log(`| ${label} | ${fmt(items)} | ${wallOf(rs).toFixed(2)} s | ${fmt(rate(items, rs))} | ${ratio(ours)} (${others.join('; ')}) | ${rssOf(rs).toFixed(0)} MB |`);
    }
  }
}

/** The bench's leads in another input format, made once from the NDJSON file: CSV (nested fields flattened) or one JSON array. */
async function leadsAs(format: 'csv' | 'json'): Promise<string> {
  const path = input.replace(/\.ndjson$/, `.${format}`);
  if (existsSync(path)) return path;
  const columns = ['id', 'first_name', 'last_name', 'email', 'phone', 'state', 'city', 'source', 'score', 'consent', 'created_at', 'notes', 'street', 'zip', 'ip'];
  const quote = (v: unknown) => {
    const text = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const fd = openSync(`${path}.tmp`, 'w');
  let out: string[] = [format === 'csv' ? columns.join(',') : '['];
  let first = true;
  for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
    if (line === '') continue;
    if (format === 'json') {
      out.push(`${first ? '' : ','}${line}`);
    } else {
      const lead = JSON.parse(line) as Record<string, unknown> & { address: Record<string, unknown>; meta: Record<string, unknown> };
      const flat: Record<string, unknown> = { ...lead, street: lead.address.street, zip: lead.address.zip, ip: lead.meta.ip };
      out.push(columns.map((c) => quote(flat[c])).join(','));
    }
    first = false;
    if (out.length >= 10_000) {
      writeSync(fd, `${out.join('\n')}\n`);
      out = [];
    }
  }
  if (format === 'json') out.push(']');
  writeSync(fd, `${out.join('\n')}\n`);
  closeSync(fd);
  spawnSync('mv', [`${path}.tmp`, path]);
  return path;
}

if (want('sources')) {
  const formats = [['NDJSON', input], ['CSV', await leadsAs('csv')], ['JSON array', await leadsAs('json')]] as const;
  for (const [name, path] of formats) {
    writeFileSync(join(dir, `source-${name.split(' ')[0]!.toLowerCase()}.yaml`), `name: bench-source\nsource: { type: file, path: ${JSON.stringify(path)} }\noutput: { type: handler, module: ${JSON.stringify(resolve('bench/peers/noop-handler.mjs'))} }\nexecution: { chunk_size: 1000 }\n`);
  }
  const measured = await rounds(...formats.map(([name]) => () => measure(time, [process.execPath, cli, 'run', `source-${name.split(' ')[0]!.toLowerCase()}.yaml`, '--quiet', ...data])));
  const ndjson = wallOf(measured[0]!);
  console.log('\n| sources: the leads through the no-op handler, read from … | input | wall (median) | records/s | ÷ NDJSON (time) | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [i, [name, path]] of formats.entries()) {
    const rs = measured[i]!;
    console.log(`| ${name} | ${(statSync(path).size / 1e6).toFixed(0)} MB | ${wallOf(rs).toFixed(2)} s | ${fmt(records / wallOf(rs))} | ${i === 0 ? '—' : `${(wallOf(rs) / ndjson).toFixed(2)}×`} | ${rssOf(rs).toFixed(0)} MB |`);
  }
}

if (want('ingest')) {
  const fastifyVersion = (createRequire(import.meta.url)('fastify/package.json') as { version: string }).version;
  const singles = Number(values['ingest-requests']);
  const bulks = Math.max(values.quick ? 20 : 50, Math.floor(singles / 60));
  const home = join(dir, '.lading-serve');
  rmSync(home, { recursive: true, force: true });
  for (const name of ['bench-ingest-one', 'bench-ingest-bulk']) {
    writeFileSync(join(dir, `${name}.yaml`), benchPipeline(name, '{ type: inbox }', folder('out-serve').yaml) + ingestValidation);
  }
  const keyFor = (storeArgs: string[]): string => {
    const created = spawnSync(process.execPath, [cli, 'keys', 'create', '--owner', 'bench', '--scope', 'ingest:*', ...storeArgs], { cwd: dir, encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`lading keys create failed: ${created.stderr}`);
    return created.stdout.trim();
  };
  const key = keyFor(['--data-dir', home]);
  const leads = [...generateLeads(1000, { invalidRatio: 0 })].map((lead) => JSON.stringify(lead));
  const one = { body: leads[0]!, type: 'application/json' };
  const bulk = { body: `${leads.join('\n')}\n`, type: 'application/x-ndjson' };

  const serve = await startServe(['bench-ingest-one.yaml', 'bench-ingest-bulk.yaml', '--data-dir', home, '--no-scheduler'], { cwd: dir });
  const peer = await startServer([resolve('bench/peers/fastify-noop.mjs')]);
  const load = (url: string, request: PostBody, amount: number, server = serve, bearer = key): Promise<Load> =>
    postLoad(url, request, amount, bearer, () => server.stderr().slice(-2000));
  let rounds: { ladingOne: Load; peerOne: Load; ladingBulk: Load; peerBulk: Load }[];
  // A tenth of a round first, not counted, so both servers are measured past V8's warm-up.
  const warmOne = Math.max(250, Math.floor(singles / 10));
  const warmBulk = values.quick ? 10 : 50;
  try {
    await load(`${serve.url}/v1/pipelines/bench-ingest-one/records`, one, warmOne);
    await load(`${peer.url}/lead`, one, warmOne);
    await load(`${serve.url}/v1/pipelines/bench-ingest-bulk/records`, bulk, warmBulk);
    await load(`${peer.url}/bulk`, bulk, warmBulk);
    rounds = await repeat(async () => ({
      ladingOne: await load(`${serve.url}/v1/pipelines/bench-ingest-one/records`, one, singles),
      peerOne: await load(`${peer.url}/lead`, one, singles),
      ladingBulk: await load(`${serve.url}/v1/pipelines/bench-ingest-bulk/records`, bulk, bulks),
      peerBulk: await load(`${peer.url}/bulk`, bulk, bulks),
    }));
  } finally {
    serve.child.kill('SIGTERM');
    peer.child.kill('SIGTERM');
  }
  if (await serve.exited !== 0) throw new Error(`lading serve did not stop cleanly: ${serve.stderr().slice(-2000)}`);
  await peer.exited;

  const store = await openStore(join(home, 'lading.db'));
  const stored = { one: (await store.inboxStats('bench-ingest-one')).pending, bulk: (await store.inboxStats('bench-ingest-bulk')).pending };
  await store.close();
  const expected = { one: warmOne + runs * singles, bulk: (warmBulk + runs * bulks) * leads.length };
  if (stored.one !== expected.one || stored.bulk !== expected.bulk) {
    throw new Error(`the store holds ${stored.one} single and ${stored.bulk} bulk records; ${expected.one} and ${expected.bulk} were answered 202`);
  }

  // Over the whole load rather than autocannon's per-second samples, which a short load leaves too few of.
  const reqs = (pick: (r: (typeof rounds)[number]) => Load) => median(rounds.map((r) => pick(r)['2xx'] / pick(r).duration));
  const p99 = (pick: (r: (typeof rounds)[number]) => Load) => median(rounds.map((r) => pick(r).latency.p99));
  console.log(`\n| ingest over HTTP, loopback, autocannon ${autocannonVersion} -c 50 | requests | req/s (median) | records/s | p99 latency (median) | lading ÷ peer (throughput) |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  const row = (label: string, pick: (r: (typeof rounds)[number]) => Load, amount: number, perRequest: number, peerPick?: (r: (typeof rounds)[number]) => Load) => {
    const ratio = peerPick === undefined ? '—' : `${(reqs(pick) / reqs(peerPick)).toFixed(2)}×`;
    console.log(`| ${label} | ${fmt(amount)} | ${fmt(reqs(pick))} | ${fmt(reqs(pick) * perRequest)} | ${p99(pick).toFixed(0)} ms | ${ratio} |`);
  };
  row('lading serve: one lead per POST (auth, validate, group commit to SQLite before the 202)', (r) => r.ladingOne, singles, 1, (r) => r.peerOne);
  row(`Fastify ${fastifyVersion} no-op route: one lead, answers 202`, (r) => r.peerOne, singles, 1);
  row('lading serve: NDJSON, 1,000 leads per POST', (r) => r.ladingBulk, bulks, leads.length, (r) => r.peerBulk);
  row(`Fastify ${fastifyVersion} route that JSON.parses each NDJSON line, answers 202`, (r) => r.peerBulk, bulks, leads.length);
  console.log(`\nThe store holds exactly the records answered 202: ${fmt(stored.one)} single, ${fmt(stored.bulk)} bulk (${runs} rounds)`);

  // The same load on a PostgreSQL store (a scratch database), when one is at hand.
  if (process.env.LADING_TEST_POSTGRES_URL) {
    const scratch = await scratchDatabase();
    try {
      const pgArgs = ['--data-dir', `${home}-pg`, '--db', scratch.url];
      const pgKey = keyFor(pgArgs);
      const pgServe = await startServe(['bench-ingest-one.yaml', 'bench-ingest-bulk.yaml', ...pgArgs, '--no-scheduler'], { cwd: dir });
      let pgRounds: { one: Load; bulk: Load }[];
      try {
        await load(`${pgServe.url}/v1/pipelines/bench-ingest-one/records`, one, warmOne, pgServe, pgKey);
        await load(`${pgServe.url}/v1/pipelines/bench-ingest-bulk/records`, bulk, warmBulk, pgServe, pgKey);
        pgRounds = await repeat(async () => ({
          one: await load(`${pgServe.url}/v1/pipelines/bench-ingest-one/records`, one, singles, pgServe, pgKey),
          bulk: await load(`${pgServe.url}/v1/pipelines/bench-ingest-bulk/records`, bulk, bulks, pgServe, pgKey),
        }));
      } finally {
        pgServe.child.kill('SIGTERM');
      }
      if (await pgServe.exited !== 0) throw new Error(`lading serve (PostgreSQL) did not stop cleanly: ${pgServe.stderr().slice(-2000)}`);
      const pgStore = await openStore(scratch.url);
      const pgStored = { one: (await pgStore.inboxStats('bench-ingest-one')).pending, bulk: (await pgStore.inboxStats('bench-ingest-bulk')).pending };
      await pgStore.close();
      if (pgStored.one !== expected.one || pgStored.bulk !== expected.bulk) {
        throw new Error(`the PostgreSQL store holds ${pgStored.one} single and ${pgStored.bulk} bulk records; ${expected.one} and ${expected.bulk} were answered 202`);
      }
      const rate = (pick: (r: (typeof pgRounds)[number]) => Load) => median(pgRounds.map((r) => pick(r)['2xx'] / pick(r).duration));
      const late = (pick: (r: (typeof pgRounds)[number]) => Load) => median(pgRounds.map((r) => pick(r).latency.p99));
      console.log('\n| ingest into a PostgreSQL store (loopback), same load | requests | req/s (median) | records/s | p99 latency (median) | ÷ SQLite (throughput) |');
      console.log('| --- | --- | --- | --- | --- | --- |');
      console.log(`| one lead per POST | ${fmt(singles)} | ${fmt(rate((r) => r.one))} | ${fmt(rate((r) => r.one))} | ${late((r) => r.one).toFixed(0)} ms | ${(rate((r) => r.one) / reqs((r) => r.ladingOne)).toFixed(2)}× |`);
      console.log(`| NDJSON, 1,000 leads per POST | ${fmt(bulks)} | ${fmt(rate((r) => r.bulk))} | ${fmt(rate((r) => r.bulk) * leads.length)} | ${late((r) => r.bulk).toFixed(0)} ms | ${(rate((r) => r.bulk) / reqs((r) => r.ladingBulk)).toFixed(2)}× |`);
      console.log(`The PostgreSQL store holds exactly the records answered 202: ${fmt(pgStored.one)} single, ${fmt(pgStored.bulk)} bulk`);
    } finally {
      await scratch.drop();
    }
  }
}

/** Wall seconds for `workers` processes to finish a queued job: from their start to the run's end in the store. */
async function workedJob(workers: number, items: number): Promise<number> {
  const server = await startRecordingServer(() => ({ status: 200, body: { ok: true }, delayMs: 20 }));
  const scratch = process.env.LADING_TEST_POSTGRES_URL ? await scratchDatabase() : undefined;
  const home = join(dir, `.workers-${workers}`);
  rmSync(home, { recursive: true, force: true });
  const db = ['--data-dir', home, ...(scratch ? ['--db', scratch.url] : [])];
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    writeFileSync(join(dir, 'workers.ndjson'), readFileSync(input, 'utf8').split('\n').slice(0, items).join('\n') + '\n');
    writeFileSync(join(dir, 'workers.yaml'), `name: bench-workers\nsource: { type: file, path: workers.ndjson }\noutput: { type: http, url: "${server.url}/leads", batch_size: 10 }\nexecution: { chunk_size: 100, concurrency: 4 }\n`);
    const queued = spawnSync(process.execPath, [cli, 'run', '--queue', 'workers.yaml', '--json', ...db], { cwd: dir, encoding: 'utf8' });
    if (queued.status !== 0) throw new Error(`lading run --queue failed: ${queued.stderr}`);
    const runId = (JSON.parse(queued.stdout) as { job_id: string }).job_id;
    const started = performance.now();
    for (let i = 0; i < workers; i++) procs.push(spawn(process.execPath, [cli, 'worker', '--concurrency', '2', '--lease', '10s', ...db], { cwd: dir, stdio: 'ignore' }));
    // Polled in this process: a spawnSync here would stall the sink server living in it too.
    const store = await openStore(scratch?.url ?? join(home, 'lading.db'));
    try {
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const status = (await store.getRun(runId))?.status;
        if (status !== 'queued' && status !== 'running') {
          if (status !== 'completed') throw new Error(`the workers' job ended ${status}`);
          return (performance.now() - started) / 1000;
        }
      }
    } finally {
      await store.close();
    }
  } finally {
    const exited = procs.map((p) => new Promise((resolve) => p.on('close', resolve)));
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(exited);
    await server.stop();
    await scratch?.drop();
  }
}

if (want('workers')) {
  // --quick: 1,000 items, where process start-up weighs most of the scaling; the full run's 20,000 is the figure to quote.
  const items = Math.min(records, values.quick ? 1_000 : 20_000);
  const results: { workers: number; wall: number }[] = [];
  for (const workers of [1, 2, 4]) {
    const walls: number[] = [];
    for (let r = 0; r < runs; r++) walls.push(await workedJob(workers, items));
    results.push({ workers, wall: median(walls) });
  }
  const base = items / results[0]!.wall;
  console.log(`\n| workers: ${fmt(items)} leads → HTTP sink answering after 20 ms (batch 10, chunk 100), ${process.env.LADING_TEST_POSTGRES_URL ? 'PostgreSQL' : 'SQLite'} store | wall (median) | items/s | scaling |`);
  console.log('| --- | --- | --- | --- |');
  for (const { workers, wall } of results) console.log(`| ${workers} × \`lading worker --concurrency 2\` | ${wall.toFixed(2)} s | ${fmt(items / wall)} | ${(items / wall / base).toFixed(2)}× |`);
}

/**
 * Every table the cases print is also kept as JSON (beside docs/benchmarks.md by default, or
 * --json <file>), written when the process ends, so two runs can be compared by a program.
 */
function recordTables(file: string, heading: string, earlier?: BenchRun): void {
  const tables: { title: string; columns: string[]; rows: string[][] }[] = [];
  const notes: string[] = [];
  const cells = (line: string) => line.slice(1, -1).split(' | ').map((c) => c.trim());
  const print = console.log.bind(console);
  // Each case prints its table header after a blank line, then a separator row, then its rows.
  let afterBlank = true;
  console.log = (...args: unknown[]) => {
    print(...args);
    for (const line of args.map(String).join(' ').split('\n')) {
      if (line.trim() === '') {
        afterBlank = true;
        continue;
      }
      if (!line.startsWith('|')) {
        if (!line.startsWith('#')) notes.push(line.trim());
      } else if (afterBlank || tables.length === 0) {
        const [title, ...columns] = cells(line);
        tables.push({ title: title!, columns, rows: [] });
      } else if (!/^\|[ -|]+\|$/.test(line)) {
        tables.at(-1)!.rows.push(cells(line));
      }
      afterBlank = false;
    }
  };
  process.once('exit', (code) => {
    if (code !== 0) return;
    const run: BenchRun = { heading, args: process.argv.slice(2), tables, notes };
    writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
    if (earlier !== undefined) print(`\n${compareRuns(earlier, run).join('\n')}`);
  });
}
