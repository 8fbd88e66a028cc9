// The overview: served pipelines, the last 24 hours of throughput, and recent runs with live progress.
import { api } from './api.js';
import { throughputChart } from './charts.js';
import { errorNote, fmtDuration, fmtNumber, fmtTime, h, runHref, table } from './dom.js';
import { fromView, isEnded, progressCell, statusBadge, watch } from './progress.js';

const refreshMs = 5000;
/** Judging SLAs reads a whole window of records: once a minute (and at the start) is enough. */
const slowEvery = 12;
/** Browsers open about six connections per host: live streams leave room for the other calls. */
const maxStreams = 3;

const percent = (x) => `${(x * 100).toFixed(2)}%`;

/** An objective's measure and target in its own unit: freshness in time, availability as a share, the others as counts. */
function measure(o) {
  if (o.observed === null || o.observed === undefined) return ['–', o.name === 'completeness' ? 'all due' : target(o)];
  switch (o.name) {
    case 'freshness': return [fmtDuration(o.observed / 1000), target(o)];
    case 'availability': return [percent(o.observed), target(o)];
    case 'completeness': return [`${fmtNumber(o.observed)} delivered`, 'all due'];
    default: return [`${fmtNumber(o.observed)} duplicates`, target(o)];
  }
}

function target(o) {
  switch (o.name) {
    case 'freshness': return `≤ ${fmtDuration(o.target / 1000)}`;
    case 'availability': return `≥ ${percent(o.target)}`;
    default: return `≤ ${fmtNumber(o.target)} duplicates`;
  }
}

const verdict = (met) => {
  const word = met === null ? 'no data' : met ? 'met' : 'breached';
  return h('span', { class: `status sla-${word.replace(' ', '_')}`, 'data-verdict': word }, word);
};

/** One row per objective of each pipeline that declares an sla: section. */
function slaView(statuses) {
  return table(['Pipeline', 'Objective', 'Verdict', 'Measured', 'Target', 'Detail'], statuses.flatMap((status) => status.objectives.map((o) => {
    const [observed, wanted] = measure(o);
    return {
      attrs: { 'data-pipeline': status.pipeline, 'data-objective': o.name },
      cells: [status.pipeline, o.name, verdict(o.met), observed, wanted, h('span', { class: 'muted' }, o.summary)],
    };
  })), 'No pipeline declares an sla: section.');
}

function pipelinesView(pipelines) {
  return table(['Pipeline', 'Flow', 'Queue depth', 'Oldest pending', 'Next trigger'], pipelines.map((p) => ({
    attrs: { 'data-pipeline': p.name },
    cells: [
      h('strong', null, p.name),
      `${p.source} → ${p.output}`,
      p.queue ? `${fmtNumber(p.queue.pending)}${p.queue.max_pending ? ` / ${fmtNumber(p.queue.max_pending)}` : ''}` : '–',
      p.queue && p.queue.oldest_pending_age_seconds !== null ? fmtDuration(p.queue.oldest_pending_age_seconds) : '–',
      fmtTime(p.next_trigger),
    ],
  })), 'No pipelines are served.');
}

