import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors';
import { ModelFolder } from './modelFolder';

export type TokenizerFamily = 'wordpiece' | 'bpe' | 'other';

/** Special-token ids the engine needs, discovered from the tokenizer files. */
export interface SpecialTokens {
  /** The mask token; -1 for a causal model, which reads the next token instead. */
  mask: number;
  pad: number;
  /** Ids the post-processor puts before / after a single sequence ([CLS] / [SEP], <s> / </s>). */
  prefix: number[];
  suffix: number[];
  all: Set<number>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content;
  return undefined;
}

/**
 * The tokenizer as the prompt engine uses it: text pieces to ids without special tokens
 * (the engine assembles [CLS] … [SEP] itself), label words to single ids, and the
 * whole-word vocabulary the search draws slot tokens from.
 */
export class PromptTokenizer {
  readonly family: TokenizerFamily;
  readonly special: SpecialTokens;
  readonly vocabSize: number;
  private readonly tok: Tokenizer;
  private readonly idToToken: string[];

  /**
   * `causal`: the model is a causal LM (ModelFolder.kind): it has no mask token, and a template's
   * [MASK] means "the next token after the prompt".
   */
  constructor(
    tokenizerJson: Json,
    tokenizerConfig: Json,
    readonly source = 'tokenizer.json',
    readonly causal = false,
  ) {
    this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    const model = tokenizerJson.model ?? {};
    const byteLevel =
      JSON.stringify(tokenizerJson.pre_tokenizer ?? {}).includes('ByteLevel') ||
      JSON.stringify(tokenizerJson.decoder ?? {}).includes('ByteLevel');
    this.family = model.type === 'WordPiece' ? 'wordpiece' : model.type === 'BPE' && byteLevel ? 'bpe' : 'other';
    const vocab = this.tok.get_vocab(true);
    this.idToToken = [];
    for (const [t, id] of vocab) this.idToToken[id] = t;
    this.vocabSize = this.idToToken.length;
    this.special = this.discoverSpecial(tokenizerJson, tokenizerConfig);
  }

