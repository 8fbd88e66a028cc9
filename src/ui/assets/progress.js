// A job's progress as the dashboard shows it: from GET /v1/jobs/{id}, then moved by its events.
import { follow } from './api.js';
import { fmtDuration, fmtNumber, h, progressBar } from './dom.js';

const endedStatuses = new Set(['completed', 'completed_with_errors', 'failed', 'cancelled', 'timed_out', 'interrupted']);
export const isEnded = (status) => endedStatuses.has(status);

/** The progress fields of a job view (GET /v1/jobs/{id} or an entry of GET /v1/jobs). */
export function fromView(job) {
  const summary = job.report?.summary;
  return {
    id: job.job_id, pipeline: job.pipeline, mode: job.mode, status: job.status, createdAt: job.created_at, completedAt: job.completed_at,
    processed: job.progress.processed, succeeded: job.progress.succeeded, failed: job.progress.failed,
    total: job.progress.total, itemsPerSecond: summary?.items_per_second ?? null,
  };
}

/** Moves the state by one event of GET /v1/jobs/{id}/events. */
export function applyEvent(state, type, data) {
  if (type === 'status') state.status = data.status;
  else if (type === 'run_started') Object.assign(state, { status: 'running', total: data.total ?? state.total });
  else if (type === 'progress') {
    Object.assign(state, { processed: data.processed, succeeded: data.succeeded, failed: data.failed });
    if (data.total !== undefined && data.total !== null) state.total = data.total;
    if (data.status) state.status = data.status;
  } else if (type === 'paused') state.status = 'paused';
  else if (type === 'unpaused') state.status = 'running';
  else if (type === 'run_finished') {
    state.status = data.status;
    const summary = data.report?.summary;
    if (summary) {
      Object.assign(state, { processed: summary.processed, succeeded: summary.succeeded, failed: summary.failed, total: summary.total_items, itemsPerSecond: summary.items_per_second });
    }
    state.completedAt = data.report?.completed_at ?? state.completedAt;
  }
}

export function percentOf(state) {
  if (state.total === null || state.total === undefined) return isEnded(state.status) && state.status !== 'failed' && state.status !== 'cancelled' ? 100 : null;
  if (state.total === 0) return isEnded(state.status) ? 100 : 0;
  return (100 * state.processed) / state.total;
}

/** Items per second so far, and the time left at that rate (null when unknown). */
export function rateAndEta(state, now = Date.now()) {
  if (isEnded(state.status)) return { rate: state.itemsPerSecond, eta: null };
  const elapsed = (now - Date.parse(state.createdAt)) / 1000;
  const rate = elapsed > 0 && state.processed > 0 ? state.processed / elapsed : null;
  const eta = rate && state.total !== null && state.total !== undefined ? Math.max(0, state.total - state.processed) / rate : null;
  return { rate, eta };
}

export const statusBadge = (status) => h('span', { class: `status s-${String(status).replace(/[^a-z_]/g, '')}`, 'data-status': status }, String(status).replace(/_/g, ' '));

/** The bar with its figures: "42% · 420 / 1,000 · 35/s · ETA 17 s". */
export function progressCell(state) {
  const percent = percentOf(state);
  const { rate, eta } = rateAndEta(state);
  const figures = [
    percent === null ? null : `${Math.floor(percent)}%`,
    `${fmtNumber(state.processed)}${state.total === null || state.total === undefined ? '' : ` / ${fmtNumber(state.total)}`}`,
    rate === null ? null : `${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s`,
    eta === null ? null : `ETA ${fmtDuration(eta)}`,
  ].filter((f) => f !== null);
  return h('div', { class: 'progress' }, progressBar(percent, `progress of ${state.id}`), h('span', { class: 'figures' }, figures.join(' · ')));
}

/** Follows a running job's events until it ends or `signal` aborts; onChange after each event. */
export function watch(state, onChange, signal) {
  return follow(`/v1/jobs/${encodeURIComponent(state.id)}/events`, (type, data) => {
    applyEvent(state, type, data);
    onChange(type);
  }, signal).catch((error) => {
    if (error.name !== 'AbortError') onChange('error', error);
  });
}