export function renderOverview(main, app) {
  const controller = new AbortController();
  const streams = new Map();
  const states = new Map();
  let timer;
  let stats = null;
  let chosen = null;

  const pipelinesBody = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const chartBody = h('div', { class: 'chart-wrap' }, h('p', { class: 'muted' }, 'Loading…'));
  const pick = h('select', { 'aria-label': 'Pipeline', on: { change: () => {
    chosen = pick.value === '' ? null : pick.value;
    drawChart();
  } } }, h('option', { value: '' }, 'All pipelines'));
  const runsBody = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const slaBody = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(
    h('section', { id: 'pipelines' }, h('h2', null, 'Pipelines'), pipelinesBody),
    h('section', { id: 'sla' }, h('h2', null, 'Service levels'), slaBody),
    h('section', { id: 'throughput' }, h('div', { class: 'section-head' }, h('h2', null, 'Throughput, last 24 h'), pick), chartBody,
      h('p', { class: 'legend' }, h('span', { class: 'key ok' }), 'succeeded ', h('span', { class: 'key bad' }), 'failed')),
    h('section', { id: 'runs' }, h('h2', null, 'Runs'), runsBody),
  );

  function drawChart() {
    if (stats === null) return;
    const total = stats.pipelines.reduce((n, p) => n + p.hours.reduce((m, x) => m + x.processed, 0), 0);
    chartBody.replaceChildren(throughputChart(stats, chosen),
      h('p', { class: 'muted' }, `${fmtNumber(total)} items processed in the last ${stats.hours.length} hours`));
  }

  function runRow(state) {
    return {
      attrs: { 'data-job': state.id },
      cells: [
        h('a', { href: runHref(state.id) }, state.id),
        state.pipeline,
        statusBadge(state.status),
        progressCell(state),
        fmtTime(state.createdAt),
      ],
    };
  }

  function drawRuns() {
    const list = [...states.values()];
    runsBody.replaceChildren(table(['Run', 'Pipeline', 'Status', 'Progress', 'Started'], list.map(runRow), 'No runs yet.'));
  }

  function follow(state) {
    if (streams.has(state.id) || isEnded(state.status) || streams.size >= maxStreams) return;
    const done = watch(state, (type, error) => {
      if (type === 'error') app.failed(error);
      drawRuns();
    }, controller.signal);
    streams.set(state.id, done);
    done.finally(() => streams.delete(state.id));
  }

  /** Resolves to the pipelines listed, or null when the list could not be loaded. */
  async function loadPipelines() {
    try {
      const { pipelines } = await api('/v1/pipelines', { signal: controller.signal });
      pipelinesBody.replaceChildren(pipelinesView(pipelines));
      return pipelines;
    } catch (error) {
      if (!app.failed(error)) pipelinesBody.replaceChildren(errorNote(error));
      return null;
    }
  }

  async function loadSla(pipelines) {
    if (pipelines === null) return;
    try {
      const statuses = await Promise.all(pipelines.filter((p) => p.sla)
        .map((p) => api(`/v1/pipelines/${encodeURIComponent(p.name)}/sla`, { signal: controller.signal })));
      slaBody.replaceChildren(slaView(statuses));
    } catch (error) {
      if (!app.failed(error)) slaBody.replaceChildren(errorNote(error));
    }
  }

  async function loadStats() {
    try {
      stats = await api('/v1/stats/throughput?hours=24', { signal: controller.signal });
      const names = stats.pipelines.map((p) => p.pipeline);
      if (chosen !== null && !names.includes(chosen)) chosen = null;
      pick.replaceChildren(h('option', { value: '' }, 'All pipelines'), ...names.map((n) => h('option', { value: n, selected: n === chosen }, n)));
      drawChart();
    } catch (error) {
      if (!app.failed(error)) chartBody.replaceChildren(errorNote(error));
    }
  }

  async function loadRuns() {
    try {
      const { jobs } = await api('/v1/jobs?limit=30', { signal: controller.signal });
      const fresh = new Map();
      for (const job of jobs) {
        const known = states.get(job.job_id);
        // A followed job's stream is fresher than the list.
        fresh.set(job.job_id, known && streams.has(job.job_id) ? known : fromView(job));
      }
      states.clear();
      for (const [id, state] of fresh) states.set(id, state);
      drawRuns();
      for (const state of states.values()) follow(state);
    } catch (error) {
      if (!app.failed(error)) runsBody.replaceChildren(errorNote(error));
    }
  }

  let ticks = 0;
  async function tick() {
    const slow = ticks % slowEvery === 0;
    await Promise.all([loadPipelines().then((pipelines) => (slow ? loadSla(pipelines) : null)), loadRuns(), slow ? loadStats() : null]);
    ticks += 1;
    if (!controller.signal.aborted) timer = setTimeout(tick, refreshMs);
  }
  void tick();

  return {
    dispose() {
      clearTimeout(timer);
      controller.abort();
    },
  };
}