  static fromFolder(m: ModelFolder): PromptTokenizer {
    return new PromptTokenizer(m.tokenizerJson, m.tokenizerConfig, `${m.dir}/tokenizer.json`, m.kind === 'causal');
  }

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.tok.token_to_id(token);
  }

  private discoverSpecial(tj: Json, cfg: Json): SpecialTokens {
    const added: Json[] = Array.isArray(tj.added_tokens) ? tj.added_tokens : [];
    const findAdded = (...names: string[]) =>
      added.find((a) => names.includes(a.content))?.content as string | undefined;
    const mask = this.causal ? -1 : this.idOf(tokenContent(cfg.mask_token) ?? findAdded('[MASK]', '<mask>'));
    if (mask === undefined)
      throw new UserError(`${this.source}: no mask token (set mask_token in tokenizer_config.json)`);
    const pad = this.idOf(tokenContent(cfg.pad_token) ?? findAdded('[PAD]', '<pad>')) ?? 0;
    const { prefix, suffix } = this.postProcessorIds(tj.post_processor);
    const all = new Set<number>(added.filter((a) => a.special).map((a) => a.id as number));
    [mask, pad, ...prefix, ...suffix].forEach((id) => id >= 0 && all.add(id));
    return { mask, pad, prefix, suffix, all };
  }

  /** What the post-processor adds around a single sequence. */
  private postProcessorIds(pp: Json | null | undefined): { prefix: number[]; suffix: number[] } {
    if (!pp) return { prefix: [], suffix: [] };
    if (pp.type === 'Sequence') {
      for (const p of pp.processors ?? []) {
        const r = this.postProcessorIds(p);
        if (r.prefix.length + r.suffix.length > 0) return r;
      }
      return { prefix: [], suffix: [] };
    }
    if (pp.type === 'TemplateProcessing') {
      const prefix: number[] = [];
      const suffix: number[] = [];
      let seen = false;
      for (const item of pp.single ?? []) {
        if (item.Sequence) seen = true;
        else if (item.SpecialToken) {
          const ids: number[] = pp.special_tokens?.[item.SpecialToken.id]?.ids ?? [this.idOf(item.SpecialToken.id)];
          (seen ? suffix : prefix).push(...ids);
        }
      }
      return { prefix, suffix };
    }
    if (pp.type === 'RobertaProcessing' || pp.type === 'BertProcessing') {
      return { prefix: [pp.cls[1]], suffix: [pp.sep[1]] };
    }
    return { prefix: [], suffix: [] };
  }

  /**
   * Ids of a text piece without special tokens. `spaceBefore` says whether the piece follows
   * whitespace in the full prompt: byte-level BPE encodes that space into the first token.
   */
  encode(text: string, spaceBefore = false): number[] {
    if (text.length === 0) return [];
    const t = this.family === 'bpe' && spaceBefore ? ' ' + text : text;
    return this.tok.encode(t, { add_special_tokens: false }).ids;
  }

  /** Full-string encoding with the tokenizer's own special tokens (for parity checks). */
  encodeWithSpecials(text: string): number[] {
    return this.tok.encode(text).ids;
  }

  token(id: number): string {
    return this.idToToken[id] ?? `<${id}>`;
  }

  /** Human-readable text of a token, as it reads inside a sentence (no `##`, `Ġ` → space). */
  tokenText(id: number): string {
    return this.tok.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** Readable text of a token sequence. */
  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }).trim();
  }

  /** Does this token start a word (no `##` continuation, `Ġ`-prefixed for byte-level BPE)? */
  isWordStart(id: number): boolean {
    const t = this.idToToken[id];
    if (t === undefined || this.special.all.has(id)) return false;
    if (this.family === 'wordpiece') return !t.startsWith('##');
    if (this.family === 'bpe') return t.startsWith('Ġ') && t.length > 1;
    return true;
  }

  /** A whole alphabetic word token (what slot candidates and label words are drawn from). */
  isWholeWord(id: number): boolean {
    if (!this.isWordStart(id)) return false;
    const text = this.family === 'bpe' ? this.idToToken[id].slice(1) : this.idToToken[id];
    return /^[\p{L}][\p{L}'-]*$/u.test(text);
  }

  /**
   * The single token a label word maps to, as it appears in context (after a space for BPE).
   * Throws a UserError suggesting close single-token words when it splits.
   */
  labelWordId(word: string): number {
    const ids = this.encode(word, true);
    if (ids.length === 1 && !this.special.all.has(ids[0])) return ids[0];
    const pieces = ids.map((i) => `'${this.token(i)}'`).join(' ');
    const close = this.closeWords(word, 5);
    throw new UserError(
      `label word '${word}' is not a single token for this tokenizer (it becomes ${pieces || 'nothing'})` +
        (close.length ? `; close single-token words: ${close.join(', ')}` : ''),
    );
  }

  /**
   * A label word's token ids, as it appears in context (after a space for BPE). Masked LMs: the
   * one token (`labelWordId`). Causal models: one or more tokens, read one after another; a word
   * that gives no token, or a special token, is a UserError.
   */
  labelWordIds(word: string): number[] {
    if (!this.causal) return [this.labelWordId(word)];
    const ids = this.encode(word, true);
    if (ids.length > 0 && !ids.some((id) => this.special.all.has(id))) return ids;
    const pieces = ids.map((i) => `'${this.token(i)}'`).join(' ');
    throw new UserError(
      `label word '${word}' is not a token after a space for this tokenizer (it becomes ${pieces || 'nothing'})`,
    );
  }

  /** Whole-word vocabulary entries nearest to `word` by edit distance (for error hints). */
  closeWords(word: string, k: number): string[] {
    const target = this.family === 'wordpiece' && this.isLowercasing() ? word.toLowerCase() : word;
    const scored: { w: string; d: number }[] = [];
    for (let id = 0; id < this.idToToken.length; id++) {
      if (!this.isWholeWord(id)) continue;
      const w = this.tokenText(id).trim();
      if (Math.abs(w.length - target.length) > 3) continue;
      const d = editDistance(target, w);
      if (d <= 3) scored.push({ w, d });
    }
    scored.sort((a, b) => a.d - b.d || a.w.localeCompare(b.w));
    return scored.slice(0, k).map((s) => s.w);
  }

  private isLowercasing(): boolean {
    return this.encode('A').length > 0 && this.token(this.encode('A')[0]) === 'a';
  }
}

/** Levenshtein distance (small strings only). */
export function editDistance(a: string, b: string): number {
  const prev = new Array(b.length + 1).fill(0).map((_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
