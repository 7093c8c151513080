import { Example } from '../data/tsv';
import { UserError } from '../errors';
import { PromptTokenizer } from '../model/tokenizer';
import { Template } from './template';

/**
 * One model input row: token ids and where the mask sits. For a causal model there is no mask
 * token: `maskPos` is the last token, whose logits give the next token.
 */
export interface EncodedRow {
  ids: number[];
  maskPos: number;
  /** Row index of each slot token, in template order (soft prompts replace these embeddings). */
  slotPos?: number[];
  /**
   * Causal models, templates with no slot before the last input: the first `prefixLength` ids
   * depend on the example only (specials, fixed text, inputs), so their keys and values can be
   * computed once per example and reused for every candidate. Always < ids.length.
   */
  prefixLength?: number;
}

/** The template with its fixed text tokenized once; inputs and slots are filled per row. */
export interface CompiledTemplate {
  template: Template;
  /** Segment list: fixed token ids, or a reference to an input field / slot / the mask. */
  segments: Segment[];
  prefix: number[];
  suffix: number[];
  maskId: number;
  maxLength: number;
  /** Causal model: [MASK] is last and means the next token; rows carry no mask token. */
  causal: boolean;
  /**
   * Causal model and no slot before the last input field: rows get `prefixLength` (see
   * EncodedRow). False means every candidate recomputes the whole row (full scoring).
   */
  reusablePrefix: boolean;
  /** Input field name → dataset column (`x` → the task's text column). */
  columns: Record<string, string>;
}

type Segment =
  | { kind: 'fixed'; ids: number[] }
  | { kind: 'input'; index: number }
  | { kind: 'slot'; name: string }
  | { kind: 'mask' };

/** Tokenized inputs of one example, reused for every candidate prompt. */
export interface EncodedExample {
  inputs: number[][];
  label: number;
}

/** What a causal model cannot read in a template: the parts after its [MASK] (undefined: none, or a masked model). */
export function textAfterMask(template: Template, tokenizer: PromptTokenizer): string[] | undefined {
  if (!tokenizer.causal) return undefined;
  const maskAt = template.parts.findIndex((p) => p.kind === 'mask');
  if (maskAt === template.parts.length - 1) return undefined;
  return template.parts
    .slice(maskAt + 1)
    .map((p) =>
      p.kind === 'text'
        ? `'${p.text}'`
        : p.kind === 'input'
          ? `{${p.field}}`
          : p.kind === 'slot'
            ? `<${p.name}:${p.length}>`
            : '[MASK]',
    );
}

/** Refuses a template the model cannot read: a causal model needs [MASK] last. Cheap; run before any model session starts. */
export function checkTemplateForModel(template: Template, tokenizer: PromptTokenizer): void {
  const after = textAfterMask(template, tokenizer);
  if (after)
    throw new UserError(
      `template '${template.source}': a causal model reads the label word as the next token, so [MASK] must be the last thing in the template (found ${after.join(' ')} after it)`,
    );
}

export function compileTemplate(
  template: Template,
  tokenizer: PromptTokenizer,
  textColumn: string,
  maxLength: number,
): CompiledTemplate {
  const columns: Record<string, string> = {};
  for (const f of template.inputs) columns[f] = f === 'x' ? textColumn : f;
  const causal = tokenizer.causal;
  checkTemplateForModel(template, tokenizer);
  const lastInput = template.parts.map((p) => p.kind).lastIndexOf('input');
  const reusablePrefix = causal && !template.parts.slice(0, lastInput).some((p) => p.kind === 'slot');
  let inputIndex = 0;
  const segments: Segment[] = template.parts.map((p): Segment => {
    switch (p.kind) {
      case 'text':
        return { kind: 'fixed', ids: tokenizer.encode(p.text, p.spaceBefore) };
      case 'input':
        return { kind: 'input', index: inputIndex++ };
      case 'slot':
        return { kind: 'slot', name: p.name };
      case 'mask':
        return { kind: 'mask' };
    }
  });
  const compiled: CompiledTemplate = {
    template,
    segments,
    prefix: tokenizer.special.prefix,
    suffix: tokenizer.special.suffix,
    maskId: tokenizer.special.mask,
    maxLength,
    causal,
    reusablePrefix,
    columns,
  };
  const fixedLength =
    compiled.prefix.length +
    compiled.suffix.length +
    (causal ? 0 : 1) +
    segments.reduce((n, s) => n + (s.kind === 'fixed' ? s.ids.length : 0), 0);
  const slotLength = template.slots.reduce((n, s) => n + s.length, 0);
  if (fixedLength + slotLength + template.inputs.length > maxLength) {
    throw new UserError(
      `template '${template.source}' needs ${fixedLength + slotLength} tokens without its input; the model takes at most ${maxLength}`,
    );
  }
  return compiled;
}

