/**
 * Numbers as the CLI, reports and messages print them. `toLocaleString('en-US')` wrote the same
 * text, but its first call starts ICU's number formatting: 11.6 ms of every command that printed a
 * count (a 1,000-item `lading run` takes 0.35-0.4 s in all).
 */

/**
 * `n` with a comma between thousands and at most three decimals: 1,234,567 and 1,234.568, as
 * `toLocaleString('en-US')` writes them.
 */
export function grouped(n: number): string {
  if (!Number.isFinite(n) || Math.abs(n) >= 1e21) return n.toLocaleString('en-US');
  const text = Math.abs(n).toFixed(3).replace(/\.?0+$/, '');
  const dot = text.indexOf('.');
  const whole = dot === -1 ? text : text.slice(0, dot);
  const sign = n < 0 || Object.is(n, -0) ? '-' : '';
  return `${sign}${whole.replace(/\B(?=(\d{3})+$)/g, ',')}${dot === -1 ? '' : text.slice(dot)}`;
}
