import { Cell, Row } from './leaderboardTable';
import { colorMap, esc, fitRange, pct, scale } from './svg';

/** Rows drawn as reference lines rather than as a method with seeds: published numbers, the manual prompt, probes. */
export type ReferenceKind = 'published' | 'manual' | 'probe';

export interface ChartOptions {
  /** Finished cells: every seed is a dot. */
  cells?: Cell[];
  /** Which of our methods are references (e.g. the suite's `manual: true` methods); published rows always are. */
  references?: Record<string, ReferenceKind>;
}

const REF_STYLE: Record<ReferenceKind, { color: string; dash: string; label: string }> = {
  published: { color: '#8c8c8c', dash: '2 3', label: 'published, RoBERTa-large' },
  manual: { color: '#b07aa1', dash: '6 3', label: 'manual prompt, this model' },
  probe: { color: '#59a14f', dash: '8 3 2 3', label: 'probe, this model' },
};

/** A self-contained page (no script, no network): the table and an SVG chart of the same numbers. */
export function toHtml(title: string, rows: Row[], tasks: string[], note: string, opts: ChartOptions = {}): string {
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
<p>Chart: each dot is one data seed; the bar is the mean, the whisker ± one standard deviation. Dashed lines are references. Each task's axis is fitted to its numbers.</p>
${chart(rows, tasks, opts)}
</body></html>
`;
}

/** One panel per task: a line per method (full name), its seeds as dots, mean and ± std; references as vertical lines. */
function chart(rows: Row[], tasks: string[], opts: ChartOptions): string {
  const refKind = (r: Row): ReferenceKind | undefined => (r.published ? 'published' : opts.references?.[r.method]);
  const methods = rows.filter((r) => !refKind(r));
  const refs = rows.filter((r) => refKind(r));
  const colors = colorMap(methods.map((r) => r.method));
  const cells = opts.cells ?? [];
  const nameW = Math.max(80, ...methods.map((r) => r.method.length * 6.6)) + 16;
  const W = nameW + 560;
  const rowH = 26;
  const refH = 16 * refs.length;
  const panelH = 30 + refH + rowH * methods.length + 30;
  const parts: string[] = [];
  tasks.forEach((task, ti) => {
    const top = ti * (panelH + 10);
    // Fitted to this model's numbers (seeds, mean ± std, manual and probe lines); published
    // RoBERTa-large lines outside that range sit at the edge with an arrow.
    const own = rows.filter((r) => !r.published);
    const values = [
      ...cells.filter((c) => c.task === task).map((c) => c.testAccuracy),
      ...own.flatMap((r) => [
        r.tasks[task].mean,
        r.tasks[task].mean - (r.tasks[task].std || 0),
        r.tasks[task].mean + (r.tasks[task].std || 0),
      ]),
    ].filter((v) => Number.isFinite(v));
    const range = fitRange(values, { lo: 0, hi: 1, minSpan: 0.04 });
    const x0 = nameW,
      x1 = W - 20;
    const x = scale(range.min, range.max, x0, x1);
    const plotTop = top + 24 + refH;
    const plotBottom = plotTop + rowH * methods.length;
    parts.push(
      `<g class="panel" data-task="${esc(task)}"><text x="0" y="${top + 16}" font-size="14" font-weight="600">${esc(task)}</text>`,
    );
    for (const t of range.ticks)
      parts.push(
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${plotTop - 4}" y2="${plotBottom}" stroke="#eee"/><text x="${x(t).toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle" font-size="11">${pct(t)}</text>`,
      );
    parts.push(`<line x1="${x0}" x2="${x1}" y1="${plotBottom}" y2="${plotBottom}" stroke="#999"/>`);
    refs.forEach((r, k) => {
      const v = r.tasks[task].mean;
      if (!Number.isFinite(v)) return;
      const style = REF_STYLE[refKind(r)!];
      const inRange = v >= range.min && v <= range.max;
      const xv = x(Math.min(range.max, Math.max(range.min, v)));
      const ly = top + 34 + 16 * k;
      parts.push(
        `<line class="ref" data-method="${esc(r.method)}" data-task="${esc(task)}" data-kind="${refKind(r)}" data-mean="${v}" x1="${xv.toFixed(1)}" x2="${xv.toFixed(1)}" y1="${ly - 4}" y2="${plotBottom}" stroke="${style.color}" stroke-width="1.5" stroke-dasharray="${style.dash}"><title>${esc(r.method)} (${style.label}): ${pct(v)}</title></line>`,
      );
      const label = `${r.method} ${pct(v)}${inRange ? '' : v < range.min ? ' ◂' : ' ▸'}`;
      const anchor = xv > (x0 + x1) / 2 ? 'end' : 'start';
      parts.push(
        `<text x="${(xv + (anchor === 'end' ? -4 : 4)).toFixed(1)}" y="${ly}" text-anchor="${anchor}" font-size="11" fill="${style.color}">${esc(label)}</text>`,
      );
    });
    methods.forEach((r, m) => {
      const cy = plotTop + rowH * m + rowH / 2;
      const color = colors.get(r.method)!;
      parts.push(`<text x="${nameW - 10}" y="${cy + 4}" text-anchor="end" font-size="12">${esc(r.method)}</text>`);
      const v = r.tasks[task];
      const seeds = cells.filter((c) => c.method === r.method && c.task === task).sort((a, b) => a.seed - b.seed);
      seeds.forEach((c, k) => {
        const jitter = seeds.length > 1 ? (k / (seeds.length - 1) - 0.5) * (rowH * 0.5) : 0;
        parts.push(
          `<circle class="seed" data-method="${esc(r.method)}" data-task="${esc(task)}" data-seed="${c.seed}" data-acc="${c.testAccuracy}" cx="${x(c.testAccuracy).toFixed(1)}" cy="${(cy + jitter).toFixed(1)}" r="3.5" fill="${color}" fill-opacity="0.55" stroke="${color}"><title>${esc(r.method)}, ${esc(task)}, seed ${c.seed}: ${pct(c.testAccuracy)}</title></circle>`,
        );
      });
      if (!Number.isFinite(v.mean)) return;
      if (Number.isFinite(v.std) && v.std > 0)
        parts.push(
          `<line class="spread" data-method="${esc(r.method)}" data-task="${esc(task)}" data-std="${v.std}" x1="${x(Math.max(range.min, v.mean - v.std)).toFixed(1)}" x2="${x(Math.min(range.max, v.mean + v.std)).toFixed(1)}" y1="${cy}" y2="${cy}" stroke="#333" stroke-width="1.5"/>`,
        );
      parts.push(
        `<line class="mean" data-method="${esc(r.method)}" data-task="${esc(task)}" data-mean="${v.mean}" x1="${x(v.mean).toFixed(1)}" x2="${x(v.mean).toFixed(1)}" y1="${cy - rowH * 0.4}" y2="${cy + rowH * 0.4}" stroke="#111" stroke-width="3"><title>${esc(r.method)}, ${esc(task)}: mean ${pct(v.mean)}${Number.isFinite(v.std) ? ` ± ${pct(v.std)}` : ''} over ${v.n} seed(s)</title></line>`,
      );
    });
    parts.push('</g>');
  });
  const H = tasks.length * (panelH + 10) + 10;
  return `<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="test accuracy by method and task, every seed">${parts.join('')}</svg>`;
}