/** Tokenizes the example's input fields once (with the space context the template gives them). */
export function encodeExample(ct: CompiledTemplate, tokenizer: PromptTokenizer, ex: Example): EncodedExample {
  const inputParts = ct.template.parts.filter((p) => p.kind === 'input');
  const inputs = inputParts.map((p) => {
    const col = ct.columns[(p as { field: string }).field];
    const text = ex.fields[col];
    if (text === undefined)
      throw new UserError(
        `template field {${(p as { field: string }).field}} needs column '${col}', which the data does not have`,
      );
    return tokenizer.encode(text.trim(), p.spaceBefore);
  });
  return { inputs, label: ex.label };
}

/**
 * Input token budgets after truncation: the longest input is cut first, so fixed text,
 * slots and the mask are never cut. Pure, for tests.
 */
export function truncateLengths(inputLengths: number[], room: number): number[] {
  const lens = [...inputLengths];
  let excess = lens.reduce((a, b) => a + b, 0) - room;
  while (excess > 0) {
    let longest = 0;
    for (let i = 1; i < lens.length; i++) if (lens[i] > lens[longest]) longest = i;
    if (lens[longest] === 0) break;
    lens[longest] -= 1;
    excess -= 1;
  }
  return lens;
}

/** Builds one row: [prefix] template-with-inputs-and-slots [suffix], inputs truncated to fit. */
export function buildRow(ct: CompiledTemplate, ex: EncodedExample, slots: Record<string, number[]>): EncodedRow {
  let fixed = ct.prefix.length + ct.suffix.length;
  for (const s of ct.segments) {
    if (s.kind === 'fixed') fixed += s.ids.length;
    else if (s.kind === 'mask') fixed += ct.causal ? 0 : 1;
    else if (s.kind === 'slot') {
      const t = slots[s.name];
      if (t === undefined)
        throw new UserError(`slot <${s.name}> is not filled (give it a value, e.g. --fill ${s.name}="it was")`);
      fixed += t.length;
    }
  }
  const lengths = truncateLengths(
    ex.inputs.map((i) => i.length),
    ct.maxLength - fixed,
  );
  const ids: number[] = [...ct.prefix];
  const slotPos: number[] = [];
  let maskPos = -1;
  let prefixEnd = ids.length;
  for (const s of ct.segments) {
    if (s.kind === 'fixed') ids.push(...s.ids);
    else if (s.kind === 'slot') {
      for (const t of slots[s.name]) {
        slotPos.push(ids.length);
        ids.push(t);
      }
    } else if (s.kind === 'input') {
      const inp = ex.inputs[s.index];
      for (let i = 0; i < lengths[s.index]; i++) ids.push(inp[i]);
      prefixEnd = ids.length;
    } else if (ct.causal) {
      maskPos = ids.length - 1;
    } else {
      maskPos = ids.length;
      ids.push(ct.maskId);
    }
  }
  ids.push(...ct.suffix);
  if (ct.causal) {
    if (ids.length === 0)
      throw new UserError(
        `template '${ct.template.source}': the prompt is empty, so there is no position to read the next token at`,
      );
    // [MASK] is last (compileTemplate checks), so the read position is the last prompt token.
    maskPos = ids.length - 1 - ct.suffix.length;
    return ct.reusablePrefix
      ? { ids, maskPos, slotPos, prefixLength: Math.min(prefixEnd, maskPos) }
      : { ids, maskPos, slotPos };
  }
  return { ids, maskPos, slotPos };
}
