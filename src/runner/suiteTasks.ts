/**
 * The tasks of a leaderboard suite that are the user's own data: a data object (the fields of a
 * search config's `data`, plus a name, label names and label words) or a folder in the bundled
 * layout (`<folder>/16-<seed>/train.<ext>`, `<folder>/16-<seed>/dev.<ext>`, `<folder>/test.<ext>`).
 *
 * Seeds: a folder task has one train/dev split per seed (its `16-<seed>` folder), as the bundled
 * tasks do. A data object has one set of files: every seed of the suite reads the same files, and
 * the seed then only seeds the search's random choices (a search config's `seed`, which is also
 * the default `randomSeed`); its spread over seeds is the search's own, not the data's.
 *
 * Paths resolve against the suite file's folder and are kept absolute.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { DATA_FORMATS, DataFormat } from '../data/table';

/** A manual prompt of the user's own: the template (with `{x}`, no slots) and its label words. */
export interface ManualPrompt {
  template: string;
  verbalizer?: unknown;
}

/** A resolved user task: absolute data files and how to read them. */
export interface UserTask {
  name: string;
  /** `files`: a data object (the same files for every seed); `folder`: the bundled layout. */
  kind: 'files' | 'folder';
  /** A data object's files; a folder's test file (train and dev are per seed, see `seedFiles`). */
  train?: string;
  dev?: string;
  test: string;
  /** A folder task's train and dev file per seed. */
  seedFiles?: Record<string, { train: string; dev: string }>;
  textColumn?: string;
  labelColumn?: string;
  format?: DataFormat;
  /** Label names in label order. */
  labels?: string[] | string;
  /** Label words for this task (search cells and the manual row), below perTask and a method's config. */
  verbalizer?: unknown;
  /** The task's manual prompt; default `{x} it was [MASK] .` with the task's label words. */
  manual?: ManualPrompt;
}

/** The manual prompt of a user task that gives none. */
export const USER_MANUAL_TEMPLATE = '{x} it was [MASK] .';

/** The fields of a data object that a search config's `data` takes. */
const DATA_FIELDS = ['train', 'dev', 'test', 'textColumn', 'labelColumn', 'format'] as const;

/** The data files (absolute) of a user task for one seed. */
export function userTaskFiles(t: UserTask, seed: number): { train: string; dev: string; test: string } {
  if (t.kind === 'files') return { train: t.train!, dev: t.dev!, test: t.test };
  const s = t.seedFiles?.[String(seed)];
  if (!s)
    throw new UserError(
      `task '${t.name}': no split for seed ${seed} (expected ${path.join('16-' + seed, 'train.<ext>')} in its folder)`,
    );
  return { ...s, test: t.test };
}

/** A user task's `data` for a search config of one seed. */
export function userTaskData(t: UserTask, seed: number): Record<string, unknown> {
  const d: Record<string, unknown> = { ...userTaskFiles(t, seed) };
  for (const k of DATA_FIELDS.slice(3)) if (t[k] !== undefined) d[k] = t[k];
  return d;
}

/** Whether `name` may be a folder name inside the output folder (no separators, not `.` or `..`). */
export function safeName(name: string): boolean {
  return (
    name.trim() !== '' &&
    !/[\\/]/.test(name) &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('..') &&
    !/[\0]/.test(name)
  );
}

/** The first `<dir>/<base>.<ext>` that exists, ext in the data formats' order; undefined if none. */
function findSplit(dir: string, base: string): string | undefined {
  for (const ext of DATA_FORMATS) {
    const f = path.join(dir, `${base}.${ext}`);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/**
 * A folder task: `<dir>/test.<ext>` and, for every seed, `<dir>/16-<seed>/train.<ext>` and
 * `dev.<ext>` (ext: tsv, csv, jsonl or json). `where` names the entry in errors.
 */
export function folderTask(dir: string, seeds: number[], where: string, fields: Partial<UserTask> = {}): UserTask {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${where}: no folder ${dir}`);
  const test = findSplit(dir, 'test');
  if (!test)
    throw new UserError(
      `${where}: ${dir} has no test.tsv, test.csv, test.jsonl or test.json (expected the bundled layout: 16-<seed>/train.<ext>, 16-<seed>/dev.<ext>, test.<ext>)`,
    );
  const seedFiles: Record<string, { train: string; dev: string }> = {};
  for (const seed of seeds) {
    const sub = path.join(dir, `16-${seed}`);
    const train = findSplit(sub, 'train');
    const dev = findSplit(sub, 'dev');
    if (!train || !dev)
      throw new UserError(
        `${where}: ${sub} has no ${train ? 'dev' : 'train'}.<ext> (seed ${seed} of the suite's seeds; expected ${path.join(sub, 'train.tsv')} and dev.tsv, or .csv, .jsonl, .json)`,
      );
    seedFiles[String(seed)] = { train, dev };
  }
  return { ...fields, name: fields.name ?? path.basename(dir), kind: 'folder', test, seedFiles };
}

/** A data object entry (its fields already checked by the schema): files made absolute against `baseDir`. */
export function dataObjectTask(o: Record<string, unknown>, baseDir: string, seeds: number[], where: string): UserTask {
  const { name, folder, train, dev, test, ...rest } = o as {
    name: string;
    folder?: string;
    train?: string;
    dev?: string;
    test?: string;
  } & Partial<UserTask>;
  const fields: Partial<UserTask> = { name, ...rest };
  if (folder !== undefined) {
    if (train !== undefined || dev !== undefined || test !== undefined)
      throw new UserError(`${where}: give 'folder' or 'train'/'dev'/'test', not both`);
    return folderTask(path.resolve(baseDir, folder), seeds, where, fields);
  }
  for (const [k, v] of Object.entries({ train, dev, test }))
    if (v === undefined)
      throw new UserError(`${where}: missing field '${k}' (a data file; or 'folder' in the bundled layout)`);
  const abs = (k: string, f: string) => {
    const file = path.resolve(baseDir, f);
    if (!fs.existsSync(file)) throw new UserError(`${where}: ${k}: no file ${file}`);
    return file;
  };
  return {
    ...fields,
    name,
    kind: 'files',
    train: abs('train', train!),
    dev: abs('dev', dev!),
    test: abs('test', test!),
  };
}
