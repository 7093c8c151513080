import { UserError } from '../errors';
import { PromptTokenizer } from '../model/tokenizer';
import { Template } from './template';

/** `['A=it was', 'B=.']` → `{ A: 'it was', B: '.' }`. */
export function parseFillArgs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0 || p.slice(0, eq).trim().length === 0)
      throw new UserError(`--fill '${p}': expected NAME=TEXT, e.g. --fill A="it was"`);
    const name = p.slice(0, eq).trim();
    if (Object.prototype.hasOwnProperty.call(out, name))
      throw new UserError(
        `--fill: slot ${name} is filled twice ('${out[name]}' and '${p.slice(eq + 1)}'); give each slot one --fill`,
      );
    out[name] = p.slice(eq + 1);
  }
  return out;
}

/** Tokenizes slot fillings; each must name a slot and fit its length. Every slot must be filled. */
export function tokenizeFill(
  template: Template,
  tokenizer: PromptTokenizer,
  fill: Record<string, string>,
): Record<string, number[]> {
  const slots: Record<string, number[]> = {};
  for (const name of Object.keys(fill)) {
    if (!template.slots.some((s) => s.name === name)) {
      const known = template.slots.map((s) => s.name).join(', ') || 'none';
      throw new UserError(`unknown slot '${name}' (the template's slots: ${known})`);
    }
  }
  for (const part of template.parts) {
    if (part.kind !== 'slot') continue;
    const text = fill[part.name];
    if (text === undefined)
      throw new UserError(`slot <${part.name}:${part.length}> is not filled (e.g. --fill ${part.name}="it was")`);
    const ids = tokenizer.encode(text.trim(), part.spaceBefore);
    const needs = `slot <${part.name}:${part.length}> needs ${part.length === 1 ? '1 token' : `1 to ${part.length} tokens`}`;
    if (ids.length === 0) throw new UserError(`--fill ${part.name}=${text}: empty; ${needs}`);
    const special = ids.filter((id) => tokenizer.special.all.has(id) || id === tokenizer.special.mask);
    if (special.length > 0)
      throw new UserError(
        `--fill ${part.name}=${text}: ${special.map((id) => `'${tokenizer.token(id)}'`).join(', ')} is a special token of the model; a fill is words (${needs})`,
      );
    if (ids.length > part.length) {
      throw new UserError(
        `slot <${part.name}:${part.length}> holds at most ${part.length} token(s); '${text}' is ${ids.length}: ${ids.map((i) => tokenizer.token(i)).join(' ')}`,
      );
    }
    slots[part.name] = ids;
  }
  return slots;
}

/**
 * Slot fillings in which label words are proposed or chosen (searchVerbalizer `context`): every
 * slot filled with exactly its length, as the search's own candidates fill it.
 */
export function requireExactFill(
  slots: readonly { name: string; length: number }[],
  fill: Record<string, readonly number[]>,
): void {
  for (const s of slots) {
    const f = fill[s.name];
    if (f === undefined || f.length !== s.length)
      throw new UserError(
        `slot <${s.name}:${s.length}> needs ${s.length} token(s) while proposing label words, got ${f?.length ?? 'none'}`,
      );
  }
}

/**
 * Refuses slot token ids that are special tokens of the model (a prompt file's fill, read as ids):
 * the same rule as tokenizeFill's for fill text. `where` names the file.
 */
export function checkSlotIds(
  slots: Record<string, readonly number[]>,
  tokenizer: PromptTokenizer,
  where: string,
): void {
  for (const [name, ids] of Object.entries(slots)) {
    const special = ids.filter((id) => tokenizer.special.all.has(id));
    if (special.length > 0)
      throw new UserError(
        `${where}: slot <${name}> holds the special token${special.length === 1 ? '' : 's'} ${special.map((id) => `'${tokenizer.token(id)}' (id ${id})`).join(', ')} of this model; a fill must be ordinary text`,
      );
  }
}

/** The token ids of each slot, from a slot record that carries them (best.json, prompt files). */
export function slotIds(slots: Record<string, { ids: number[] }>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(slots).map(([name, s]) => [name, s.ids]));
}
