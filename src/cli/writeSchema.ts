/** `npm run schema`: writes searches/search-config.schema.json from src/runner/schema.ts (a test keeps them in sync). */
import * as path from 'path';
import { PACKAGE_ROOT } from '../paths';
import { writeFileAtomic } from '../runner/atomic';
import { searchConfigJsonSchema } from '../runner/schema';

export const SCHEMA_FILE = path.join(PACKAGE_ROOT, 'searches', 'search-config.schema.json');

export function schemaText(): string {
  return JSON.stringify(searchConfigJsonSchema(), null, 2) + '\n';
}

if (require.main === module) {
  writeFileAtomic(SCHEMA_FILE, schemaText());
  process.stdout.write(`${path.relative(process.cwd(), SCHEMA_FILE)}\n`);
}
