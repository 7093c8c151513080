import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { userIoProblem } from '../util/jsonFile';

export { userIoProblem };

/** An error creating a folder, with the folder that could not be made (the first missing one). */
export interface MakeDirError extends NodeJS.ErrnoException {
  dir: string;
}

/**
 * `mkdir -p`, one folder at a time from the deepest one that exists, so a failure names the folder
 * that could not be made and the kernel's own reason for it (EROFS, EACCES...). Node's recursive
 * mkdir reports ENOENT for a folder under a read-only or virtual file system, and spins forever
 * on a path under /proc.
 */
export function makeDirs(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let at = abs;
  while (!fs.existsSync(at)) {
    missing.unshift(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  if (missing.length === 0 && !fs.statSync(abs).isDirectory())
    throw Object.assign(new Error(`${abs}: not a directory`), { code: 'EEXIST', dir: abs }) as MakeDirError;
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      const err = e as MakeDirError;
      if (err.code === 'EEXIST' && fs.statSync(d).isDirectory()) continue; // made meanwhile
      // ENOENT for a folder whose parent exists: the file system allows no new folders there (/proc).
      if (err.code === 'ENOENT' && fs.existsSync(path.dirname(d))) err.code = 'ENOTSUP';
      err.dir = d;
      throw err;
    }
  }
}

/**
 * Writes a file so readers see the old or the new content, never half of it (tmp + rename).
 * A failed write leaves no temp file behind; a user-caused failure is a UserError naming the file.
 */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    makeDirs(path.dirname(file));
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
