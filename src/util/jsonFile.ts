/** Reading user-written JSON files, and the plain words for file-system errors a user can cause. */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';

/** Errors a user can cause (a read-only folder, a full disk...): one line naming the file. */
const USER_IO_CODES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  ENOTSUP: 'the file system does not allow it',
  EEXIST: 'a file of that name exists, not a folder',
};

/** The plain words for a file-system error a user can cause; undefined for anything else. */
export function userIoProblem(e: unknown): string | undefined {
  return USER_IO_CODES[(e as NodeJS.ErrnoException)?.code ?? ''];
}

/** Reads a user-written JSON file: one-line errors naming the file, no raw bytes echoed. */
export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `${path.resolve(file)}: cannot read the ${what} (${userIoProblem(e) ?? (e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  if (!text.trim()) throw new UserError(`${file}: empty file (expected the ${what}, JSON)`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = (e as Error).message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    throw new UserError(`${file}: not valid JSON (${why})`);
  }
}
