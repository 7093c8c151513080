/**
 * The configuration reference (docs/configuration.md), rendered from the JSON Schemas that
 * src/runner/schema.ts gives (`z.toJSONSchema`): one table row per field, nested fields as
 * `parent.child` (list items as `parent[].child`), with its type or allowed values, its default
 * and the one-line description the schema carries (zod `.describe()` / `.meta({description})`;
 * an empty cell where it has none). `npm run schema` writes it; test/docs.test.ts keeps it in sync.
 */

/** The part of a JSON Schema (draft 2020-12, as zod writes it) that the reference reads. */
export interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  title?: string;
  deprecated?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  [key: string]: unknown;
}

/** One line of the reference. `only`: the values of the union's discriminator for which the field exists (empty: always). */
export interface FieldRow {
  field: string;
  type: string;
  default: string;
  description: string;
  only: string[];
}

const SAFE = Number.MAX_SAFE_INTEGER;

/** The schema a `$ref` (`#/$defs/Name`) points to in `root`, or the schema itself. */
function deref(s: JsonSchema, root: JsonSchema): JsonSchema {
  let out = s;
  for (let i = 0; i < 32 && out.$ref; i++) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(out.$ref);
    const target = m ? (root[m[1]] as Record<string, JsonSchema> | undefined)?.[m[2]] : undefined;
    if (!target) break;
    // Keywords beside the $ref (description, default) win over the target's.
    const { $ref: _ref, ...rest } = out;
    out = { ...target, ...rest };
  }
  return out;
}

/** The alternatives of a union schema (anyOf / oneOf), or undefined. */
function alternatives(s: JsonSchema): JsonSchema[] | undefined {
  return s.anyOf ?? s.oneOf;
}

function json(v: unknown): string {
  return JSON.stringify(v);
}

function numberRange(s: JsonSchema, what: string): string {
  const lo = s.minimum !== undefined && s.minimum > -SAFE ? s.minimum : undefined;
  const hi = s.maximum !== undefined && s.maximum < SAFE ? s.maximum : undefined;
  const xlo = s.exclusiveMinimum;
  const xhi = s.exclusiveMaximum;
  if ((lo !== undefined || xlo !== undefined) && (hi !== undefined || xhi !== undefined)) {
    return `${what} in ${lo !== undefined ? '[' + lo : '(' + xlo}, ${hi !== undefined ? hi + ']' : xhi + ')'}`;
  }
  if (lo !== undefined) return `${what} ≥ ${lo}`;
  if (xlo !== undefined) return `${what} > ${xlo}`;
  if (hi !== undefined) return `${what} ≤ ${hi}`;
  if (xhi !== undefined) return `${what} < ${xhi}`;
  return what;
}

/** A schema's type in a few words: `integer ≥ 1`, `"ce"`, `list of string`, `boolean or object`. */
export function typeText(s0: JsonSchema, root: JsonSchema = s0): string {
  const s = deref(s0, root);
  if (s.const !== undefined) return json(s.const);
  if (s.enum) return s.enum.map(json).join(' | ');
  const alts = alternatives(s);
  if (alts) return [...new Set(alts.map((a) => typeText(a, root)))].join(' or ');
  if (s.allOf && s.allOf.length === 1) return typeText(s.allOf[0], root);
  const type = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  switch (type) {
    case 'integer':
      return numberRange(s, 'integer');
    case 'number':
      return numberRange(s, 'number');
    case 'array': {
      const of = s.items ? typeText(s.items, root) : 'anything';
      return `${s.minItems ? 'non-empty ' : ''}list of ${/ /.test(of) ? `(${of})` : of}`;
    }
    case 'object': {
      if (s.properties) return 'object';
      if (
        s.additionalProperties &&
        typeof s.additionalProperties === 'object' &&
        Object.keys(s.additionalProperties).length > 0
      ) {
        const of = typeText(s.additionalProperties, root);
        return `object of name → ${/ /.test(of) ? `(${of})` : of}`;
      }
      return 'object';
    }
    case undefined:
      return 'any';
    default:
      return type;
  }
}

