// Two runs of `npm run bench` side by side, from their JSON (docs/benchmarks.json, or --json):
//   npm run bench:compare -- <before.json> <after.json>
// or at the end of a run: npm run bench -- --compare <before.json>. For every row both runs have
// (same table, same first cell), each measured column (wall, rates, peak RSS, latency, ratios)
// gives the value before, after, and the change, said as better or worse for that column.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** What bench/run.ts writes. */
export interface BenchRun {
  readonly heading: string;
  readonly args: readonly string[];
  readonly tables: readonly { readonly title: string; readonly columns: readonly string[]; readonly rows: readonly (readonly string[])[] }[];
  readonly notes?: readonly string[];
}

/** A cell that is one figure: a number with its unit, if any (`4.07 s`, `245,700`, `222 MB`, `0.76×`). */
const figure = /^(-?[\d,]*\.?\d+)\s*(s|ms|MB|×)?$/;

/** Which columns hold a measure, and which way is better: lower for times and memory, higher for rates. */
function direction(column: string, unit: string | undefined): 'lower' | 'higher' | undefined {
  if (/÷/.test(column)) return /\(time\)/.test(column) ? 'lower' : 'higher';
  if (/\/s\b|scaling/.test(column)) return 'higher';
  if (/wall|RSS|latency|p99/i.test(column) && unit !== undefined && unit !== '×') return 'lower';
  return undefined;
}

const parse = (cell: string): { value: number; unit: string | undefined } | undefined => {
  const match = figure.exec(cell.trim());
  return match === null ? undefined : { value: Number(match[1]!.replace(/,/g, '')), unit: match[2] };
};

/** Columns that say how much was measured: rows that differ in them are not compared. */
const sizeColumn = /^(records|items|requests)$/;

/** The comparison as markdown: a table per bench table, and lines on what could not be compared. */
export function compareRuns(before: BenchRun, after: BenchRun): string[] {
  const lines = [`Before: ${before.heading}. After: ${after.heading}.`];
  let unmatched = 0;
  let resized = 0;
  for (const table of after.tables) {
    const earlier = before.tables.find((t) => t.title === table.title);
    const compared: string[] = [];
    for (const row of table.rows) {
      const old = earlier?.rows.find((r) => r[0] === row[0]);
      if (earlier === undefined || old === undefined) {
        unmatched++;
        continue;
      }
      const cellOf = (cells: readonly string[], columns: readonly string[], column: string) => {
        const at = columns.indexOf(column);
        return at === -1 ? undefined : cells[at + 1];
      };
      if (table.columns.some((column) => sizeColumn.test(column) && cellOf(old, earlier.columns, column) !== cellOf(row, table.columns, column))) {
        resized++;
        continue;
      }
      for (const column of table.columns) {
        const [wasCell, nowCell] = [cellOf(old, earlier.columns, column), cellOf(row, table.columns, column)];
        const [was, now] = [parse(wasCell ?? ''), parse(nowCell ?? '')];
        if (was === undefined || now === undefined || was.unit !== now.unit || was.value === 0) continue;
        const better = direction(column, now.unit);
        if (better === undefined) continue;
        const change = (now.value - was.value) / was.value;
        const verdict = Math.abs(change) < 0.005 ? 'same' : (change < 0) === (better === 'lower') ? 'better' : 'worse';
        compared.push(`| ${row[0]} › ${column} | ${wasCell} | ${nowCell} | ${change >= 0 ? '+' : '−'}${Math.abs(change * 100).toFixed(1)}% (${verdict}) |`);
      }
    }
    if (compared.length > 0) lines.push('', `| ${table.title} | before | after | change |`, '| --- | --- | --- | --- |', ...compared);
  }
  const notes: string[] = [];
  if (unmatched > 0) notes.push(`${unmatched} row${unmatched === 1 ? '' : 's'} of this run had no counterpart in the earlier one (another case, or renamed).`);
  if (resized > 0) notes.push(`${resized} row${resized === 1 ? '' : 's'} measured a different number of records, items or requests, and ${resized === 1 ? 'was' : 'were'} not compared.`);
  const [was, now] = [measuredArgs(before.args), measuredArgs(after.args)];
  if (was !== now) notes.push(`The runs' arguments differ (before: ${was || 'none'}; after: ${now || 'none'}).`);
  if (notes.length > 0) lines.push('', ...notes);
  return lines;
}

/** Arguments that change nothing measured: where the JSON goes, what it is compared with, which cases run. */
const unmeasured = ['--json', '--compare', '--only'];

/** A run's arguments without the unmeasured ones (and their values). */
function measuredArgs(args: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (unmeasured.includes(arg)) i++;
    else if (!unmeasured.some((name) => arg.startsWith(`${name}=`))) kept.push(arg);
  }
  return kept.join(' ');
}

/** A run's JSON, or an error that names the file and what is wrong with it. */
export function readRun(file: string): BenchRun {
  let run: Partial<BenchRun>;
  try {
    run = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchRun>;
  } catch (error) {
    throw new Error(`cannot read the bench run ${file}: ${(error as Error).message}`);
  }
  if (typeof run.heading !== 'string' || !Array.isArray(run.args) || !Array.isArray(run.tables)) {
    throw new Error(`${file} is not a run written by npm run bench (it has no heading, args and tables)`);
  }
  return run as BenchRun;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [before, after] = process.argv.slice(2);
  if (before === undefined || after === undefined) {
    console.error('usage: npm run bench:compare -- <before.json> <after.json>   (JSON written by npm run bench, e.g. docs/benchmarks.json)');
    process.exit(2);
  }
  try {
    console.log(compareRuns(readRun(before), readRun(after)).join('\n'));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}
