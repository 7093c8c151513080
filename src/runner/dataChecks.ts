/**
 * The checks of a search's data that need every split at once, run before anything is scored or
 * written (runSearch, runLeaderboard): each split has the columns the templates read, the label
 * count agrees between `labels`, the verbalizer and the data, and every label has train examples.
 * A problem is a UserError naming the file; what is only worth knowing (a label absent from dev or
 * test) comes back as warnings, for the caller to say.
 */
import { LoadedData, loadExamples } from '../data/load';
import { UserError } from '../errors';
import { modelLabelNames, resolveModel } from '../model/modelFolder';
import { parseTemplate } from '../prompt/template';
import { SearchConfig, configDataSource } from './config';

type SplitName = 'train' | 'dev' | 'test';
type Splits = { train: LoadedData; dev: LoadedData; test?: LoadedData };

/** Loads a config's splits and checks them together; returns the warnings (one line each). */
export function checkRunData(config: SearchConfig): string[] {
  const modelLabels = modelLabelNames(resolveModel(config.model, config.dtype));
  const load = (split: SplitName) => loadExamples(configDataSource(config, split, modelLabels), split);
  const splits: Splits = {
    train: load('train'),
    dev: load('dev'),
    ...(config.data && !config.data.test ? {} : { test: load('test') }),
  };
  return checkSplits(config, splits);
}

/** The checks of checkRunData on splits already loaded. */
export function checkSplits(config: SearchConfig, splits: Splits): string[] {
  checkColumns(config, splits);
  return checkLabels(config, splits);
}

const named = (d: LoadedData) => d.file ?? d.origin;
const present = (s: Splits) => (['train', 'dev', 'test'] as const).flatMap((k) => (s[k] ? [[k, s[k]] as const] : []));

/** Every split has every column the templates read (`{x}`: the train split's text column), in every row. */
function checkColumns(config: SearchConfig, splits: Splits): void {
  const textColumn = splits.train.textColumn;
  const fields = new Set<string>();
  for (const t of config.templates ?? [config.template]) for (const f of parseTemplate(t).inputs) fields.add(f);
  for (const [split, d] of present(splits)) {
    for (const field of fields) {
      const column = field === 'x' ? textColumn : field;
      if (!d.columns.includes(column)) {
        const has = `this file has columns: ${[...d.columns, ...(d.columns.length ? [] : ['none'])].join(', ')}`;
        if (field === 'x' && split !== 'train')
          throw new UserError(
            `${named(d)}: no '${column}' column, which template field {x} reads (the text column of the train file, ${named(splits.train)}); ${has} (give every split the same column names)`,
          );
        throw new UserError(`${named(d)}: template field {${field}} needs column '${column}'; ${has}`);
      }
      const i = d.examples.findIndex((e) => e.fields[column] === undefined);
      if (i >= 0)
        throw new UserError(
          `${d.where?.[i] ?? `${named(d)}: example ${i + 1}`}: no '${column}' value (template field {${field}})`,
        );
    }
  }
}

/** How many label words a verbalizer spec gives (see parseVerbalizerSpec). */
function verbalizerCount(spec: unknown): number | undefined {
  if (Array.isArray(spec)) return spec.length;
  if (spec && typeof spec === 'object') return Object.keys(spec).length;
  if (typeof spec !== 'string') return undefined;
  if (spec.trim().startsWith('{')) {
    try {
      return Object.keys(JSON.parse(spec) as object).length;
    } catch {
      return undefined; // parseVerbalizerSpec says what is wrong with it
    }
  }
  return spec.split(',').length;
}

/**
 * The number of labels: the names' count where there are names (`labels`, a bundled task's), else
 * the largest label in any split plus one. Then: the verbalizer gives one word per label, every
 * listed label occurs in the data, and every label has train examples (a label absent from train
 * cannot be learned); one absent from dev or test is a warning.
 */
function checkLabels(config: SearchConfig, splits: Splits): string[] {
  const all = present(splits);
  // Names: `labels`, a bundled task's, or the model's id2label that the file's label names are among.
  const own = splits.train.labelNames;
  const listed =
    config.labels === undefined
      ? undefined
      : typeof config.labels === 'string'
        ? config.labels.split(',').map((n) => n.trim())
        : config.labels;
  const names = listed ?? (own.some((n, i) => n !== String(i)) ? own : undefined);
  const maxOf = (d: LoadedData) => d.examples.reduce((m, e) => Math.max(m, e.label), -1);
  const numLabels = names ? names.length : Math.max(...all.map(([, d]) => maxOf(d))) + 1;
  const label = (l: number) => (names ? `label ${l} '${names[l]}'` : `label ${l}`);
  const words = config.verbalizer !== undefined ? verbalizerCount(config.verbalizer) : undefined;
  if (words !== undefined && words !== numLabels) {
    if (listed)
      throw new UserError(
        `labels: lists ${numLabels} labels (${listed.join(', ')}) but the verbalizer gives ${words} label word(s) (one per label, in label order)`,
      );
    const top = all.find(([, d]) => maxOf(d) === numLabels - 1);
    const where = top ? `; label ${numLabels - 1} is in ${named(top[1])}` : '';
    throw new UserError(
      `verbalizer gives ${words} label word(s) but the data has ${numLabels} labels (0..${numLabels - 1}${where}; one word per label, in label order)`,
    );
  }
  const counts = (d: LoadedData) => {
    const n = new Array<number>(numLabels).fill(0);
    for (const e of d.examples) n[e.label]++;
    return n;
  };
  const per = all.map(([split, d]) => ({ split, d, n: counts(d) }));
  if (listed) {
    const nowhere = listed.findIndex((_, l) => per.every((p) => p.n[l] === 0));
    if (nowhere >= 0)
      throw new UserError(
        `labels: lists ${numLabels} labels (${listed.join(', ')}) but no file has an example of ${label(nowhere)} (${[...new Set(per.map((p) => named(p.d)))].join(', ')}); list the labels the data has`,
      );
  }
  const train = per[0];
  const missing = train.n.findIndex((c) => c === 0);
  if (missing >= 0) {
    const elsewhere = per.find((p) => p.n[missing] > 0);
    throw new UserError(
      `${named(train.d)}: no train example of ${label(missing)}${elsewhere ? ` (${elsewhere.split} has ${elsewhere.n[missing]})` : ''}: a label absent from train cannot be learned; add train examples of it`,
    );
  }
  const warnings: string[] = [];
  for (const p of per.slice(1)) {
    const absent = p.n.flatMap((c, l) => (c === 0 ? [label(l)] : []));
    if (absent.length)
      warnings.push(
        `${named(p.d)}: no ${p.split} example of ${absent.join(', ')}${p.split === 'dev' ? ': the prompt is selected without judging it' : ': the test accuracy does not measure it'}`,
      );
  }
  return warnings;
}
