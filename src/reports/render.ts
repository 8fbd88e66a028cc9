// The daily report as plain text (terminal, mail alternative) and as an HTML mail body: the same
// sections in the same order, so the two never tell different stories.
import type { DailyReport } from './daily.js';
import { grouped } from '../core/numbers.js';

interface Section { readonly title: string; readonly head: readonly string[]; readonly rows: readonly (readonly (string | number)[])[]; readonly empty: string }

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);

function sections(r: DailyReport): Section[] {
  const t = r.totals;
  const p = r.performance;
  return [
    {
      title: 'Totals', head: ['runs', 'succeeded', 'failed', 'success rate', 'items processed', 'items delivered', 'items failed', 'files', 'bytes'],
      rows: [[t.runs, t.runs_succeeded, t.runs_failed, pct(t.success_rate), grouped(t.items_processed), grouped(t.items_succeeded), grouped(t.items_failed), t.files, grouped(t.bytes)]], empty: '',
    },
    { title: 'Destinations', head: ['destination', 'batches', 'files', 'records', 'bytes'], rows: r.destinations.map((d) => [d.destination, d.batches, d.files, grouped(d.records), grouped(d.bytes)]), empty: 'no files delivered' },
    {
      title: 'Reconciliation', head: ['pipeline', 'accepted', 'batched', 'delivered', 'failed', 'differences'],
      rows: r.reconciliation.map((x) => [x.pipeline, x.accepted, x.batched, x.delivered, x.failed, x.differences.length === 0 ? 'none' : x.differences.map((d) => `${d.records} ${d.detail}`).join('; ')]),
      empty: 'no records accepted',
    },
    { title: 'Failed runs', head: ['run', 'pipeline', 'status', 'error', 'resolution'], rows: r.issues.failed_runs.map((f) => [f.run_id, f.pipeline, f.status, f.code ? `${f.code}: ${f.message}` : '', f.resolution]), empty: 'none' },
    { title: 'Dead letters', head: ['pipeline', 'open', 'retried', 'skipped'], rows: r.issues.dead_letters.map((d) => [d.pipeline, d.open, d.retried, d.skipped]), empty: 'none' },
    { title: 'Suspensions and alerts', head: ['at', 'pipeline', 'what', 'detail'], rows: [...r.issues.alerts.map((a) => [a.at, a.pipeline, a.kind, a.message]), ...r.issues.notifications.map((n) => [n.at, n.pipeline, `${n.event} ${n.rule ?? ''}`.trim(), `${n.channel}: ${n.status}`])], empty: 'none' },
    {
      title: 'Performance', head: ['average batch', 'average run', 'peak hour', 'items in peak hour'],
      rows: [[p.average_batch_seconds === null ? 'n/a' : `${p.average_batch_seconds}s`, p.average_run_seconds === null ? 'n/a' : `${p.average_run_seconds}s`, p.peak_hour?.hour ?? 'n/a', p.peak_hour ? grouped(p.peak_hour.items) : 'n/a']],
      empty: '',
    },
  ];
}

const title = (r: DailyReport): string => `lading daily report ${r.date} (${r.timezone})${r.pipeline ? ` - ${r.pipeline}` : ''}`;

export function renderDailyText(r: DailyReport): string {
  const lines = [title(r), `${r.from} → ${r.to}`];
  for (const s of sections(r)) {
    lines.push('', s.title);
    if (s.rows.length === 0) {
      lines.push(`  ${s.empty}`);
      continue;
    }
    const cells = [s.head, ...s.rows].map((row) => row.map(String));
    const widths = s.head.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
    for (const row of cells) lines.push(`  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A self-contained HTML mail body: inline styles only, no scripts, no remote resources. */
export function renderDailyHtml(r: DailyReport): string {
  const cell = 'style="border:1px solid #ccc;padding:4px 8px;text-align:left"';
  const body = sections(r).map((s) => `<h2 style="font-size:16px;margin:20px 0 6px">${escape(s.title)}</h2>\n${s.rows.length === 0
    ? `<p>${escape(s.empty)}</p>`
    : `<table style="border-collapse:collapse;font-size:13px">\n<tr>${s.head.map((h) => `<th ${cell}>${escape(h)}</th>`).join('')}</tr>\n${s.rows.map((row) => `<tr>${row.map((c) => `<td ${cell}>${escape(String(c))}</td>`).join('')}</tr>`).join('\n')}\n</table>`}`).join('\n');
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escape(title(r))}</title></head>\n<body style="font-family:sans-serif;color:#222">\n<h1 style="font-size:18px">${escape(title(r))}</h1>\n<p>${escape(`${r.from} → ${r.to}`)}</p>\n${body}\n</body></html>\n`;
}
