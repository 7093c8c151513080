import type { RunReportData } from './runReport';
import { COLORS, SHAPES, Shape, axisTo, esc, fitRange, marker, pct, scale, short } from './svg';

interface Series {
  cls: string;
  color: string;
  points: [number, number][];
  /** Extra attributes (already escaped values). */
  attrs: Record<string, string>;
  dash?: boolean;
  title: string;
}
interface Marker {
  cls: string;
  color: string;
  shape: Shape;
  x: number;
  y: number;
  attrs: Record<string, string>;
  title: string;
}
/** A legend entry: a line (solid or dashed) and/or a marker, in a colour. */
interface Key {
  name: string;
  color: string;
  line?: 'solid' | 'dash';
  shape?: Shape;
}

const attrs = (a: Record<string, string>) =>
  Object.entries(a)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');

/** A legend entry as inline SVG (its line and marker) and its name. */
function keyHtml(k: Key): string {
  const line = k.line
    ? `<line x1="2" x2="34" y1="8" y2="8" stroke="${k.color}" stroke-width="2"${k.line === 'dash' ? ' stroke-dasharray="5 3"' : ''}/>`
    : '';
  const m = k.shape ? marker(k.shape, 18, 8, 4.5, k.color) : '';
  return `<span class="key"><svg width="36" height="16" viewBox="0 0 36 16" aria-hidden="true">${line}${m}</svg>${esc(k.name)}</span>`;
}

/**
 * A line chart (steps for "best so far" curves): x from 0 to `xMax` (a budget; default: fitted
 * to the data), y fitted to the data; legend below.
 */
function lineChart(
  id: string,
  label: string,
  series: Series[],
  markers: Marker[],
  legend: Key[],
  xLabel: string,
  yLabel: string,
  step: boolean,
  xMax?: number,
): string {
  const W = 720,
    H = 300,
    L = 56,
    R = 24,
    T = 12,
    B = 44;
  const xs = [...series.flatMap((s) => s.points.map((p) => p[0])), ...markers.map((m) => m.x)];
  const ys = [...series.flatMap((s) => s.points.map((p) => p[1])), ...markers.map((m) => m.y)];
  const xr = xMax !== undefined ? axisTo(Math.max(xMax, ...xs)) : fitRange([0, ...xs], { lo: 0, minSpan: 1 });
  const yr = fitRange(ys, { lo: 0, hi: 1, minSpan: 0.05 });
  const x = scale(xr.min, xr.max, L, W - R);
  const y = scale(yr.min, yr.max, H - B, T);
  const parts: string[] = [];
  for (const t of yr.ticks)
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${pct(t)}</text>`,
    );
  for (const t of xr.ticks)
    parts.push(
      `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${H - B}" y2="${H - B + 4}" stroke="#999"/><text class="x-tick" data-x="${t}" x="${x(t).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${short(t)}</text>`,
    );
  parts.push(
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#999"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#999"/>`,
  );
  parts.push(
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(xLabel)}</text><text x="14" y="${(T + H - B) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(yLabel)}</text>`,
  );
  for (const s of series) {
    if (s.points.length === 0) continue;
    const pts: string[] = [];
    s.points.forEach(([px, py], i) => {
      if (step && i > 0) pts.push(`${x(px).toFixed(1)},${y(s.points[i - 1][1]).toFixed(1)}`);
      pts.push(`${x(px).toFixed(1)},${y(py).toFixed(1)}`);
    });
    const data = s.points.map(([px, py]) => `${px}:${py}`).join(' ');
    parts.push(
      `<polyline class="${s.cls}"${attrs(s.attrs)} data-points="${data}" points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5 3"' : ''}><title>${esc(s.title)}</title></polyline>`,
    );
    if (s.points.length === 1)
      parts.push(
        `<circle cx="${x(s.points[0][0]).toFixed(1)}" cy="${y(s.points[0][1]).toFixed(1)}" r="2.5" fill="${s.color}"/>`,
      );
  }
  // Markers at (nearly) the same point (e.g. every template's dev at its budget's end, dev
  // accuracies of a few dozen examples often equal) are set side by side, not on top of each other.
  const placed: [number, number][] = [];
  for (const m of markers) {
    let px = x(m.x);
    const py = y(m.y);
    while (placed.some(([qx, qy]) => Math.abs(qx - px) < 11 && Math.abs(qy - py) < 11)) px -= 12;
    placed.push([px, py]);
    parts.push(
      marker(
        m.shape,
        px,
        py,
        5.5,
        m.color,
        ` class="${m.cls}"${attrs({ ...m.attrs, 'data-shape': m.shape })}`,
        `<title>${esc(m.title)}</title>`,
      ),
    );
  }
  return `<figure><svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}" data-x-max="${xr.max}">${parts.join('')}</svg><figcaption>${legend.map(keyHtml).join(' ')}</figcaption></figure>`;
}

