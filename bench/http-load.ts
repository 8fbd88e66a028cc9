// POST loads under autocannon, shared by the ingest case of bench/run.ts and bench/ingest-load.ts.
import { createRequire } from 'node:module';

/** autocannon ships no type declarations: the part of its programmatic API the benchmarks use. */
export interface Load { '2xx': number; non2xx: number; errors: number; timeouts: number; duration: number; latency: { p99: number } }
type Tracker = PromiseLike<Load> & { on(event: 'response', listener: () => void): void };
type Autocannon = (opts: { url: string; method: 'POST'; connections: number; amount: number; sampleInt: number; headers: Record<string, string>; body: string }) => Tracker;

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as Autocannon;
export const autocannonVersion = (require('autocannon/package.json') as { version: string }).version;

export interface PostBody {
  readonly body: string;
  readonly type: string;
}

/**
 * `amount` POSTs of `request` to `url` over (at most) 50 connections, `duration` the seconds to the
 * last answer. An error unless every request was answered 2xx: a failing server must not produce
 * a fast figure. `describe` adds to that error what the server said (its stderr).
 */
export async function postLoad(url: string, request: PostBody, amount: number, bearer: string, describe: () => string = () => ''): Promise<Load> {
  // Never more connections than requests (autocannon refuses): --quick's short bulk loads use fewer.
  // A 100 ms sample tick: autocannon notices the end of a load only at a tick (1 s by default).
  const tracker = autocannon({ url, method: 'POST', connections: Math.min(50, amount), amount, sampleInt: 100, headers: { authorization: `Bearer ${bearer}`, 'content-type': request.type }, body: request.body });
  // autocannon notices the last answer only at its next one-second tick and reports that as the
  // duration, so short loads came out in whole seconds: the time to the last answer is ours to take.
  const started = performance.now();
  let last = started;
  tracker.on('response', () => {
    last = performance.now();
  });
  const r = { ...await tracker };
  r.duration = (last - started) / 1000;
  if (r['2xx'] !== amount || r.non2xx + r.errors + r.timeouts > 0) {
    throw new Error(`${url}: ${r['2xx']} of ${amount} requests answered 2xx (${r.non2xx} other answers, ${r.errors} errors, ${r.timeouts} timeouts)\n${describe()}`);
  }
  return r;
}
