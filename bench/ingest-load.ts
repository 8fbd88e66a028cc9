// Alternating ingest loads, for measuring one change by hand: `lading serve` builds (and the
// bench's no-op Fastify route) loaded in turn, round after round, so that each figure is set
// against the others' under the same conditions of a noisy machine. Besides req/s it reports what
// each server spent a request: CPU of its event loop and of its other threads (the ingest writer,
// libuv's pool, V8's helpers) from /proc/PID/task, the load generator's own CPU, and how idle the
// machine was (/proc/stat; Linux only, "—" elsewhere). docs/benchmarks.md's "alternating loads"
// were measured so.
//
//   npx tsx bench/ingest-load.ts [--kind one|bulk] [--requests 40000] [--rounds 6] [--no-peer]
//     [--serve 'bin/lading.js'] [--serve 'bin/lading-before.js --log-level warn'] [--node-args='--cpu-prof']
//
// --serve: a CLI entry and extra `lading serve` flags, once per server (default bin/lading.js; an
// earlier build: `cp -r dist dist-before` and a copy of bin/lading.js importing from it).
// --node-args: Node flags for the lading servers, after an `=` since they start with a dash
// (a CPU profile: --node-args='--cpu-prof --cpu-prof-dir=/tmp/prof').
// Each server has its own SQLite store under bench/.data/ingest-load and its own key; the pipeline
// and bodies are the bench's ingest case's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateLeads } from '../src/demo/leads.js';
import { startServer, type ServerProcess } from '../test/support/cli.js';
import { postLoad, type PostBody } from './http-load.js';
import { median } from './median.js';
import { benchPipeline, ingestValidation } from './pipelines.js';

const usage = (problem: string): never => {
  console.error(`bench/ingest-load.ts: ${problem}`);
  process.exit(2);
};
const options = {
  kind: { type: 'string', default: 'one' }, requests: { type: 'string' }, rounds: { type: 'string', default: '6' },
  serve: { type: 'string', multiple: true }, 'no-peer': { type: 'boolean', default: false }, 'node-args': { type: 'string' },
} as const;
const { values } = (() => {
  try {
    return parseArgs({ options });
  } catch (error) {
    return usage((error as Error).message);
  }
})();
if (values.kind !== 'one' && values.kind !== 'bulk') usage(`--kind: one or bulk, not ${values.kind}`);
const bulk = values.kind === 'bulk';
const requests = Number(values.requests ?? (bulk ? 600 : 40_000));
const rounds = Number(values.rounds);
if (!Number.isInteger(requests) || requests < 50) usage(`--requests: a whole number, at least 50, not ${values.requests}`);
if (!Number.isInteger(rounds) || rounds < 1) usage(`--rounds: a whole number, at least 1, not ${values.rounds}`);

const dir = resolve('bench/.data/ingest-load');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const pipelineName = 'bench-ingest';
writeFileSync(join(dir, 'pipeline.yaml'), benchPipeline(pipelineName, '{ type: inbox }', '{ type: local, path: out }') + ingestValidation);
const leads = [...generateLeads(1000, { invalidRatio: 0 })].map((lead) => JSON.stringify(lead));
const request: PostBody = bulk ? { body: `${leads.join('\n')}\n`, type: 'application/x-ndjson' } : { body: leads[0]!, type: 'application/json' };