/** How one run (or one template's search) is drawn: its colour and its marker's shape. */
interface Style {
  color: string;
  shape: Shape;
}

const OBJECTIVE_TEXT: Record<string, string> = {
  ce: 'ce, minus the cross-entropy of the calibrated label scores',
  accuracy: 'accuracy, ties broken by the margin',
  margin: 'margin, the mean RLPrompt gap',
};

/**
 * The learning curves of the page's runs. One run: its curve; a run over several templates: one
 * curve per template, each against its own evaluations, the axis ending at a template's budget.
 * Several runs: one colour and marker per run, each run against its own evaluations (a run over
 * several templates: its templates' curves one after the other), the axis ending at the largest budget.
 */
function learningCurve(runs: RunReportData[], styles: Map<RunReportData, Style>): string {
  const byTemplate = runs.length === 1 && !!runs[0].templates?.length;
  const owners = byTemplate ? runs[0].templates! : runs;
  const series: Series[] = [];
  const markers: Marker[] = [];
  const legend: Key[] = [];
  for (const r of owners) {
    const st = styles.get(r)!;
    const attrsOf = (t: RunReportData, i?: number) => ({
      'data-run': r.runId,
      'data-strategy': r.strategy,
      ...(i !== undefined ? { 'data-template': String(i + 1) } : {}),
      ...(t !== r ? { 'data-sub-run': t.runId } : {}),
    });
    if (!byTemplate && r.templates?.length) {
      // A run over several templates on a page of several runs: its templates' searches in turn.
      let offset = 0;
      r.templates.forEach((t, i) => {
        series.push({
          cls: 'curve',
          color: st.color,
          points: t.curve.map((p) => [offset + p.evaluations, p.bestTrain]),
          attrs: attrsOf(t, i),
          title: `${r.runId}, template ${i + 1} (${t.template}): best train accuracy so far`,
        });
        offset += t.result?.evaluations ?? t.curve[t.curve.length - 1]?.evaluations ?? 0;
      });
    } else {
      series.push({
        cls: 'curve',
        color: st.color,
        points: r.curve.map((p) => [p.evaluations, p.bestTrain]),
        attrs: attrsOf(r),
        title: `${r.runId} (${r.strategy}): best train accuracy so far`,
      });
    }
    const res = r.result;
    if (res && res.dev !== null) {
      const at = !r.templates?.length && r.selection ? r.selection.evaluations : res.evaluations;
      markers.push({
        cls: 'dev',
        color: st.color,
        shape: st.shape,
        x: at,
        y: res.dev,
        attrs: {
          'data-run': r.runId,
          'data-evaluations': String(at),
          'data-accuracy': String(res.dev),
          'data-of': res.of,
        },
        title: `${byTemplate ? `template ${owners.indexOf(r) + 1}` : r.runId}: dev accuracy of its ${res.of} ${pct(res.dev)}`,
      });
    }
    legend.push({
      name: byTemplate
        ? `template ${owners.indexOf(r) + 1}: ${r.template}`
        : `${r.runId} (${r.strategy}${r.templates?.length ? `, ${r.templates.length} templates` : ''})`,
      color: st.color,
      line: 'solid',
      shape: st.shape,
    });
  }
  const xMax = Math.max(...owners.map((r) => r.budget));
  const objectives = [...new Set(owners.map((r) => r.objective))].map((o) => OBJECTIVE_TEXT[o] ?? o).join('; ');
  const what =
    'Lines: the highest train accuracy among the candidates scored on all of train so far (it never decreases), against example evaluations' +
    (byTemplate
      ? ", each template's search against its own, the axis ending at a template's share of the budget"
      : runs.length > 1
        ? ', the axis ending at the largest budget'
        : ', the axis ending at the budget') +
    `. The search ranks its candidates by its objective on train (${objectives}) and selects among the top ones on dev, so its pick may have a lower train accuracy than the line. ` +
    (byTemplate
      ? "Markers: the dev accuracy of each template's own result (dev is scored once, at the end). One colour and one marker shape per template."
      : "Markers: the dev accuracy of the run's result, the prompt or the ensemble it exports (dev is scored once, at the end)." +
        (runs.length > 1
          ? " One colour and one marker shape per run; a run over several templates is drawn as its templates' searches one after the other (each starts its best afresh), its marker at its end."
          : ''));
  return (
    `<h2>Learning curve</h2><p>${esc(what)}</p>` +
    lineChart(
      'learning-curve',
      'best train accuracy so far against evaluations',
      series,
      markers,
      legend,
      'example evaluations (train + dev)',
      'accuracy (%)',
      true,
      xMax,
    )
  );
}

