import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunReport } from '../core/report.js';
import type { DryRunReport } from '../engine/dry-run.js';
import type { RunRecord } from '../store/types.js';
import { grouped } from '../core/numbers.js';

export function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

const mark: Record<RunReport['status'], string> = {
  completed: '✔', completed_with_errors: '⚠', failed: '✖', cancelled: '✖', timed_out: '⏱', queued: '…', running: '…',
};

/** A file URI as people read it: local paths relative to the current folder when inside it. */
function shownUri(uri: string, cwd: string): string {
  if (!uri.startsWith('file://')) return uri;
  const path = fileURLToPath(uri);
  const rel = relative(cwd, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** The report for people: status, counts, errors by category, files, first errors. */
export function renderReport(report: RunReport, cwd: string = process.cwd()): string {
  const s = report.summary;
  const lines = [
    `${mark[report.status]} ${report.pipeline}  ${report.job_id}  ${report.status}`,
    `  ${grouped(s.processed)} items: ${grouped(s.succeeded)} succeeded, ${grouped(s.failed)} failed${s.warnings ? `, ${grouped(s.warnings)} with warnings` : ''}  in ${s.duration_seconds}s (${grouped(Math.round(s.items_per_second))} items/s)`,
  ];
  if (report.failure) lines.push(`  failure: ${report.failure.code}: ${report.failure.message}`);
  if (report.backlog_sent) lines.push(`  backlog: ${report.backlog_sent} staged file(s) of earlier runs delivered`);
  for (const h of report.held_deliveries ?? []) {
    const what = h.outcome === 'deferred' ? 'deferred (circuit breaker open; `lading deliveries list --status rendered,failed`)' : h.outcome === 'skipped' ? 'skipped (delivery.on_rejection)' : 'left for a later retry (delivery.on_rejection)';
    lines.push(`  ⚠ ${h.name}: ${what} — ${h.code}: ${h.message}`);
  }
  const categories = Object.entries(report.error_categories);
  if (categories.length > 0) lines.push(`  errors: ${categories.map(([k, v]) => `${k} ${grouped(v)}`).join(', ')}`);
  const warnings = Object.entries(report.warning_categories);
  if (warnings.length > 0) lines.push(`  warnings: ${warnings.map(([k, v]) => `${k} ${grouped(v)}`).join(', ')}`);
  if (report.artifacts.files.length > 0) {
    lines.push('  files:');
    for (const f of report.artifacts.files) lines.push(`    ${shownUri(f.uri, cwd)}  ${humanBytes(f.bytes)}  ${grouped(f.records)} records  sha256 ${f.sha256.slice(0, 16)}…`);
  }
  if (report.errors.length > 0) {
    lines.push(`  first errors${report.errors_truncated > 0 ? ` (${grouped(report.errors_truncated)} more: lading runs show ${report.job_id} --errors)` : ''}:`);
    for (const e of report.errors.slice(0, 10)) lines.push(`    ${e.code}: ${e.message}`);
  }
  return lines.join('\n');
}

/** The dry run for people: what would pass, warn and be blocked, each blocked item with its fix. */
export function renderDryRun(report: DryRunReport): string {
  const s = report.summary;
  const lines = [
    `${report.status === 'passed' ? '✔' : '✖'} ${report.pipeline}  dry run of ${report.source}: nothing was delivered or stored`,
    `  ${grouped(s.total_items)} items: ${grouped(s.passed)} would pass, ${grouped(s.warnings)} with warnings, ${grouped(s.blocked)} blocked`,
  ];
  if (report.blocked.length > 0) {
    lines.push(`  blocked${report.blocked_truncated > 0 ? ` (first ${report.blocked.length}; --json for the list)` : ''}:`);
    for (const b of report.blocked.slice(0, 20)) lines.push(`    ${b.code}: ${b.message}`, `      fix: ${b.fix}`);
  }
  return lines.join('\n');
}

/** Status as people need it: a running run whose process is gone shows as interrupted. */
export type RunStatusLabel = (run: RunRecord) => string;

export function renderRunList(runs: readonly RunRecord[], status: RunStatusLabel = (r) => r.status): string {
  if (runs.length === 0) return 'no runs yet';
  const rows = runs.map((r) => [r.id, r.pipeline, status(r), r.createdAt.toISOString().replace(/\.\d+Z$/, 'Z'), grouped(r.processed), grouped(r.failed)]);
  const head = ['RUN', 'PIPELINE', 'STATUS', 'STARTED', 'ITEMS', 'FAILED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
