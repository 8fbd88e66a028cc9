// Inline SVG charts: stacked hourly throughput, and a run's chunk timeline.
import { fmtDuration, fmtNumber, s } from './dom.js';

const width = 720;
const height = 180;
const pad = { left: 44, right: 8, top: 10, bottom: 24 };

function frame(label, max) {
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' });
  const y0 = height - pad.bottom;
  svg.append(
    s('line', { x1: pad.left, x2: width - pad.right, y1: y0, y2: y0, class: 'axis' }),
    s('text', { x: pad.left - 6, y: pad.top + 8, class: 'tick', 'text-anchor': 'end' }, fmtNumber(max)),
    s('text', { x: pad.left - 6, y: y0, class: 'tick', 'text-anchor': 'end' }, '0'),
  );
  return svg;
}

/** Bars of `values` ([{ parts: [{ value, cls }], title, label? }]) stacked from the axis up. */
function bars(svg, values, max) {
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const step = plotW / Math.max(1, values.length);
  const barW = Math.max(1, step * 0.8);
  values.forEach((v, i) => {
    const x = pad.left + i * step + (step - barW) / 2;
    let y = height - pad.bottom;
    const group = s('g', { class: 'bar-group' }, s('title', null, v.title));
    // A full-height transparent hit area so an empty hour still shows its tooltip.
    group.append(s('rect', { x, y: pad.top, width: barW, height: plotH, class: 'hit' }));
    for (const part of v.parts) {
      const h = max > 0 ? (part.value / max) * plotH : 0;
      if (h <= 0) continue;
      y -= h;
      group.append(s('rect', { x, y, width: barW, height: h, class: part.cls }));
    }
    svg.append(group);
    if (v.label) svg.append(s('text', { x: x + barW / 2, y: height - 6, class: 'tick', 'text-anchor': 'middle' }, v.label));
  });
}

/** Items per hour, succeeded and failed stacked; `pipeline` null sums every pipeline. */
export function throughputChart(stats, pipeline) {
  const series = stats.pipelines.filter((p) => pipeline === null || p.pipeline === pipeline);
  const hours = stats.hours.map((hour, i) => {
    const sum = (field) => series.reduce((n, p) => n + p.hours[i][field], 0);
    return { hour, succeeded: sum('succeeded'), failed: sum('failed'), processed: sum('processed') };
  });
  const max = Math.max(0, ...hours.map((x) => x.succeeded + x.failed));
  const svg = frame(`Items per hour over the last ${hours.length} hours`, max);
  bars(svg, hours.map((x, i) => {
    const start = new Date(x.hour);
    const hh = start.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    return {
      parts: [{ value: x.succeeded, cls: 'ok' }, { value: x.failed, cls: 'bad' }],
      title: `${start.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}: ${fmtNumber(x.processed)} processed, ${fmtNumber(x.succeeded)} succeeded, ${fmtNumber(x.failed)} failed`,
      label: i % 6 === 0 || i === hours.length - 1 ? hh : null,
    };
  }), max);
  return svg;
}

/** One bar per committed chunk, as tall as it took (or as many items, before durations were kept); failures in red. */
export function chunkTimeline(chunks) {
  const byDuration = chunks.every((c) => c.duration_ms !== null);
  const measure = (c) => (byDuration ? c.duration_ms : c.items);
  const max = Math.max(0, ...chunks.map(measure));
  const svg = frame(`Chunk ${byDuration ? 'durations in ms' : 'sizes in items'}`, max);
  bars(svg, chunks.map((c, i) => {
    const value = measure(c);
    const failedShare = c.items > 0 ? c.failed / c.items : 0;
    return {
      parts: [{ value: value * (1 - failedShare), cls: 'ok' }, { value: value * failedShare, cls: 'bad' }],
      title: `chunk ${c.index}: ${fmtNumber(c.items)} items, ${fmtNumber(c.succeeded)} succeeded, ${fmtNumber(c.failed)} failed`
        + `${c.duration_ms === null ? '' : `, ${fmtDuration(c.duration_ms / 1000)}`}, committed ${new Date(c.committed_at).toLocaleTimeString()}`,
      label: chunks.length <= 12 || i % Math.ceil(chunks.length / 12) === 0 ? String(c.index) : null,
    };
  }), max);
  return svg;
}
