// Retention: removes (or archives, then removes) what each pipeline's retention: periods let go.
// The store decides what is confirmed delivered; this module turns periods into cut-offs,
// writes the archive and removes the staged files the store released.
import { appendFile, mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PurgeResult, Store } from '../store/types.js';
import type { RetentionConfig } from './config.js';

export interface PurgeOutcome {
  readonly pipeline: string;
  readonly dry_run: boolean;
  readonly records: number;
  readonly dead_letters: number;
  readonly runs: number;
  readonly files: number;
  /** Staged files the store released that could not be removed (left for an operator). */
  readonly files_not_removed: readonly string[];
  /** The JSON Lines file the removed rows were appended to, with --archive. */
  readonly archive: string | null;
}

export interface PurgeOptions {
  readonly now: Date;
  readonly dataDir: string;
  readonly dryRun?: boolean;
  /** Append every removed row to <dataDir>/archive/<pipeline>-<date>.jsonl before it goes. */
  readonly archive?: boolean;
}

const before = (now: Date, period: number | undefined): Date | undefined => (period === undefined ? undefined : new Date(now.getTime() - period));

/** Purges one pipeline per its retention periods; a kind without a period is kept. */
export async function purgePipeline(store: Store, pipeline: string, retention: RetentionConfig, opts: PurgeOptions): Promise<PurgeOutcome> {
  const plan = {
    pipeline, dryRun: opts.dryRun === true,
    ...optional('records', before(opts.now, retention.records)), ...optional('files', before(opts.now, retention.files)),
    ...optional('deadLetters', before(opts.now, retention.dead_letters)), ...optional('runs', before(opts.now, retention.runs)),
  };
  const result = await store.purge(plan);
  const archive = opts.archive && !plan.dryRun && result.rows.length > 0 ? await writeArchive(opts.dataDir, pipeline, opts.now, result) : null;
  const notRemoved = plan.dryRun ? [] : await removeStaged(result.files.map((f) => f.path));
  return {
    pipeline, dry_run: plan.dryRun, records: result.records, dead_letters: result.deadLetters, runs: result.runs, files: result.files.length,
    files_not_removed: notRemoved, archive,
  };
}

const optional = <K extends string>(key: K, value: Date | undefined) => (value === undefined ? {} : { [key]: value } as Record<K, Date>);

// Appended, not overwritten: two purges on one day add to the same file.
async function writeArchive(dataDir: string, pipeline: string, now: Date, result: PurgeResult): Promise<string> {
  const path = join(dataDir, 'archive', `${pipeline}-${now.toISOString().slice(0, 10)}.jsonl`);
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, result.rows.map((row) => `${JSON.stringify({ ...row, archived_at: now.toISOString() })}\n`).join(''));
  return path;
}

/** Removes the files, then their run's staging folder once it is empty. */
async function removeStaged(paths: readonly string[]): Promise<string[]> {
  const failed: string[] = [];
  for (const path of paths) {
    try {
      await rm(path, { force: true });
      await rmdir(dirname(path)).catch(() => {}); // not empty: other parts still wait there
    } catch {
      failed.push(path);
    }
  }
  return failed;
}

export function renderPurge(o: PurgeOutcome): string {
  const verb = o.dry_run ? 'would remove' : 'removed';
  return `${o.pipeline}: ${verb} ${o.records} records, ${o.files} staged files, ${o.dead_letters} dead letters, ${o.runs} runs`
    + (o.archive ? `\n  archived to ${o.archive}` : '')
    + (o.files_not_removed.length > 0 ? `\n  could not remove: ${o.files_not_removed.join(', ')}` : '');
}
