import type { LoadedPipeline } from '../config/load.js';
import { pick } from '../config/one-of.js';
import { systemClock } from '../core/clock.js';
import { randomIds } from '../core/ids.js';
import { registry as builtIns, type Registry } from '../core/registry.js';
import { codes } from '../errors/codes.js';
import type { Item } from '../core/item.js';
import type { Store } from '../store/types.js';
import { buildProcessor } from '../transform/process.js';

export interface DryRunIssue {
  readonly item_id: string;
  readonly location: string | null;
  readonly field: string | null;
  readonly code: string;
  readonly message: string;
  readonly fix: string;
}

export interface DryRunReport {
  readonly pipeline: string;
  readonly mode: 'dry_run';
  /** passed: nothing would be blocked. */
  readonly status: 'passed' | 'blocked';
  readonly source: string;
  readonly summary: { readonly total_items: number; readonly passed: number; readonly warnings: number; readonly blocked: number };
  readonly blocked: readonly DryRunIssue[];
  readonly blocked_truncated: number;
  readonly warnings: readonly DryRunIssue[];
  readonly error_categories: Readonly<Record<string, number>>;
}

/**
 * Validates and maps every item and touches nothing: no run is stored, no batch is cut, no
 * sink is opened. Each blocked item comes with the fix its error code documents.
 */
export async function dryRun(loaded: LoadedPipeline, opts: { store: Store; dataDir: string; stdin?: NodeJS.ReadableStream; registry?: Registry; limit?: number }): Promise<DryRunReport> {
  const { config } = loaded;
  const registry = opts.registry ?? builtIns;
  const source = pick(registry.sources, config.source).create(config.source, {
    pipeline: config.name, baseDir: loaded.baseDir, dataDir: opts.dataDir, clock: systemClock, ids: randomIds, store: opts.store, dryRun: true,
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
  });
  const process = buildProcessor(config);
  const limit = opts.limit ?? 100;
  const blocked: DryRunIssue[] = [];
  const warnings: DryRunIssue[] = [];
  const categories: Record<string, number> = {};
  const summary = { total_items: 0, passed: 0, warnings: 0, blocked: 0 };
  const signal = new AbortController().signal;
  await source.open(signal);
  try {
    let batch: Item[] = [];
    const flush = () => {
      const { ok, failures, warnings: warned } = process(batch);
      const byId = new Map(batch.map((item) => [item.id, item]));
      summary.total_items += batch.length;
      summary.passed += ok.length;
      summary.blocked += failures.size;
      summary.warnings += warned.size;
      const issue = (id: string, e: { code: keyof typeof codes; message: string; field?: string | undefined; errorType: string }): DryRunIssue => {
        const origin = byId.get(id)?.origin;
        return { item_id: id, location: origin?.file && origin.line ? `${origin.file}:${origin.line}` : null, field: e.field ?? null, code: e.code, message: e.message, fix: codes[e.code].fix };
      };
      for (const [id, errors] of failures) {
        categories[errors[0]!.errorType] = (categories[errors[0]!.errorType] ?? 0) + 1;
        for (const e of errors) if (blocked.length < limit) blocked.push(issue(id, e));
      }
      for (const [id, errors] of warned) for (const e of errors) if (warnings.length < limit) warnings.push(issue(id, e));
      batch = [];
    };
    for await (const item of source.read(null, signal)) {
      batch.push(item);
      if (batch.length >= config.execution.chunk_size) flush();
    }
    flush();
  } finally {
    await source.close('aborted');
  }
  return {
    pipeline: config.name, mode: 'dry_run', status: summary.blocked === 0 ? 'passed' : 'blocked', source: source.description, summary,
    blocked, blocked_truncated: Math.max(0, summary.blocked - blocked.length), warnings, error_categories: categories,
  };
}
