import type { RunEvent } from '../engine/run.js';
import { grouped } from '../core/numbers.js';

export interface ProgressSink {
  (event: RunEvent): void;
  /** Clears a bar still on screen. */
  done(): void;
}

/** Not a TTY: one JSON line per event on stderr, for logs and machines (the report is omitted; --json prints it). */
export function jsonProgress(out: NodeJS.WritableStream): ProgressSink {
  const sink = ((event: RunEvent) => {
    const line = event.type === 'run_finished'
      ? { type: event.type, run_id: event.run_id, status: event.report.status, summary: event.report.summary }
      : event;
    out.write(`${JSON.stringify({ ts: new Date().toISOString(), ...line })}\n`);
  }) as ProgressSink;
  sink.done = () => {};
  return sink;
}

const fmt = (n: number) => grouped(Math.round(n));

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A TTY: one bar redrawn in place, at most ten times a second, with counts, rate and ETA. */
export function ttyProgress(out: NodeJS.WriteStream, now: () => number = Date.now): ProgressSink {
  let started = now();
  let drawn = 0;
  let visible = false;
  const draw = (text: string) => {
    out.write(`\r\x1b[2K${text.slice(0, Math.max(20, (out.columns ?? 100) - 1))}`);
    visible = true;
  };
  const sink = ((event: RunEvent) => {
    switch (event.type) {
      case 'run_started':
        started = now();
        draw(`${event.pipeline}: reading ${event.source}…`);
        return;
      case 'progress': {
        const t = now();
        if (t - drawn < 100) return;
        drawn = t;
        const elapsed = (t - started) / 1000;
        const rate = elapsed > 0 ? event.processed / elapsed : 0;
        const fraction = event.total ? event.processed / event.total
          : event.source_progress && event.source_progress.total > 0 ? event.source_progress.done / event.source_progress.total : undefined;
        const width = 24;
        const bar = fraction === undefined ? '' : `[${'█'.repeat(Math.round(Math.min(1, fraction) * width)).padEnd(width, '░')}] ${String(Math.floor(Math.min(1, fraction) * 100)).padStart(3)}%  `;
        const left = fraction !== undefined && fraction > 0 ? eta(elapsed / fraction - elapsed) : '--';
        const count = event.total ? `${fmt(event.processed)}/${fmt(event.total)}` : fmt(event.processed);
        const failed = event.failed > 0 ? `  ✗ ${fmt(event.failed)} failed` : '';
        const retried = event.retries > 0 ? `  ↻ ${fmt(event.retries)} retries` : '';
        draw(`${bar}${count} items  ${fmt(rate)}/s  ETA ${left}${failed}${retried}`);
        return;
      }
      case 'file_rendered':
        draw(`rendered ${event.name}: ${fmt(event.records)} records, ${fmt(event.bytes)} bytes`);
        return;
      case 'file_delivered':
        draw(`delivered ${event.file.name}`);
        return;
      case 'paused':
        draw('paused — waiting at a chunk boundary (lading runs resume <id>)');
        return;
      case 'unpaused':
      case 'chunk_size_changed':
        return;
      case 'run_finished':
        sink.done();
        return;
    }
  }) as ProgressSink;
  sink.done = () => {
    if (visible) out.write('\r\x1b[2K');
    visible = false;
  };
  return sink;
}
