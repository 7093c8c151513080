import { Row } from './leaderboardTable';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** A self-contained page (no script, no network): the table and an SVG bar chart of the same numbers. */
export function toHtml(title: string, rows: Row[], tasks: string[], note: string): string {
  const pct = (x: number) => (Number.isNaN(x) ? '–' : (100 * x).toFixed(1));
  const head = `<tr><th>method</th>${tasks.map((t) => `<th>${esc(t)}</th>`).join('')}<th>average</th></tr>`;
  const body = rows
    .map((r) => {
      const cells = tasks.map((t) => {
        const v = r.tasks[t];
        return `<td data-task="${esc(t)}" data-mean="${Number.isNaN(v.mean) ? '' : v.mean}">${pct(v.mean)}${Number.isNaN(v.std) ? '' : ` ± ${pct(v.std)}`}</td>`;
      });
      return `<tr class="${r.published ? 'published' : 'ours'}"><th scope="row">${esc(r.method)}${r.published ? ' <small>(published, RoBERTa-large)</small>' : ''}</th>${cells.join('')}<td>${pct(r.average)}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin-bottom:2em}th,td{border:1px solid #ccc;padding:.35em .7em;text-align:right}
th[scope=row]{text-align:left}tr.published{color:#777;font-style:italic}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Test accuracy (%), mean ± standard deviation over data seeds. ${esc(note)}</p>
<table id="leaderboard">${head}
${body}</table>
${chart(rows, tasks)}
</body></html>
`;
}

/** Grouped bars: one group per task, one bar per method, whiskers for ± std. */
function chart(rows: Row[], tasks: string[]): string {
  const W = 160 * tasks.length + 200;
  const H = 320;
  const top = 20;
  const plotH = 240;
  const left = 50;
  const groupW = (W - left - 180) / tasks.length;
  const barW = (groupW - 20) / Math.max(1, rows.length);
  const y = (v: number) => top + plotH * (1 - v);
  const parts: string[] = [];
  for (let g = 0; g <= 10; g += 2) parts.push(`<line x1="${left}" x2="${W - 180}" y1="${y(g / 10)}" y2="${y(g / 10)}" stroke="#eee"/><text x="${left - 6}" y="${y(g / 10) + 4}" text-anchor="end" font-size="11">${g * 10}</text>`);
  tasks.forEach((t, ti) => {
    const gx = left + ti * groupW + 10;
    rows.forEach((r, ri) => {
      const v = r.tasks[t];
      if (Number.isNaN(v.mean)) return;
      const x = gx + ri * barW;
      parts.push(`<rect class="bar" data-method="${esc(r.method)}" data-task="${esc(t)}" data-mean="${v.mean}" x="${x.toFixed(1)}" y="${y(v.mean).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(plotH * v.mean).toFixed(1)}" fill="${COLORS[ri % COLORS.length]}"${r.published ? ' fill-opacity="0.45"' : ''}><title>${esc(r.method)} ${esc(t)}: ${(100 * v.mean).toFixed(1)}</title></rect>`);
      if (!Number.isNaN(v.std) && v.std > 0) {
        const cx = x + (barW - 2) / 2;
        parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(Math.min(1, v.mean + v.std))}" y2="${y(Math.max(0, v.mean - v.std))}" stroke="#333"/>`);
      }
    });
    parts.push(`<text x="${gx + (groupW - 20) / 2}" y="${top + plotH + 18}" text-anchor="middle" font-size="12">${esc(t)}</text>`);
  });
  rows.forEach((r, ri) => parts.push(`<rect x="${W - 170}" y="${top + ri * 18}" width="12" height="12" fill="${COLORS[ri % COLORS.length]}"/><text x="${W - 152}" y="${top + ri * 18 + 10}" font-size="12">${esc(r.method)}</text>`));
  return `<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="test accuracy by method and task">${parts.join('')}</svg>`;
}
