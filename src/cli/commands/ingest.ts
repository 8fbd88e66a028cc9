import { Command, Option } from 'commander';
import { FileSource, fileSource } from '../../sources/file.js';
import { systemClock } from '../../core/clock.js';
import { randomIds } from '../../core/ids.js';
import type { InboxInput } from '../../store/types.js';
import { describeItem } from '../../core/item.js';
import { parsePositiveInt, withStore } from '../context.js';
import { grouped } from '../../core/numbers.js';
import { GrowingBytes } from '../../core/growing-bytes.js';
import { loadPipeline } from '../../config/load.js';
import { ladingError } from '../../errors/lading-error.js';

/**
 * The inbox a target names: a pipeline YAML file's `name:` (every other command takes the file,
 * and its path stored as a name was an inbox no run would ever read), or a name as given.
 */
async function inboxName(target: string): Promise<string> {
  if (!/\.ya?ml$/i.test(target)) return target;
  const { config, origin } = await loadPipeline(target);
  if (config.source.type !== 'inbox') throw ladingError('INGEST_NOT_INBOX', `${origin}: pipeline ${config.name} reads from ${config.source.type}, not an inbox`);
  return config.name;
}

/**
 * The records of the next commit, gathered as they are read: each one's JSON is written at once
 * into one buffer (GrowingBytes), of which the commit's records are views. The text and the
 * parsed record the reader made then die young, where a slice of 5,000 records kept as strings
 * lived through two collections — being filled, then committed — and was promoted: the old
 * generation grew to ~110 MB of them between full collections (1M leads: 257 MB at peak;
 * docs/benchmarks.md, machine W).
 */
class PendingSlice {
  #bytes = new GrowingBytes(1 << 20);
  // Side by side rather than an object a record, which would outlive collections as the strings did.
  #ends: number[] = [];
  #keys: (string | undefined)[] = [];
  #priorities: (number | undefined)[] = [];

  get size(): number {
    return this.#ends.length;
  }

  add(json: string, key: string | undefined, priority: number | undefined): void {
    this.#bytes.write(json);
    this.#ends.push(this.#bytes.size);
    this.#keys.push(key);
    this.#priorities.push(priority);
  }

  /** The gathered records, emptying the slice; the next one starts in a new buffer, a little larger than this one's bytes. */
  take(): InboxInput[] {
    const { bytes, size } = this.#bytes;
    const records = this.#ends.map((end, i): InboxInput => {
      const key = this.#keys[i];
      const priority = this.#priorities[i];
      return { json: bytes.subarray(i === 0 ? 0 : this.#ends[i - 1], end), ...(key === undefined ? {} : { key }), ...(priority === undefined ? {} : { priority }) };
    });
    this.#bytes = new GrowingBytes(size + (size >> 2));
    this.#ends = [];
    this.#keys = [];
    this.#priorities = [];
    return records;
  }
}

export function ingestCommand(): Command {
  return new Command('ingest')
    .description('Append records to a pipeline\'s inbox; `lading run` of a pipeline with `source: {type: inbox}` takes them as one batch.')
    .argument('<pipeline>', 'the pipeline: its YAML file (source: {type: inbox}), or its name (the `name:` in that file)')
    .argument('<file>', 'NDJSON, CSV (with header) or JSON array file, optionally gzipped; - reads standard input')
    .addOption(new Option('-f, --format <format>', 'input format; default from the file extension (required for -)').choices(['ndjson', 'csv', 'json']))
    .option('-k, --key-field <field>', 'field whose value deduplicates re-sent records (idempotency key)')
    .option('--priority-field <field>', 'field holding the record\'s priority (an integer, higher is more urgent; other values mean no priority), counted by priority_count triggers')
    .addOption(new Option('--commit-size <n>', 'records per transaction').default(5000).argParser(parsePositiveInt('--commit-size')))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nMalformed lines are reported on stderr with their line number and not ingested.\nExit codes: 0 all ingested, 3 some lines rejected, 1 nothing ingested, 2 usage error.')
    .action(async function (this: Command, target: string, file: string, opts: { format?: 'ndjson' | 'csv' | 'json'; keyField?: string; priorityField?: string; commitSize: number; json?: boolean }) {
      const pipeline = await inboxName(target);
      const result = await withStore(this, async (store, g) => {
        const config = fileSource.schema.parse({ type: 'file', path: file, ...(opts.format ? { format: opts.format } : {}) });
        const source = new FileSource(config, { pipeline, baseDir: process.cwd(), dataDir: g.dataDir, clock: systemClock, ids: randomIds, store, stdin: process.stdin });
        const signal = new AbortController().signal;
        await source.open(signal);
        const pending = new PendingSlice();
        let accepted = 0;
        let duplicates = 0;
        let rejected = 0;
        // A slice commits while the next one is read: on SQLite its INSERTs and fsync run on the
        // store's ingest thread, beside the parse (1M leads: 9.4 → 7.1 s; docs/benchmarks.md).
        // Never more than one in flight, so a slice that fails stops every slice after it.
        let committing: Promise<void> | undefined;
        const flush = async () => {
          await committing;
          const records = pending.take();
          committing = store.ingestRequests([{ pipeline, records }], systemClock.now()).then(([outcome]) => {
            accepted += outcome!.accepted;
            duplicates += outcome!.duplicates;
          });
          committing.catch(() => {}); // awaited before the next slice or at the end: not unhandled meanwhile
        };
        try {
          // Runs of items; those read from JSON text (NDJSON lines, a JSON array's elements) keep
          // it, and are stored as read (as `lading serve` stores them), where serialising each
          // record again took 15% of an ingest.
          const batches = source.readBatches(null, signal, { keepText: true });
          for await (const batch of batches) for (const item of batch) {
            if (item.error) {
              rejected++;
              process.stderr.write(`rejected ${describeItem(item)}: ${item.error.code}: ${item.error.message}\n`);
              continue;
            }
            const key = opts.keyField === undefined ? undefined : item.data[opts.keyField];
            const priority = opts.priorityField === undefined ? undefined : Number(item.data[opts.priorityField]);
            pending.add(item.text ?? JSON.stringify(item.data), key === undefined || key === null ? undefined : String(key),
              priority !== undefined && Number.isInteger(priority) ? priority : undefined);
            if (pending.size >= opts.commitSize) await flush();
          }
          if (pending.size > 0) await flush();
          await committing;
        } finally {
          await source.close();
        }
        return { accepted, duplicates, rejected, pending: (await store.inboxStats(pipeline)).pending };
      }, { ingestThread: true });
      if (opts.json) process.stdout.write(`${JSON.stringify({ pipeline, ...result })}\n`);
      else process.stdout.write(`ingested ${grouped(result.accepted)} records into the inbox of ${pipeline}${result.duplicates ? ` (${grouped(result.duplicates)} duplicates skipped)` : ''}${result.rejected ? `, ${grouped(result.rejected)} rejected` : ''}; ${grouped(result.pending)} pending\n`);
      process.exitCode = result.rejected === 0 ? 0 : result.accepted + result.duplicates > 0 ? 3 : 1;
    });
}