/** A page of several runs: one row per run, its result and cost. */
function runsTable(runs: RunReportData[], styles: Map<RunReportData, Style>): string {
  const rows = runs
    .map((r) => {
      const st = styles.get(r)!;
      const res = r.result;
      return `<tr class="run-row" data-run="${esc(r.runId)}" data-dev="${res?.dev ?? ''}" data-test="${res?.test ?? ''}" data-evaluations="${res?.evaluations ?? ''}" data-seconds="${res?.seconds ?? ''}"><td class="l nw">${keyHtml({ name: '', color: st.color, line: 'solid', shape: st.shape })}${esc(r.runId)}</td><td class="l nw">${esc(r.name)}</td><td class="l">${esc(r.strategy)}${r.templates?.length ? ` over ${r.templates.length} templates` : ''}</td><td class="l">${res ? (res.of === 'prompt' ? `prompt <code>${esc(res.prompt)}</code>` : esc(res.prompt)) : esc(r.status)}</td><td>${pct(res?.dev, 2)}</td><td class="estimate" data-accuracy="${res?.estimate?.accuracy ?? ''}">${res?.estimate ? `${pct(res.estimate.accuracy, 1)} ± ${pct(res.estimate.std, 1)}` : '–'}</td><td>${pct(res?.test, 2)}</td><td class="nw">${res ? `${res.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')}` : `– of ${r.budget.toLocaleString('en-US')}`}</td><td>${res?.seconds === null || res?.seconds === undefined ? '–' : res.seconds.toFixed(1)}</td></tr>`;
    })
    .join('');
  return `<h2>Runs</h2><p>Each run's result (what <code>promptsearch export</code> writes: its prompt, or its ensemble), its accuracy on dev, its estimate (cross-validated on train + dev: what to expect on new data, unlike dev, which the selection and the fits have seen), its accuracy on test, and what it cost.${choices(runs)}</p><table class="runs"><tr><th class="l">run</th><th class="l">name</th><th class="l">strategy</th><th class="l">result</th><th>dev %</th><th>estimate %</th><th>test %</th><th>evaluations</th><th>seconds</th></tr>${rows}</table>`;
}

/** Each run's choice between its search and the hand-written baseline, one line each. */
function choices(runs: RunReportData[]): string {
  return runs
    .filter((r) => r.result?.choice)
    .map(
      (r) => `<br><span class="choice">${runs.length > 1 ? `${esc(r.runId)}: ` : ''}${esc(r.result!.choice!)}</span>`,
    )
    .join('');
}

function histogram(r: RunReportData, color: string): string {
  if (r.histogram.length === 0) return '<p>No candidate scored on the whole train split.</p>';
  const W = 520,
    H = 200,
    L = 40,
    B = 36,
    T = 10;
  const maxCount = Math.max(...r.histogram.map((h) => h.count));
  const lo = r.histogram[0].accuracy,
    hi = r.histogram[r.histogram.length - 1].accuracy;
  const n = r.histogram.length;
  const bw = Math.min(40, (W - L - 10) / Math.max(n, 1));
  const x = (i: number) => L + 5 + i * bw;
  const y = scale(0, maxCount, H - B, T);
  const bars = r.histogram
    .map(
      (h, i) =>
        `<rect class="hist" data-accuracy="${h.accuracy}" data-count="${h.count}" x="${x(i).toFixed(1)}" y="${y(h.count).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(H - B - y(h.count)).toFixed(1)}" fill="${color}"><title>train ${pct(h.accuracy)}: ${h.count} candidate(s)</title></rect>` +
        (n <= 16 || i % Math.ceil(n / 16) === 0
          ? `<text x="${(x(i) + bw / 2 - 1).toFixed(1)}" y="${H - B + 14}" text-anchor="middle" font-size="10">${pct(h.accuracy)}</text>`
          : ''),
    )
    .join('');
  const axis = `<line x1="${L}" x2="${W - 5}" y1="${H - B}" y2="${H - B}" stroke="#999"/><text x="${L - 4}" y="${T + 8}" text-anchor="end" font-size="10">${maxCount}</text><text x="${L - 4}" y="${H - B}" text-anchor="end" font-size="10">0</text><text x="${(L + W) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">train accuracy (%), ${pct(lo)} to ${pct(hi)}</text>`;
  const total = r.histogram.reduce((a, h) => a + h.count, 0);
  return `<p>${total} candidate(s) scored on the whole train split${r.raced ? `, ${r.raced} more dropped early (early rejection)` : ''}.</p><svg class="histogram" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="candidates by train accuracy">${axis}${bars}</svg>`;
}

function testSection(r: RunReportData): string {
  if (!r.test) return r.best?.test === null ? '<p>No test split in this run.</p>' : '';
  const t = r.test;
  const head = `<tr><th>gold \\ predicted</th>${t.labelNames.map((n) => `<th>${esc(n)}</th>`).join('')}<th>accuracy</th></tr>`;
  const rows = t.confusion
    .map(
      (row, g) =>
        `<tr><th scope="row">${esc(t.labelNames[g])}</th>${row.map((c, p) => `<td class="cm${g === p ? ' diag' : ''}" data-gold="${g}" data-pred="${p}" data-count="${c}">${c}</td>`).join('')}<td class="per-class" data-label="${esc(t.labelNames[g])}" data-accuracy="${t.perClass[g] ?? ''}">${pct(t.perClass[g])}</td></tr>`,
    )
    .join('');
  const what = t.of === 'ensemble' ? 'The ensemble on test' : 'On test';
  return `<h3>${what} (${t.n} examples): accuracy <span class="test-accuracy" data-accuracy="${t.accuracy}" data-of="${t.of}">${pct(t.accuracy, 2)}</span> %</h3><table class="confusion">${head}${rows}</table>`;
}

/** best.json's ensemble: every member with its template, label words and fit. */
function ensembleSection(r: RunReportData): string {
  const e = r.ensemble;
  if (!e) return '';
  const fitted = e.members.some((m) => m.scale !== undefined);
  const meanRead = e.members.some((m) => m.labelScore === 'mean');
  const words = (w: string[][]) =>
    w.map((ws) => (ws.length > 4 ? `${ws.slice(0, 4).join('/')}/… (${ws.length})` : ws.join('/'))).join(', ');
  const rows = e.members
    .map(
      (m) =>
        `<tr class="member"><td class="l"><code>${esc(m.template)}</code></td><td class="l"><code>${esc(m.prompt)}</code></td><td class="l">${esc(words(m.labelWords))}${m.labelScore === 'mean' ? ' <span class="mean-read">(mean)</span>' : ''}${m.wordsRead !== undefined ? ` <span class="discriminant-read">(discriminant over ${m.wordsRead} words; each label's most weighted against the others)</span>` : ''}</td>${fitted ? `<td data-scale="${m.scale ?? ''}">${m.scale === undefined ? '–' : m.scale.toFixed(2)}</td><td class="l">${m.bias ? m.bias.map((b) => b.toFixed(2)).join(', ') : '–'}</td>` : ''}</tr>`,
    )
    .join('');
  return `<h3>Ensemble of ${e.members.length}: dev <span class="ensemble-dev" data-accuracy="${e.dev ?? ''}">${pct(e.dev, 2)}</span> %, test <span class="ensemble-test" data-accuracy="${e.test ?? ''}">${pct(e.test, 2)}</span> %</h3>
<p>The mean of the members' calibrated label log-probabilities${fitted ? ', each member read as log_softmax(scale · c + bias) with the scale and biases fitted on the labelled train and dev examples' : ''}${meanRead ? "; a label's score is the log-sum-exp of its words' log-probabilities, or, for members marked (mean), their mean" : ''}${e.members.some((m) => m.wordsRead !== undefined) ? "; members marked (discriminant) score every label from the same words' log-probabilities, weighted by a linear discriminant fitted on the labelled train and dev examples" : ''}.</p>
<table class="ensemble"><tr><th>template</th><th>prompt</th><th>label words</th>${fitted ? '<th>scale</th><th>biases</th>' : ''}</tr>${rows}</table>`;
}

function calibrationSection(r: RunReportData): string {
  const c = r.calibration;
  if (!c) return '';
  if ('raw' in c) return `<h3>Calibration</h3><pre class="calibration">${esc(c.raw)}</pre>`;
  return `<h3>Calibration offsets</h3><table class="calibration"><tr>${c.offsets.map((_, i) => `<th>${esc(c.labelNames[i] ?? String(i))}</th>`).join('')}</tr><tr>${c.offsets.map((o, i) => `<td class="offset" data-label="${i}" data-offset="${o}">${o.toFixed(4)}</td>`).join('')}</tr></table>`;
}

function refineSection(r: RunReportData): string {
  const f = r.refine;
  if (!f) return '';
  const series: Series[] = [
    {
      cls: 'refine-train',
      color: '#4e79a7',
      points: f.curve.map((g) => [g.evaluations, g.trainAccuracy]),
      attrs: { 'data-run': r.runId },
      title: "train accuracy of the generation's best",
      dash: true,
    },
    {
      cls: 'refine-dev',
      color: '#f28e2b',
      points: f.curve.map((g) => [g.evaluations, g.devAccuracy]),
      attrs: { 'data-run': r.runId },
      title: 'its dev accuracy',
      dash: true,
    },
    {
      cls: 'refine-best-dev',
      color: '#e15759',
      points: f.curve.map((g) => [g.evaluations, g.bestDevAccuracy]),
      attrs: { 'data-run': r.runId },
      title: 'best dev so far (the soft prompt kept)',
    },
  ];
  const chart = f.curve.length
    ? lineChart(
        `refine-${esc(r.runId)}`,
        'refinement curve',
        series,
        [],
        [
          { name: 'train (generation best)', color: '#4e79a7', line: 'dash' },
          { name: 'dev (generation best)', color: '#f28e2b', line: 'dash' },
          { name: 'best dev so far', color: '#e15759', line: 'solid' },
        ],
        'refinement evaluations',
        'accuracy (%)',
        false,
        f.budget,
      )
    : '';
  const s = (x?: { train: number; dev: number; test: number | null }) =>
    x
      ? `<td data-train="${x.train}">${pct(x.train)}</td><td data-dev="${x.dev}">${pct(x.dev)}</td><td data-test="${x.test ?? ''}">${pct(x.test)}</td>`
      : '<td>–</td><td>–</td><td>–</td>';
  const table = f.refined
    ? `<table class="refine-result"><tr><th></th><th>train</th><th>dev</th><th>test</th></tr><tr><th scope="row">discrete</th>${s(f.discrete)}</tr><tr><th scope="row">refined (soft)</th>${s(f.refined)}</tr></table>${f.improvedDev ? '' : '<p>No generation beat the discrete prompt on dev: the soft prompt is the discrete one.</p>'}`
    : '';
  return `<h3>Refinement (soft prompt, CMA-ES)</h3>${chart}${table}`;
}

function runSection(r: RunReportData, color: string, heading = r.runId): string {
  const b = r.best;
  const words = b ? b.labelWords.map((w) => w.join('/')).join(', ') : '';
  const summary = b
    ? `<p class="prompt"><code>${esc(b.prompt)}</code>${r.ensemble ? '' : ` with label words <code>${esc(words)}</code>`}</p><table class="scores"><tr><th>train</th><th>dev</th><th>test</th><th>evaluations</th></tr><tr><td data-train="${b.train}">${pct(b.train, 2)}</td><td data-dev="${b.dev ?? ''}">${pct(b.dev, 2)}</td><td data-test="${b.test ?? ''}">${pct(b.test, 2)}</td><td>${b.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')}</td></tr></table>`
    : '<p>No best.json yet (the search is running or was stopped before its first candidate).</p>';
  const sel = r.selection
    ? `<details><summary>Dev selection (${r.selection.candidates.length} best by train)</summary><table><tr><th>prompt</th><th>train</th><th>dev</th></tr>${r.selection.candidates.map((c) => `<tr><td class="l">${esc(c.prompt)}</td><td>${pct(c.train)}</td><td>${pct(c.dev)}</td></tr>`).join('')}</table></details>`
    : '';
  return `<section class="run" data-run="${esc(r.runId)}"><h2><span class="sw" style="background:${color}"></span>${esc(heading)} <small>${esc(r.strategy)}, ${esc(r.data)}, ${esc(r.model)} (${esc(r.dtype)})${r.status !== 'done' ? `, ${esc(r.status)}` : ''}</small></h2>
<h3>Result</h3>${summary}${r.ensemble ? ensembleSection(r) : ''}${sel}${testSection(r)}${calibrationSection(r)}
<h3>Candidates' train accuracy</h3>${histogram(r, color)}${refineSection(r)}</section>`;
}

/**
 * A search over several templates: its result (the ensemble, on test), then each template's own
 * run as a section of its own.
 */
function templatesSection(r: RunReportData, styles: Map<RunReportData, Style>): string {
  const subs = r.templates ?? [];
  const own =
    styles.get(r) && !subs.some((t) => styles.has(t))
      ? `<span class="sw" style="background:${styles.get(r)!.color}"></span>`
      : '';
  return `<section class="run" data-run="${esc(r.runId)}"><h2>${own}${esc(r.runId)} <small>${esc(r.strategy)} over ${subs.length} templates, ${esc(r.data)}, ${esc(r.model)} (${esc(r.dtype)})${r.status !== 'done' ? `, ${esc(r.status)}` : ''}</small></h2>
${ensembleSection(r)}${testSection(r)}</section>
${subs.map((t, i) => runSection(t, (styles.get(t) ?? styles.get(r))!.color, `${styles.has(t) ? '' : `${r.runId}, `}template ${i + 1}: ${t.template}`)).join('\n')}`;
}

/**
 * How each run is drawn: one run over several templates, a colour and marker shape per template;
 * otherwise one per run (a run's templates take their run's).
 */
function stylesOf(runs: RunReportData[]): Map<RunReportData, Style> {
  const byTemplate = runs.length === 1 && !!runs[0].templates?.length;
  const owners = byTemplate ? runs[0].templates! : runs;
  const m = new Map<RunReportData, Style>();
  owners.forEach((r, i) => m.set(r, { color: COLORS[i % COLORS.length], shape: SHAPES[i % SHAPES.length] }));
  if (byTemplate) m.set(runs[0], m.get(owners[0])!);
  return m;
}

/** The self-contained page (inline SVG and CSS, no script, no network) for one or several runs. */
export function runReportHtml(title: string, runs: RunReportData[]): string {
  const styles = stylesOf(runs);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1000px}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}td.l,th.l{text-align:left}
td.diag{background:#e8f1e4;font-weight:600}.sw{display:inline-block;width:.9em;height:.9em;margin-right:.35em;vertical-align:-.1em}
.key{margin-right:1.2em;white-space:nowrap}.key svg{vertical-align:-.2em;margin-right:.25em}figure{margin:0 0 1em}figcaption{line-height:1.8}
.nw{white-space:nowrap}section.run{border-top:2px solid #ddd;margin-top:2em}small{color:#666;font-weight:normal}
</style></head><body>
<h1>${esc(title)}</h1>
${learningCurve(runs, styles)}
${runs.length > 1 ? runsTable(runs, styles) : ''}
${runs.map((r) => (r.templates?.length ? templatesSection(r, styles) : runSection(r, styles.get(r)!.color))).join('\n')}
</body></html>
`;
}
