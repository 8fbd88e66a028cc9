// A run's page: live progress, chunk timeline, errors by category, dead letters (retry, skip), delivered files.
import { api, follow } from './api.js';
import { chunkTimeline } from './charts.js';
import { errorNote, fmtBytes, fmtNumber, fmtTime, h, runHref, table } from './dom.js';
import { fromView, isEnded, progressCell, statusBadge, watch } from './progress.js';

export function renderRun(main, id, app) {
  const controller = new AbortController();
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  const get = (path) => api(`${base}${path}`, { signal: controller.signal });
  let state = null;
  let chunksPending = false;

  const head = h('div', { class: 'run-head' }, h('p', { class: 'muted' }, 'Loading…'));
  const chunksBody = h('div', { class: 'chart-wrap' });
  const errorsBody = h('div');
  const lettersNote = h('div', { class: 'notes', 'aria-live': 'polite' });
  const lettersBody = h('div');
  const filesBody = h('div');
  main.replaceChildren(
    h('p', null, h('a', { href: '#/' }, '← All runs')),
    h('section', { id: 'run' }, head),
    h('section', { id: 'chunks' }, h('h2', null, 'Chunk timeline'), chunksBody),
    h('section', { id: 'errors' }, h('h2', null, 'Errors by category'), errorsBody),
    h('section', { id: 'dead-letters' }, h('h2', null, 'Dead letters'), lettersNote, lettersBody),
    h('section', { id: 'files' }, h('h2', null, 'Delivered files'), filesBody),
  );

  async function load(body, what, render) {
    try {
      body.replaceChildren(render(await what()));
    } catch (error) {
      if (error.name !== 'AbortError' && !app.failed(error)) body.replaceChildren(errorNote(error));
    }
  }

  function drawHead() {
    head.replaceChildren(
      h('h1', null, h('span', { class: 'run-id' }, state.id), ' ', statusBadge(state.status)),
      h('dl', { class: 'facts' },
        h('dt', null, 'Pipeline'), h('dd', null, state.pipeline),
        h('dt', null, 'Mode'), h('dd', null, state.mode),
        h('dt', null, 'Started'), h('dd', null, fmtTime(state.createdAt)),
        h('dt', null, 'Completed'), h('dd', null, fmtTime(state.completedAt)),
        h('dt', null, 'Succeeded'), h('dd', null, fmtNumber(state.succeeded)),
        h('dt', null, 'Failed'), h('dd', null, fmtNumber(state.failed)),
      ),
      progressCell(state),
    );
  }

  const loadChunks = () => load(chunksBody, () => get('/chunks'), ({ chunks }) => (chunks.length === 0
    ? h('p', { class: 'muted' }, 'No chunk committed yet.')
    : h('div', null, chunkTimeline(chunks), h('p', { class: 'muted' }, `${fmtNumber(chunks.length)} chunks committed`))));

  const loadErrors = () => load(errorsBody, () => get('/errors'), (errors) => {
    const types = Object.entries(errors.error_categories);
    const warnings = Object.entries(errors.warning_categories);
    if (types.length === 0 && warnings.length === 0) return h('p', { class: 'muted' }, 'No errors.');
    return h('div', null,
      types.map(([type, count]) => h('div', { class: 'category', 'data-category': type },
        h('h3', null, `${type} `, h('span', { class: 'count' }, fmtNumber(count))),
        h('ul', { class: 'samples' }, (errors.samples[type] ?? []).map((e) =>
          h('li', null, h('code', null, e.code), ' ', e.item_id ?? '', ': ', e.message))))),
      warnings.length === 0 ? null : h('p', { class: 'muted' }, `Warnings: ${warnings.map(([t, n]) => `${t} ${fmtNumber(n)}`).join(', ')}`));
  });

  async function act(action, itemIds) {
    try {
      const answer = await api(`${base}/dead-letters/${action}`, { method: 'POST', body: { item_ids: itemIds }, signal: controller.signal });
      if (action === 'skip') {
        lettersNote.replaceChildren(h('p', { class: 'ok-note', role: 'status' }, `Skipped ${fmtNumber(answer.skipped)} dead letter${answer.skipped === 1 ? '' : 's'}.`));
      } else {
        lettersNote.replaceChildren(h('p', { class: 'ok-note', role: 'status' }, `Retrying ${itemIds.join(', ')} as run `, h('a', { href: runHref(answer.job_id) }, answer.job_id)));
        // The letters count as retried once the retry run has ended: follow it, then show them so.
        await follow(`/v1/jobs/${encodeURIComponent(answer.job_id)}/events`, () => {}, controller.signal);
      }
    } catch (error) {
      if (!app.failed(error)) lettersNote.replaceChildren(errorNote(error));
    }
    if (!controller.signal.aborted) await loadLetters();
  }

  const loadLetters = () => load(lettersBody, () => get('/dead-letters?limit=200'), ({ dead_letters: letters, has_more: more }) => {
    const canAct = isEnded(state?.status) && state?.status !== 'interrupted';
    const rows = letters.map((l) => ({
      attrs: { 'data-item': l.item_id ?? '' },
      cells: [
        h('code', null, l.item_id ?? '–'),
        l.error_type,
        h('span', null, h('code', null, l.code), ' ', l.message),
        fmtNumber(l.attempts),
        h('span', { class: `letter-status ls-${l.status}` }, l.status),
        l.status === 'dead' && l.item_id !== null && canAct
          ? h('span', { class: 'actions' },
            h('button', { type: 'button', 'data-action': 'retry', on: { click: (e) => { e.currentTarget.disabled = true; void act('retry', [l.item_id]); } } }, 'Retry'),
            h('button', { type: 'button', class: 'secondary', 'data-action': 'skip', on: { click: (e) => { e.currentTarget.disabled = true; void act('skip', [l.item_id]); } } }, 'Skip'))
          : '',
      ],
    }));
    return h('div', null,
      table(['Item', 'Error type', 'Error', 'Attempts', 'Status', ''], rows, 'No dead letters.'),
      more ? h('p', { class: 'muted' }, 'Showing the first 200; `lading dlq list --run` lists them all.') : null);
  });

  const loadFiles = () => load(filesBody, () => get('/files'), ({ files }) => table(['File', 'Size', 'Records', 'SHA-256', 'Delivery'], files.map((f) => ({
    attrs: { 'data-file': f.name },
    cells: [
      h('span', { class: 'anywhere' }, f.name),
      fmtBytes(f.bytes),
      fmtNumber(f.records),
      h('code', { class: 'hash', title: f.sha256 }, f.sha256),
      h('span', { class: 'anywhere' }, f.deliveries.length === 0 ? f.uri : f.deliveries.map((d) => `${d.destination}: ${d.state}`).join('; ')),
    ],
  })), 'No files delivered.'));

  const loadDetails = () => Promise.all([loadChunks(), loadErrors(), loadLetters(), loadFiles()]);

  async function start() {
    try {
      state = fromView(await get(''));
    } catch (error) {
      if (error.name !== 'AbortError' && !app.failed(error)) head.replaceChildren(errorNote(error));
      return;
    }
    drawHead();
    await loadDetails();
    if (isEnded(state.status)) return;
    await watch(state, (type, error) => {
      if (type === 'error') app.failed(error);
      drawHead();
      if (type === 'progress' && !chunksPending) {
        // One timeline reload at a time, however fast chunks commit.
        chunksPending = true;
        void loadChunks().finally(() => (chunksPending = false));
      }
    }, controller.signal);
    if (!controller.signal.aborted) await loadDetails();
  }
  void start();

  return {
    dispose() {
      controller.abort();
    },
  };
}
