import { UserError } from '../errors';
import { PromptTokenizer } from '../model/tokenizer';

/**
 * Label words per label. Several words for one label combine by summing their probabilities
 * at the mask (log-sum-exp of their logits): a label is as likely as all its words together.
 */
export interface Verbalizer {
  /** words[label] = the label's words, as written. */
  words: string[][];
  /** ids[label] = token ids of the label's words. */
  ids: number[][];
}

/** `terrible,great` (one word per label, in label order) or JSON `{"0": ["terrible", "awful"], "1": ["great"]}`. */
export function parseVerbalizerSpec(spec: string | string[] | Record<string, string | string[]>, numLabels: number): string[][] {
  let words: string[][];
  if (Array.isArray(spec)) words = spec.map((w) => [w]);
  else if (typeof spec === 'object') words = fromObject(spec, numLabels);
  else if (spec.trim().startsWith('{')) {
    let obj: Record<string, string | string[]>;
    try {
      obj = JSON.parse(spec);
    } catch (e) {
      throw new UserError(`verbalizer: invalid JSON (${(e as Error).message})`);
    }
    words = fromObject(obj, numLabels);
  } else words = spec.split(',').map((w) => [w.trim()]);
  if (words.length !== numLabels) {
    throw new UserError(`verbalizer gives ${words.length} label word(s) but the data has ${numLabels} labels (one per label, in label order)`);
  }
  words.forEach((ws, label) => {
    if (ws.length === 0 || ws.some((w) => w.length === 0)) throw new UserError(`verbalizer: label ${label} has an empty label word`);
  });
  return words;
}

function fromObject(obj: Record<string, string | string[]>, numLabels: number): string[][] {
  const words: string[][] = [];
  for (const [k, v] of Object.entries(obj)) {
    const label = Number(k);
    if (!Number.isInteger(label) || label < 0 || label >= numLabels) {
      throw new UserError(`verbalizer: key '${k}' is not a label (labels are 0..${numLabels - 1})`);
    }
    words[label] = (Array.isArray(v) ? v : [v]).map((w) => String(w).trim());
  }
  for (let i = 0; i < numLabels; i++) if (!words[i]) throw new UserError(`verbalizer: no label word for label ${i}`);
  return words;
}

/** Maps words to single token ids; a word that is not one token, or is used twice, is an error. */
export function buildVerbalizer(words: string[][], tokenizer: PromptTokenizer): Verbalizer {
  const ids = words.map((ws) => ws.map((w) => tokenizer.labelWordId(w)));
  const owner = new Map<number, number>();
  ids.forEach((ls, label) =>
    ls.forEach((id, j) => {
      const prev = owner.get(id);
      if (prev !== undefined) throw new UserError(`verbalizer: '${words[label][j]}' is used for label ${prev} and label ${label}`);
      owner.set(id, label);
    }),
  );
  return { words, ids };
}
