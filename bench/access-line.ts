// The HTTP access line: lading's template (src/observe/log.ts, accessLog) against the pino logger
// it replaced (a pino instance of its own on the same stream, without redaction). Both write to a
// stream that only counts; their lines must parse to the same JSON but for the time. Runs
// alternate and the best of 7 is reported. Run: npx tsx bench/access-line.ts
import { pino, type DestinationStream } from 'pino';
import { accessLog, createLogger, type AccessEntry } from '../src/observe/log.js';

const LINES = 300_000;
const entries: AccessEntry[] = Array.from({ length: 1000 }, (_, i) => ({
  reqId: `req-${i.toString(36)}`, method: 'POST', path: i % 10 === 0 ? '/v1/pipelines/leads/flush' : '/v1/pipelines/leads/records',
  statusCode: i % 50 === 0 ? 400 : 202, responseTimeMs: 0.25 + (i % 97) / 13, ...(i % 5 === 0 ? {} : { keyId: '0123456789abcdef' }),
}));

let bytes = 0;
let last = '';
const counting: DestinationStream = { write: (line: string) => { bytes += line.length; last = line; } };
const logger = createLogger({ destination: counting });

const template = accessLog(logger);
const viaPino = pino({ level: 'info', base: { service: 'lading' }, timestamp: pino.stdTimeFunctions.isoTime }, counting);
const pinoLine = (e: AccessEntry) => viaPino.info({
  reqId: e.reqId, req: { method: e.method, url: e.path }, res: { statusCode: e.statusCode }, responseTime: e.responseTimeMs, ...(e.keyId === undefined ? {} : { key: e.keyId }),
}, 'request completed');

const runs: Record<string, (e: AccessEntry) => void> = { 'pino': pinoLine, 'template': template };
const lineOf = (run: (e: AccessEntry) => void, e: AccessEntry) => {
  run(e);
  template.flush();
  const { time, ...rest } = JSON.parse(last) as Record<string, unknown>;
  if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) throw new Error(`no ISO time in ${last}`);
  return JSON.stringify(rest);
};
for (const e of entries) {
  if (lineOf(pinoLine, e) !== lineOf(template, e)) throw new Error(`the lines differ:\n${lineOf(pinoLine, e)}\n${lineOf(template, e)}`);
}

const best: Record<string, number> = {};
for (let round = 0; round < 7; round++) {
  for (const [name, run] of Object.entries(runs)) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < LINES; i++) {
      run(entries[i % entries.length]!);
      // As the server's turns do: the answers of a group commit, then one write.
      if (i % 50 === 49) template.flush();
    }
    best[name] = Math.min(best[name] ?? Infinity, Number(process.hrtime.bigint() - start) / 1e9);
  }
}
for (const [name, seconds] of Object.entries(best)) {
  console.log(`${name.padEnd(10)} ${Math.round(LINES / seconds).toLocaleString('en-US').padStart(10)} lines/s`);
}
if (bytes === 0) throw new Error('no output');
