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
};

/** The plain words for a file-system error a user can cause; undefined for anything else. */
export function userIoProblem(e: unknown): string | undefined {
  return USER_IO_CODES[(e as NodeJS.ErrnoException)?.code ?? ''];
}

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
