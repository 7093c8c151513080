import { UserError } from '../errors';

/**
 * Template syntax: `{x}` (the task's text column) or `{column}` for a named TSV column,
 * exactly one `[MASK]`, named slots `<A:3>` (slot A, 3 searched tokens), and fixed text.
 * Example: `{x} <A:2> [MASK] .`
 */
export type Part =
  | { kind: 'text'; text: string; spaceBefore: boolean }
  | { kind: 'input'; field: string; spaceBefore: boolean }
  | { kind: 'mask'; spaceBefore: boolean }
  | { kind: 'slot'; name: string; length: number; spaceBefore: boolean };

export interface Template {
  source: string;
  parts: Part[];
  /** Slot names and lengths, in template order. */
  slots: { name: string; length: number }[];
  /** Input fields, in template order (`x` means the task's text column). */
  inputs: string[];
}

const TOKEN_RE = /\{([A-Za-z_][\w-]*)\}|\[MASK\]|<([A-Za-z_]\w*)(?::(\d+))?>/g;

/**
 * Fixed text that looks like a mistyped slot: `<` (spaces allowed) then a name, then `:`, `>` or a
 * number and `>` (`<A: 2>`, `<A:x>`, `< A:2>`, `<A 2>`, `<A:2`), or `<:2>`. Text such as `a < b`,
 * `<3` or `</b>` is not one.
 */
const SLOT_LIKE_RE = /<\s*[A-Za-z_][\w-]*\s*(?::|>|\d+\s*>)|<\s*:/;
const SLOT_SYNTAX =
  'write a slot as <NAME:LENGTH>, e.g. <A:2> (a name of letters, digits or _, then a length from 1 to 32, no spaces)';

export function parseTemplate(source: string): Template {
  const parts: Part[] = [];
  let last = 0;
  let pendingSpace = false;
  const pushText = (raw: string) => {
    if (raw.length === 0) return;
    const like = SLOT_LIKE_RE.exec(raw);
    if (like) {
      const rest = raw.slice(like.index);
      const close = rest.indexOf('>');
      const shown = (close >= 0 && close < 16 ? rest.slice(0, close + 1) : rest.slice(0, 8)).trim();
      throw new UserError(`template '${source}': '${shown}' is not a slot; ${SLOT_SYNTAX}`);
    }
    const text = raw.trim();
    if (text.length > 0) parts.push({ kind: 'text', text, spaceBefore: pendingSpace || /^\s/.test(raw) });
    pendingSpace = text.length === 0 ? pendingSpace || raw.length > 0 : /\s$/.test(raw);
  };
  for (const m of source.matchAll(TOKEN_RE)) {
    pushText(source.slice(last, m.index));
    const spaceBefore = pendingSpace;
    pendingSpace = false;
    if (m[0] === '[MASK]') parts.push({ kind: 'mask', spaceBefore });
    else if (m[1] !== undefined) parts.push({ kind: 'input', field: m[1], spaceBefore });
    else {
      if (m[3] === undefined)
        throw new UserError(`template '${source}': slot <${m[2]}> needs a length, e.g. <${m[2]}:2>; ${SLOT_SYNTAX}`);
      const length = Number(m[3]);
      if (length < 1 || length > 32)
        throw new UserError(`template '${source}': slot <${m[2]}:${m[3]}> length must be between 1 and 32`);
      parts.push({ kind: 'slot', name: m[2], length, spaceBefore });
    }
    last = m.index! + m[0].length;
  }
  pushText(source.slice(last));

  const masks = parts.filter((p) => p.kind === 'mask').length;
  if (masks === 0) throw new UserError(`template '${source}' has no [MASK]`);
  if (masks > 1) throw new UserError(`template '${source}' has ${masks} [MASK]s; exactly one is allowed`);
  const inputs = parts.flatMap((p) => (p.kind === 'input' ? [p.field] : []));
  if (inputs.length === 0)
    throw new UserError(`template '${source}' has no input field (write {x} where the text goes)`);
  const slots = parts.flatMap((p) => (p.kind === 'slot' ? [{ name: p.name, length: p.length }] : []));
  const seen = new Set<string>();
  for (const s of slots) {
    if (seen.has(s.name)) throw new UserError(`template '${source}' names slot <${s.name}> twice`);
    seen.add(s.name);
  }
  return { source, parts, slots, inputs };
}

/** The template with its slots replaced by the given readable fillings, whitespace tidied. */
export function renderTemplate(t: Template, fill: Record<string, string>): string {
  let out = t.source;
  for (const s of t.slots) {
    if (fill[s.name] !== undefined) out = out.replace(`<${s.name}:${s.length}>`, fill[s.name]);
  }
  return out.replace(/\s+/g, ' ').trim();
}
