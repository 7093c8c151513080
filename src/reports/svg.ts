/** Small helpers for the self-contained HTML reports (inline SVG, no script, no network). */

export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Tableau 10: distinguishable, colour-blind friendlier than the defaults. */
export const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** A fixed colour per key, in first-seen order. */
export function colorMap(keys: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of keys) if (!m.has(k)) m.set(k, COLORS[m.size % COLORS.length]);
  return m;
}

/**
 * An axis range fitted to the values (not from 0): padded by 10 % of the spread, at least
 * `minSpan` wide, clipped to [lo, hi], rounded out to the tick step.
 */
export function fitRange(values: number[], opts: { lo?: number; hi?: number; minSpan?: number } = {}): { min: number; max: number; ticks: number[] } {
  const finite = values.filter((v) => Number.isFinite(v));
  const lo = opts.lo ?? -Infinity;
  const hi = opts.hi ?? Infinity;
  let min = finite.length ? Math.min(...finite) : 0;
  let max = finite.length ? Math.max(...finite) : 1;
  const span = Math.max(max - min, opts.minSpan ?? 0.02);
  const mid = (min + max) / 2;
  min = Math.max(lo, Math.min(min, mid - span / 2) - 0.1 * span);
  max = Math.min(hi, Math.max(max, mid + span / 2) + 0.1 * span);
  const step = niceStep((max - min) / 5);
  min = Math.max(lo, Math.floor(min / step) * step);
  max = Math.min(hi, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 1e6; t += step) ticks.push(Number(t.toFixed(10)));
  return { min, max, ticks };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Linear map from [d0, d1] to [r0, r1]. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : (100 * x).toFixed(digits));
/** Compact numbers on axes: 12000 → 12k. */
export const short = (v: number) => (Math.abs(v) >= 1000 ? `${Number((v / 1000).toFixed(1))}k` : String(Number(v.toFixed(3))));
