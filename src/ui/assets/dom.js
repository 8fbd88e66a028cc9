// Builds DOM nodes: data only ever becomes text (textContent) or an attribute value, never markup.

const svgNs = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h('td', { class: 'n' }, 'text', otherNode) */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) => build(document.createElementNS(svgNs, tag), attrs, children);

export const runHref = (id) => `#/runs/${encodeURIComponent(id)}`;

export function fmtNumber(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** A table that turns into labelled cards on a phone: each cell carries its column's name. */
export function table(columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h('table', { class: 'cards' },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((row) => h('tr', row.attrs ?? null,
      row.cells.map((cell, i) => h('td', { 'data-label': columns[i] }, cell))))));
}

/** An error as the API reports it, with what to do on 401/403. */
export function errorNote(error) {
  const what = error?.status === 403 ? 'This API key may not see this' : 'Could not load this';
  return h('p', { class: 'error', role: 'alert' }, `${what}: ${error?.message ?? String(error)}`);
}

export function progressBar(percent, label) {
  const fill = h('div', { class: 'fill' });
  const known = percent !== null && percent !== undefined;
  if (known) fill.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return h('div', {
    class: known ? 'bar' : 'bar unknown', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
    'aria-valuenow': known ? Math.round(percent) : undefined, 'aria-label': label,
  }, fill);
}
