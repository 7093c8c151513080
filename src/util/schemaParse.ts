/**
 * zod building blocks for user-written JSON: value schemas whose messages say what was expected,
 * and `parseWith`, which turns the first problem into one line naming the file and the field.
 */
import { z } from 'zod';
import { UserError } from '../errors';

/** A message for a present but wrong value; a missing one falls through to "missing field". */
export const says = (text: string) => ({
  error: (iss: { input?: unknown }) => (iss.input === undefined ? undefined : text),
});
export const text = () => z.string(says('expected a non-empty string')).min(1, says('expected a non-empty string'));
export const int = () => z.number(says('expected an integer')).int(says('expected an integer'));
export const posInt = () =>
  z
    .number(says('expected a positive integer'))
    .int(says('expected a positive integer'))
    .min(1, says('expected a positive integer'));
export const positive = () => z.number(says('expected a number > 0')).gt(0, says('expected a number > 0'));
export const bool = () => z.boolean(says('expected true or false'));
export const oneOf = <T extends readonly [string, ...string[]]>(names: T) =>
  z.enum(names, says(`expected one of ${names.join(', ')}`));
export const words = () => z.array(z.string(says('expected a word')), says('expected a list of words'));

function fieldPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}

/** The keys an object schema at `p` allows (through optional/default wrappers and unions), for "unknown field" errors. */
function allowedAt(schema: z.ZodType, p: readonly PropertyKey[]): string[] | undefined {
  type Def = { type?: string; innerType?: unknown; in?: unknown; element?: unknown; options?: unknown[] };
  const def = (s: unknown) => (s as { def?: Def }).def;
  const shapeOf = (s: unknown) => (s as { shape?: Record<string, unknown> }).shape;
  const unwrap = (s: unknown): unknown => {
    for (let guard = 0; guard < 8; guard++) {
      const d = def(s);
      if (d?.innerType) s = d.innerType;
      else if (d?.type === 'pipe' && d.in) s = d.in;
      else break;
    }
    return s;
  };
  // Where a union stands, its branches that lead along the path.
  let at: unknown[] = [unwrap(schema)];
  const spread = () => {
    at = at.flatMap((s) => (def(s)?.type === 'union' ? (def(s)!.options ?? []).map(unwrap) : [s]));
  };
  spread();
  for (const k of p) {
    at = at.flatMap((s) => {
      const next = typeof k === 'number' ? def(s)?.element : shapeOf(s)?.[String(k)];
      return next ? [unwrap(next)] : [];
    });
    spread();
  }
  const shape = at.map(shapeOf).find((sh) => sh);
  return shape ? Object.keys(shape).filter((k) => !k.startsWith('$')) : undefined;
}

/** One line for the first problem: `<where>: <field>: <what>`. */
function describeIssue(where: string, issue: z.core.$ZodIssue, schema: z.ZodType): string {
  if (issue.code === 'invalid_union') {
    // The one branch whose type the value has (its problems lie inside it) names the field inside;
    // otherwise the union's own message says what was expected.
    const inside = issue.errors.filter(
      (branch) => branch.length > 0 && branch.every((i) => i.path.length > 0 || i.code === 'unrecognized_keys'),
    );
    if (inside.length === 1)
      return describeIssue(where, { ...inside[0][0], path: [...issue.path, ...inside[0][0].path] }, schema);
  }
  const field = fieldPath(issue.path);
  const at = field ? `${where}: ${field}` : where;
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedAt(schema, issue.path);
    return `${at}: unknown field '${issue.keys[0]}'${allowed ? ` (allowed: ${allowed.join(', ')})` : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    const name = issue.path[issue.path.length - 1];
    const parent = fieldPath(issue.path.slice(0, -1));
    return `${parent ? `${where}: ${parent}` : where}: missing field '${String(name)}'`;
  }
  return `${at}: ${issue.message}`;
}

/** Parses `raw` with `schema`; the first problem becomes a UserError naming `where` and the field. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const r = schema.safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  throw new UserError(describeIssue(where, r.error.issues[0], schema));
}
