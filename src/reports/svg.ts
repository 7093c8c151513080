/** Small helpers for the self-contained HTML reports (inline SVG, no script, no network). */

export const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Tableau 10: distinguishable, colour-blind friendlier than the defaults. */
export const COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

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
export function fitRange(
  values: number[],
  opts: { lo?: number; hi?: number; minSpan?: number } = {},
): { min: number; max: number; ticks: number[] } {
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

/**
 * An axis from 0 that ends exactly at `max` (a budget): round ticks below it, and `max` itself
 * as the last tick (a round tick too close to it to be read apart is left out).
 */
export function axisTo(max: number): { min: number; max: number; ticks: number[] } {
  if (!(max > 0)) return { min: 0, max: 1, ticks: [0, 1] };
  const step = niceStep(max / 8);
  const ticks: number[] = [];
  for (let t = 0; t < max * 0.92; t += step) ticks.push(Number(t.toFixed(10)));
  ticks.push(max);
  return { min: 0, max, ticks };
}

/** Marker shapes, told apart without colour: one per run (or template) on a chart. */
export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'triangle-down', 'pentagon'] as const;
export type Shape = (typeof SHAPES)[number];

/** A hollow marker of `shape` centred at (cx, cy), about `r` in radius; `extra`: more attributes (escaped) and `inner` (e.g. a title). */
export function marker(shape: Shape, cx: number, cy: number, r: number, color: string, extra = '', inner = ''): string {
  const style = ` fill="white" stroke="${color}" stroke-width="2.5"`;
  const f = (v: number) => v.toFixed(1);
  if (shape === 'circle') return `<circle${extra} cx="${f(cx)}" cy="${f(cy)}" r="${f(r)}"${style}>${inner}</circle>`;
  if (shape === 'square')
    return `<rect${extra} x="${f(cx - r * 0.9)}" y="${f(cy - r * 0.9)}" width="${f(1.8 * r)}" height="${f(1.8 * r)}"${style}>${inner}</rect>`;
  const corners = (n: number, rot: number, k = 1.25) =>
    Array.from({ length: n }, (_, i) => {
      const a = rot + (2 * Math.PI * i) / n;
      return `${f(cx + k * r * Math.cos(a))},${f(cy + k * r * Math.sin(a))}`;
    }).join(' ');
  const pts =
    shape === 'triangle'
      ? corners(3, -Math.PI / 2, 1.35)
      : shape === 'triangle-down'
        ? corners(3, Math.PI / 2, 1.35)
        : shape === 'diamond'
          ? corners(4, -Math.PI / 2, 1.3)
          : corners(5, -Math.PI / 2, 1.15);
  return `<polygon${extra} points="${pts}"${style}>${inner}</polygon>`;
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

export const pct = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || Number.isNaN(x) ? '–' : (100 * x).toFixed(digits);
/** Compact numbers on axes: 12000 → 12k. */
export const short = (v: number) =>
  Math.abs(v) >= 1000 ? `${Number((v / 1000).toFixed(1))}k` : String(Number(v.toFixed(3)));
