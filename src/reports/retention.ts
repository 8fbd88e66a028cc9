// Retention: removes (or archives, then removes) what each pipeline's retention: periods let go.
// The store decides what is confirmed delivered; this module turns periods into cut-offs,
// writes the archive and removes the staged files the store released.
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PurgeArchive, Store } from '../store/types.js';
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
  const archive = opts.archive && !plan.dryRun ? new ArchiveFile(join(opts.dataDir, 'archive', `${pipeline}-${opts.now.toISOString().slice(0, 10)}.jsonl`), opts.now) : undefined;
  const result = await store.purge(plan, archive?.append).finally(() => archive?.close());
  const notRemoved = plan.dryRun ? [] : await removeStaged(result.files.map((f) => f.path));
  return {
    pipeline, dry_run: plan.dryRun, records: result.records, dead_letters: result.deadLetters, runs: result.runs, files: result.files.length,
    files_not_removed: notRemoved, archive: archive?.written ? archive.path : null,
  };
}

const optional = <K extends string>(key: K, value: Date | undefined) => (value === undefined ? {} : { [key]: value } as Record<K, Date>);

/**
 * The archive of one purge: each page of removed rows is appended as JSON Lines and flushed to disk
 * before that page's removal commits, so a row is never gone without being archived. A purge that
 * fails on a page leaves the pages before it removed and archived; when the failure came after the
 * page was written (the commit itself failed), that page is both archived and stored, and the next
 * purge archives it again. Appended, not overwritten: two purges on one day add to the same file,
 * opened at the first row.
 */
class ArchiveFile {
  #fd: number | undefined;
  written = false;

  constructor(readonly path: string, private readonly now: Date) {}

  readonly append: PurgeArchive = (rows) => {
    if (this.#fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.#fd = openSync(this.path, 'a');
    }
    const at = this.now.toISOString();
    writeSync(this.#fd, rows.map((row) => `${JSON.stringify({ ...row, archived_at: at })}\n`).join(''));
    fsyncSync(this.#fd);
    this.written = true;
  };

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
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
