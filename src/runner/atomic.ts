import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { userIoProblem } from '../util/jsonFile';

export { userIoProblem };

/**
 * Writes a file so readers see the old or the new content, never half of it (tmp + rename).
 * A failed write leaves no temp file behind; a user-caused failure is a UserError naming the file.
 */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const why = userIoProblem(e);
    if (why) throw new UserError(`${file}: cannot write (${why})`);
    throw e;
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