function oneLine(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

/** The object schemas whose fields are listed under a field: the object itself, an object alternative, or a list's items. */
function nestedObjects(s0: JsonSchema, root: JsonSchema): { suffix: string; schema: JsonSchema }[] {
  const s = deref(s0, root);
  if (s.properties) return [{ suffix: '', schema: s }];
  const alts = alternatives(s);
  if (alts) return alts.flatMap((a) => nestedObjects(a, root));
  if (s.items) return nestedObjects(s.items, root).map((n) => ({ suffix: '[]' + n.suffix, schema: n.schema }));
  return [];
}

/** The rows of one object schema's fields, depth first; `only` qualifies every row. */
function objectRows(obj: JsonSchema, root: JsonSchema, prefix: string, only: string[]): FieldRow[] {
  const rows: FieldRow[] = [];
  const required = new Set(obj.required ?? []);
  for (const [name, p0] of Object.entries(obj.properties ?? {})) {
    const p = deref(p0, root);
    const field = prefix + name;
    const dflt = p.default !== undefined ? json(p.default) : required.has(name) ? 'required' : '';
    rows.push({
      field,
      type: typeText(p, root),
      default: dflt,
      description: oneLine(p.description ?? p.title) + (p.deprecated ? ' (deprecated)' : ''),
      only,
    });
    // Depth-limited (a recursive schema would not end); a field two alternatives share is listed once.
    if (prefix.split('.').length > 8) continue;
    const seen = new Set<string>();
    for (const n of nestedObjects(p, root))
      for (const r of objectRows(n.schema, root, `${field}${n.suffix}.`, only)) {
        const sig = [r.field, r.type, r.default, r.description].join('\u0000');
        if (!seen.has(sig)) rows.push(r);
        seen.add(sig);
      }
  }
  return rows;
}

/** The property every branch of a union fixes to a constant (zod's discriminated union), if any. */
function discriminator(branches: JsonSchema[], root: JsonSchema): string | undefined {
  const first = deref(branches[0], root).properties ?? {};
  return Object.keys(first).find((k) =>
    branches.every(
      (b) => deref(b, root).properties?.[k] && deref(deref(b, root).properties![k], root).const !== undefined,
    ),
  );
}

/**
 * One row per field of a config schema. A union of object schemas (one per strategy) gives each
 * field once: the discriminator's row lists every value, and a field whose schema differs between
 * branches (e.g. `strategyParams`) lists its nested fields per branch, marked with the branches
 * where they exist.
 */
export function fieldRows(schema: JsonSchema): FieldRow[] {
  const root = schema;
  const top = deref(schema, root);
  const branches = alternatives(top);
  if (!branches || !branches.every((b) => deref(b, root).properties)) return objectRows(top, root, '', []);
  const key = discriminator(branches, root);
  const labelOf = (b: JsonSchema, i: number) =>
    key ? String(deref(deref(b, root).properties![key], root).const) : `form ${i + 1}`;
  // Each branch's rows merged into one list: a row identical in several branches is listed once,
  // qualified by all of them; a row only some branches have goes where those branches put it.
  const rows = new Map<string, FieldRow>();
  const order: string[] = [];
  branches.forEach((b, i) => {
    const label = labelOf(b, i);
    const own = objectRows(deref(b, root), root, '', [label]).map((r) => ({
      r,
      id: r.field === key ? r.field : [r.field, r.type, r.default, r.description].join('\u0000'),
    }));
    const known = new Set(rows.keys());
    own.forEach(({ r, id }, j) => {
      const seen = rows.get(id);
      if (seen) {
        seen.only.push(label);
        if (r.field === key) seen.type = `${seen.type} | ${r.type}`;
        return;
      }
      rows.set(id, { ...r, only: [label] });
      const next = own.slice(j + 1).find((o) => known.has(o.id));
      if (next) order.splice(order.indexOf(next.id), 0, id);
      else order.push(id);
    });
  });
  return order.map((id) => rows.get(id)!).map((r) => ({ ...r, only: r.only.length === branches.length ? [] : r.only }));
}

function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

function code(text: string): string {
  return text ? '`' + text.replace(/`/g, "'") + '`' : '';
}

/** A Markdown table of the rows; `onlyName` names the discriminator in the qualifier (`strategy: beam`). */
export function fieldTable(rows: FieldRow[], onlyName?: string): string {
  const lines = ['| Field | Type / allowed values | Default | Description |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    const only = r.only.length ? ` (${onlyName ? `${onlyName}: ` : ''}${r.only.join(', ')})` : '';
    lines.push(
      `| ${cell(code(r.field))}${cell(only)} | ${cell(r.type)} | ${cell(r.default === 'required' ? r.default : code(r.default))} | ${cell(r.description)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

/** One section of the reference: a title, what the file is, and its table. */
export interface ReferenceSection {
  title: string;
  intro: string;
  schema: JsonSchema;
}

/** docs/configuration.md: a header saying where it comes from, then one table per section. */
export function configReferenceMarkdown(sections: ReferenceSection[]): string {
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/runner/schema.ts by `npm run schema`; do not edit (test/docs.test.ts checks it). -->',
    '',
    'Every field a search config or a leaderboard suite may set, one line each. Longer explanations',
    'of the words used here are in [concepts](concepts.md). Generated from the schema',
    '(src/runner/schema.ts) by `npm run schema`, which also writes the JSON Schema that editors read',
    '(searches/search-config.schema.json).',
    '',
  ];
  for (const s of sections) {
    const top = deref(s.schema, s.schema);
    const branches = alternatives(top);
    const key = branches && discriminator(branches, s.schema);
    out.push(`## ${s.title}`, '', oneLine(s.intro), '');
    out.push(fieldTable(fieldRows(s.schema), key));
  }
  return out.join('\n');
}
