import { meanStd } from './stats';

/** One finished cell: a method on a task with one data seed. */
export interface Cell {
  method: string;
  task: string;
  seed: number;
  testAccuracy: number;
  devAccuracy: number | null;
  trainAccuracy: number | null;
  prompt: string;
  labelWords: string[][];
  evaluations: number;
  seconds: number;
  runDir?: string;
  /** For refined methods: the discrete winner the soft prompt started from. */
  discrete?: { testAccuracy: number; devAccuracy: number | null };
  /** The result's cross-validated accuracy estimate on train + dev (best.json `estimate`), where the run made one. */
  estimate?: number;
  /** The run compared its search with the hand-written baseline: which one is the result. */
  chose?: 'search' | 'baseline';
}

export interface Row {
  method: string;
  /** Per task: mean and std of test accuracy over seeds. */
  tasks: Record<string, { mean: number; std: number; n: number }>;
  average: number;
  published?: boolean;
}

/** Aggregates cells into one row per method; the average column is the mean over tasks. */
export function aggregate(cells: Cell[], methods: string[], tasks: string[]): Row[] {
  return methods.map((method) => {
    const row: Row = { method, tasks: {}, average: NaN };
    for (const task of tasks)
      row.tasks[task] = meanStd(cells.filter((c) => c.method === method && c.task === task).map((c) => c.testAccuracy));
    const means = tasks.map((t) => row.tasks[t].mean);
    row.average = means.some((m) => Number.isNaN(m)) ? NaN : means.reduce((a, b) => a + b, 0) / means.length;
    return row;
  });
}

/** Published reference rows (percent in the source) as rows of this table. */
export function publishedRows(published: Record<string, Record<string, number | null>>, tasks: string[]): Row[] {
  return Object.entries(published).map(([method, byTask]) => {
    const row: Row = { method, tasks: {}, average: NaN, published: true };
    for (const t of tasks) {
      const v = byTask[t];
      row.tasks[t] = v === null || v === undefined ? { mean: NaN, std: NaN, n: 0 } : { mean: v / 100, std: NaN, n: 0 };
    }
    const means = tasks.map((t) => row.tasks[t].mean);
    row.average = means.some((m) => Number.isNaN(m)) ? NaN : means.reduce((a, b) => a + b, 0) / means.length;
    return row;
  });
}

const pct = (x: number) => (100 * x).toFixed(1);

function cellText(v: { mean: number; std: number; n: number }): string {
  if (Number.isNaN(v.mean)) return '–';
  return Number.isNaN(v.std) ? pct(v.mean) : `${pct(v.mean)} ± ${pct(v.std)}`;
}

/** Markdown table: test accuracy (%) mean ± std over seeds; the best run row per column in bold. */
export function toMarkdown(rows: Row[], tasks: string[], note = ''): string {
  const ours = rows.filter((r) => !r.published);
  const bestOf = (get: (r: Row) => number) => Math.max(...ours.map(get).filter((x) => !Number.isNaN(x)));
  const bestTask = Object.fromEntries(tasks.map((t) => [t, bestOf((r) => r.tasks[t].mean)]));
  const bestAvg = bestOf((r) => r.average);
  const lines = [
    `| method | ${tasks.join(' | ')} | average |`,
    `| --- | ${tasks.map(() => '---:').join(' | ')} | ---: |`,
  ];
  for (const r of rows) {
    const name = r.published ? `${r.method} (published, RoBERTa-large)` : r.method;
    const cells = tasks.map((t) => {
      const s = cellText(r.tasks[t]);
      return !r.published && r.tasks[t].mean === bestTask[t] ? `**${s}**` : s;
    });
    const avg = Number.isNaN(r.average) ? '–' : pct(r.average);
    lines.push(`| ${name} | ${cells.join(' | ')} | ${!r.published && r.average === bestAvg ? `**${avg}**` : avg} |`);
  }
  return lines.join('\n') + '\n' + (note ? `\n${note}\n` : '');
}

/**
 * How well each method's own numbers foretell its test accuracy, over the cells with an estimate:
 * the mean absolute gap to test of the cross-validated estimate and of dev accuracy (in points),
 * and how often the hand-written baseline was the result. Empty when no cell has an estimate.
 */
export function estimateMarkdown(cells: Cell[], methods: string[]): string {
  const lines: string[] = [];
  for (const method of methods) {
    const own = cells.filter((c) => c.method === method && c.estimate !== undefined);
    if (own.length === 0) continue;
    const gap = (get: (c: Cell) => number | null) => {
      const xs = own.filter((c) => get(c) !== null).map((c) => Math.abs(get(c)! - c.testAccuracy));
      return xs.length ? pct(xs.reduce((a, b) => a + b, 0) / xs.length) : '–';
    };
    const bias = pct(own.reduce((s, c) => s + c.estimate! - c.testAccuracy, 0) / own.length);
    const baseline = own.filter((c) => c.chose === 'baseline').length;
    lines.push(
      `| ${method} | ${own.length} | ${gap((c) => c.estimate!)} | ${bias} | ${gap((c) => c.devAccuracy)} | ${baseline} |`,
    );
  }
  if (lines.length === 0) return '';
  return [
    '',
    'How well the run foretells its test accuracy (points; the cells with a cross-validated estimate):',
    '',
    '| method | cells | mean abs. gap, estimate − test | mean gap, estimate − test | mean abs. gap, dev − test | baseline chosen |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...lines,
    '',
  ].join('\n');
}
