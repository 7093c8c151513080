import { UserError } from '../errors';
import { PromptTokenizer } from '../model/tokenizer';

/**
 * A label word's token ids: one token id (every masked-LM label word, and a causal model's
 * one-token words), or, for a causal model, the word's tokens in order when it splits into
 * several (its score is the sum of their log-probabilities, each given the ones before it).
 * A one-token word is always the bare number, so run files and prompt files written before
 * multi-token words keep their meaning.
 */
export type WordIds = number | number[];

/** The tokens of a label word. */
export const wordTokens = (w: WordIds): number[] => (typeof w === 'number' ? [w] : w);

/** A label word as text: its token's text, or its tokens decoded. */
export const wordText = (tokenizer: PromptTokenizer, w: WordIds): string =>
  typeof w === 'number' ? tokenizer.tokenText(w).trim() : tokenizer.decode(w);

/** True when every label word is one token: the scoring path that reads label-word logits. */
export const allSingleToken = (ids: readonly (readonly WordIds[])[]): ids is number[][] =>
  ids.every((ws) => ws.every((w) => typeof w === 'number'));

/**
 * Label words per label. Several words for one label combine by summing their probabilities
 * at the mask (log-sum-exp of their logits): a label is as likely as all its words together.
 */
export interface Verbalizer {
  /** words[label] = the label's words, as written. */
  words: string[][];
  /** ids[label] = token ids of the label's words (see WordIds). */
  ids: WordIds[][];
}

/** `terrible,great` (one word per label, in label order) or JSON `{"0": ["terrible", "awful"], "1": ["great"]}`. */
export function parseVerbalizerSpec(
  spec: string | string[] | Record<string, string | string[]>,
  numLabels: number,
): string[][] {
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
    throw new UserError(
      `verbalizer gives ${words.length} label word(s) but the data has ${numLabels} labels (one per label, in label order)`,
    );
  }
  words.forEach((ws, label) => {
    if (ws.length === 0 || ws.some((w) => w.length === 0))
      throw new UserError(`verbalizer: label ${label} has an empty label word`);
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

/**
 * Maps words to token ids. Masked LMs: each word must be one token. Causal models: a word may
 * be several tokens (after a space, as in context). A word used twice is an error.
 */
export function buildVerbalizer(words: string[][], tokenizer: PromptTokenizer): Verbalizer {
  const ids: WordIds[][] = words.map((ws) =>
    ws.map((w) => {
      const special = tokenizer.encode(w, true).filter((id) => tokenizer.special.all.has(id));
      if (special.length > 0) {
        const names = special.map((id) => `'${tokenizer.token(id)}'`).join(', ');
        throw new UserError(
          `label word '${w}' ${special.length === 1 && tokenizer.token(special[0]) === w.trim() ? 'is' : 'holds'} a special token of the model (${names}), which cannot be a label word; give a word`,
        );
      }
      const t = tokenizer.labelWordIds(w);
      return t.length === 1 ? t[0] : t;
    }),
  );
  const owner = new Map<string, [number, number]>();
  ids.forEach((ls, label) =>
    ls.forEach((id, j) => {
      const key = wordTokens(id).join(',');
      const prev = owner.get(key);
      if (prev !== undefined) {
        const [pl, pj] = prev;
        const same = words[pl][pj] === words[label][j];
        const tokens = wordTokens(id)
          .map((t) => `'${tokenizer.token(t)}'`)
          .join(' ');
        throw new UserError(
          same
            ? `verbalizer: '${words[label][j]}' is used for label ${pl} and label ${label}`
            : `verbalizer: '${words[pl][pj]}' (label ${pl}) and '${words[label][j]}' (label ${label}) are the same token${wordTokens(id).length > 1 ? 's' : ''} ${tokens} for this tokenizer; give each label word its own token`,
        );
      }
      owner.set(key, [label, j]);
    }),
  );
  return { words, ids };
}
