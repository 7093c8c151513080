/** The generated docs are what the code gives today: docs/configuration.md and the JSON Schema (`npm run schema`). */
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { fieldRows, fieldTable, JsonSchema } from '../src/cli/configReference';
import { CONFIG_REFERENCE_FILE, SCHEMA_FILE, generatedFiles } from '../src/cli/writeSchema';

describe('generated docs', () => {
  test.each(generatedFiles().map((g) => [path.relative(path.join(__dirname, '..'), g.file), g]))(
    '%s is what the schema gives (run npm run schema)',
    (_name, g) => {
      const onDisk = fs.existsSync(g.file) ? fs.readFileSync(g.file, 'utf8') : '(missing)';
      // The message names the first differing line and how to fix it.
      if (onDisk !== g.text)
        throw new Error(
          `${g.file} is out of date with src/runner/schema.ts: run npm run schema\n${firstDifference(onDisk, g.text)}`,
        );
    },
  );

  test('both files are generated', () => {
    expect(generatedFiles().map((g) => g.file)).toEqual([SCHEMA_FILE, CONFIG_REFERENCE_FILE]);
  });

  test('the reference has a line for every search config and suite field, nested ones included', () => {
    const text = fs.readFileSync(CONFIG_REFERENCE_FILE, 'utf8');
    for (const field of [
      '`budget`',
      '`candidates.topK`',
      '`data.train`',
      '`strategy`',
      '`strategyParams.width` (strategy: beam)',
      '`methods[].name`',
      '`seeds`',
    ])
      expect(text).toContain(`| ${field} |`);
  });

  test('a row carries the type, the default and the schema description; none where the schema has none', () => {
    const schema = z.object({
      budget: z.number().int().min(1).default(500).describe('Hard cap on example evaluations | train and dev.'),
      mode: z.enum(['a', 'b']).optional(),
      readout: z
        .union([
          z.literal(false),
          z.strictObject({
            method: z.enum(['mean', 'discriminant']).meta({ description: 'How\n words score.' }),
            topWords: z.number().int().min(1).optional(),
          }),
        ])
        .default(false),
      words: z.array(z.string()).min(1).optional(),
    });
    expect(fieldTable(fieldRows(z.toJSONSchema(schema, { io: 'input' }) as JsonSchema))).toBe(
      [
        '| Field | Type / allowed values | Default | Description |',
        '| --- | --- | --- | --- |',
        '| `budget` | integer ≥ 1 | `500` | Hard cap on example evaluations \\| train and dev. |',
        '| `mode` | "a" \\| "b" |  |  |',
        '| `readout` | false or object | `false` |  |',
        '| `readout.method` | "mean" \\| "discriminant" | required | How words score. |',
        '| `readout.topWords` | integer ≥ 1 |  |  |',
        '| `words` | non-empty list of string |  |  |',
        '',
      ].join('\n'),
    );
  });

  test('a field whose alternatives are objects lists their fields once each', () => {
    const schema = z.object({
      params: z
        .union([
          z.strictObject({ batchSize: z.number() }),
          z.strictObject({ batchSize: z.number(), width: z.number() }),
        ])
        .optional(),
    });
    expect(fieldRows(z.toJSONSchema(schema, { io: 'input' }) as JsonSchema).map((r) => r.field)).toEqual([
      'params',
      'params.batchSize',
      'params.width',
    ]);
  });

  test('a union of object forms lists a shared field once and a form-only field with its forms', () => {
    const form = (name: string, params: z.ZodRawShape) =>
      z.strictObject({
        budget: z.number().default(1),
        strategy: z.literal(name),
        strategyParams: z.strictObject(params).optional(),
      });
    const schema = z.discriminatedUnion('strategy', [
      form('random', { batchSize: z.number() }),
      form('beam', { width: z.number() }),
      form('reinforce', { batchSize: z.number() }),
    ]);
    const rows = fieldRows(z.toJSONSchema(schema, { io: 'input' }) as JsonSchema);
    expect(rows.map((r) => [r.field, r.type, r.only.join(',')])).toEqual([
      ['budget', 'number', ''],
      ['strategy', '"random" | "beam" | "reinforce"', ''],
      ['strategyParams', 'object', ''],
      ['strategyParams.batchSize', 'number', 'random,reinforce'],
      ['strategyParams.width', 'number', 'beam'],
    ]);
  });
});

function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) return `line ${i + 1}:\n  on disk:   ${x[i] ?? '(end)'}\n  generated: ${y[i] ?? '(end)'}`;
  return '';
}