interface Target { readonly name: string; readonly url: string; readonly key: string; readonly server: ServerProcess }
const targets: Target[] = [];
const nodeArgs = values['node-args']?.split(' ').filter((a) => a !== '') ?? [];
try {
  for (const [i, spec] of (values.serve ?? ['bin/lading.js']).entries()) {
    const [bin, ...flags] = spec.split(' ').filter((a) => a !== '');
    const home = join(dir, `store-${i}`);
    const created = spawnSync(process.execPath, [resolve(bin!), 'keys', 'create', '--owner', 'bench', '--scope', 'ingest:*', '--data-dir', home], { cwd: dir, encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`${bin} keys create: ${created.stderr}`);
    const server = await startServer([...nodeArgs, resolve(bin!), 'serve', 'pipeline.yaml', '--data-dir', home, '--port', '0', '--no-scheduler', ...flags], { cwd: dir });
    targets.push({ name: spec, url: `${server.url}/v1/pipelines/${pipelineName}/records`, key: created.stdout.trim(), server });
  }
  if (!values['no-peer']) {
    const server = await startServer([resolve('bench/peers/fastify-noop.mjs')]);
    targets.push({ name: 'Fastify no-op route', url: `${server.url}/${bulk ? 'bulk' : 'lead'}`, key: 'none', server });
  }

  /** CPU seconds of a process's main thread and of its other threads, from /proc (undefined elsewhere). */
  const threadCpu = (pid: number): { loop: number; other: number } | undefined => {
    const tick = 100; // USER_HZ: clock ticks a second in /proc's stat files
    try {
      let loop = 0;
      let other = 0;
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const seconds = (Number(fields[11]) + Number(fields[12])) / tick;
        if (task === String(pid)) loop += seconds;
        else other += seconds;
      }
      return { loop, other };
    } catch {
      return undefined;
    }
  };
  const machine = (): number[] | undefined => {
    try {
      return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    } catch {
      return undefined;
    }
  };
  interface Round { rps: number; p99: number; loopUs?: number; otherUs?: number; generatorUs: number; idle?: number }
  const measure = async (target: Target, amount: number): Promise<Round> => {
    const cpuBefore = threadCpu(target.server.child.pid!);
    const statBefore = machine();
    const generatorBefore = process.cpuUsage();
    const load = await postLoad(target.url, request, amount, target.key, () => target.server.stderr().slice(-2000));
    const generator = process.cpuUsage(generatorBefore);
    const cpuAfter = threadCpu(target.server.child.pid!);
    const statAfter = machine();
    const round: Round = { rps: amount / load.duration, p99: load.latency.p99, generatorUs: (generator.user + generator.system) / amount };
    if (cpuBefore !== undefined && cpuAfter !== undefined) {
      round.loopUs = ((cpuAfter.loop - cpuBefore.loop) * 1e6) / amount;
      round.otherUs = ((cpuAfter.other - cpuBefore.other) * 1e6) / amount;
    }
    if (statBefore !== undefined && statAfter !== undefined) {
      const spent = statAfter.map((v, i) => v - statBefore[i]!);
      // idle and iowait are the 4th and 5th of the cpu line's counters.
      round.idle = (100 * (spent[3]! + spent[4]!)) / spent.reduce((a, b) => a + b, 0);
    }
    return round;
  };

  // A quarter of a round each first, not counted, so every server is measured past V8's warm-up.
  for (const target of targets) await measure(target, Math.max(50, Math.floor(requests / 4)));
  const measured = new Map<Target, Round[]>(targets.map((t) => [t, []]));
  for (let r = 0; r < rounds; r++) for (const target of targets) measured.get(target)!.push(await measure(target, requests));

  const of = (rs: Round[], pick: (r: Round) => number | undefined, digits: number): string => {
    const xs = rs.map(pick).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? '—' : median(xs).toFixed(digits);
  };
  console.log(`${rounds} alternating rounds of ${requests.toLocaleString('en-US')} ${bulk ? '1,000-lead NDJSON' : 'single-lead'} POSTs, 50 connections; medians, CPU in µs a request`);
  console.log('| server | req/s | each round | p99 ms | event loop CPU | other threads CPU | load generator CPU | machine idle % |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [target, rs] of measured) {
    console.log(`| ${target.name} | ${of(rs, (r) => r.rps, 0)} | ${rs.map((r) => r.rps.toFixed(0)).join(' ')} | ${of(rs, (r) => r.p99, 0)} | ${of(rs, (r) => r.loopUs, 1)} | ${of(rs, (r) => r.otherUs, 1)} | ${of(rs, (r) => r.generatorUs, 1)} | ${of(rs, (r) => r.idle, 0)} |`);
  }
} finally {
  for (const target of targets) target.server.child.kill('SIGTERM');
  // A server started with --cpu-prof writes its profile as it exits.
  await Promise.all(targets.map((target) => target.server.exited));
}
