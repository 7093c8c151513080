/**
 * `npm run schema`: writes searches/search-config.schema.json and docs/configuration.md (the
 * configuration reference) from src/runner/schema.ts; test/schema.test.ts and test/docs.test.ts
 * keep them in sync.
 */
import * as path from 'path';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../paths';
import { writeFileAtomic } from '../runner/atomic';
import { searchConfigJsonSchema, suiteSchema } from '../runner/schema';
import { JsonSchema, configReferenceMarkdown } from './configReference';

export const SCHEMA_FILE = path.join(PACKAGE_ROOT, 'searches', 'search-config.schema.json');
export const CONFIG_REFERENCE_FILE = path.join(PACKAGE_ROOT, 'docs', 'configuration.md');

export function schemaText(): string {
  return JSON.stringify(searchConfigJsonSchema(), null, 2) + '\n';
}

/** The JSON Schema of a leaderboard suite (what `promptsearch leaderboard` reads). */
export function suiteJsonSchema(): JsonSchema {
  return z.toJSONSchema(suiteSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** docs/configuration.md as the schema gives it today. */
export function configReferenceText(): string {
  return configReferenceMarkdown([
    {
      title: 'Search config',
      intro:
        'A search experiment: the file `promptsearch search CONFIG` reads (searches/*.json), and the `config.json` a run directory records.',
      schema: searchConfigJsonSchema() as JsonSchema,
    },
    {
      title: 'Leaderboard suite',
      intro:
        'The file `promptsearch leaderboard SUITE` reads (e.g. searches/leaderboard-default.json): tasks × seeds × methods; each search entry is a search config built from `base`, `perTask` and the method.',
      schema: suiteJsonSchema(),
    },
  ]);
}

/** The generated files and their contents. */
export function generatedFiles(): { file: string; text: string }[] {
  return [
    { file: SCHEMA_FILE, text: schemaText() },
    { file: CONFIG_REFERENCE_FILE, text: configReferenceText() },
  ];
}

if (require.main === module) {
  for (const { file, text } of generatedFiles()) {
    writeFileAtomic(file, text);
    process.stdout.write(`${path.relative(process.cwd(), file)}\n`);
  }
}
