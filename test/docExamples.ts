/**
 * The shell examples of README.md and docs/*.md, executed: a fenced block whose info string is
 * exactly `sh test` is an example a test runs (a plain `sh` block is shown, not run). The blocks
 * of one file run in order, each in its own `bash` with `set -euo pipefail`, in one scratch
 * folder that the earlier blocks' files stay in. The folder has the repository's datasets/,
 * searches/ and models/ (symlinks), `promptsearch` on PATH (and `npx promptsearch`) running this
 * checkout's dist/cli/main.js, and `require('promptsearch')` resolving to this checkout.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');

/** A fenced block: the file it is in, the line of its opening fence (1-based), its info string and its text. */
export interface ShellBlock {
  file: string;
  line: number;
  info?: string;
  code: string;
}

/** The fenced blocks of a Markdown text, in order (fences of ``` or ~~~, three or more, indented up to 3 spaces). */
export function findFencedBlocks(markdown: string, file: string): Required<ShellBlock>[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: Required<ShellBlock>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const body: string[] = [];
    let j = i + 1;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    for (; j < lines.length && !close.test(lines[j]); j++) body.push(lines[j]);
    blocks.push({ file, line: i + 1, info: open[2].trim(), code: body.join('\n') + '\n' });
    i = j;
  }
  return blocks;
}

/** The blocks whose info string is exactly `sh test`: the examples a test runs. */
export function findShellBlocks(markdown: string, file: string): ShellBlock[] {
  return findFencedBlocks(markdown, file).filter((b) => b.info === 'sh test');
}

/** README.md and docs/*.md of a checkout, as paths relative to it (those that exist). */
export function docFiles(root: string = ROOT): string[] {
  const docs = fs.existsSync(path.join(root, 'docs'))
    ? fs
        .readdirSync(path.join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => path.join('docs', f))
    : [];
  return ['README.md', ...docs].filter((f) => fs.existsSync(path.join(root, f)));
}

/** Every `sh test` block of README.md and docs/*.md, by file. */
export function docShellBlocks(root: string = ROOT): Map<string, ShellBlock[]> {
  const byFile = new Map<string, ShellBlock[]>();
  for (const f of docFiles(root)) {
    const blocks = findShellBlocks(fs.readFileSync(path.join(root, f), 'utf8'), f);
    if (blocks.length) byFile.set(f, blocks);
  }
  return byFile;
}

/**
 * A scratch folder under os.tmpdir() laid out like a user's folder next to a checkout: datasets/,
 * searches/, models/ link to the repository's; bin/ holds `promptsearch` (this checkout's CLI)
 * and an `npx` that runs it for `npx promptsearch` (anything else goes to the real npx);
 * node_modules/promptsearch links to the checkout. Returns the folder and the environment to run in.
 */
export function scratchFolder(root: string = ROOT): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doc-examples-'));
  for (const d of ['datasets', 'searches', 'models']) fs.symlinkSync(path.join(root, d), path.join(dir, d));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'promptsearch'));
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'doc-examples-bin-'));
  const cli = path.join(root, 'dist', 'cli', 'main.js');
  const shim = (name: string, text: string) =>
    fs.writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\n${text}\n`, { mode: 0o755 });
  shim('promptsearch', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} "$@"`);
  // Only `npx promptsearch ...` is this checkout; the real npx is whatever PATH had before bin/.
  const realNpx = (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((p) => path.join(p, 'npx'))
    .find((p) => fs.existsSync(p));
  shim(
    'npx',
    `if [ "\${1:-}" = promptsearch ]; then shift; exec ${JSON.stringify(path.join(bin, 'promptsearch'))} "$@"; fi\nexec ${JSON.stringify(realNpx ?? 'npx')} "$@"`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
  // Runs write their cache where the test run keeps it (PROMPTSEARCH_CACHE, passed through as it is).
  return { dir, env };
}

/** What running one block gave. */
export interface BlockRun {
  block: ShellBlock;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs one block with bash (`set -euo pipefail`) in `cwd`; kills it (and its children) after `timeoutMs`. */
export function runBlock(block: ShellBlock, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<BlockRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${block.code}`], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The block's own process group: its children too.
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ block, code, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** The one-paragraph failure of a block: where it is, how it ended, its stderr's (or stdout's) tail. */
export function blockFailure(r: BlockRun, timeoutMs: number, what = 'the `sh test` example'): string {
  const how = r.timedOut
    ? `did not finish in ${Math.round(timeoutMs / 1000)} s`
    : r.signal
      ? `was killed by ${r.signal}`
      : `exited with ${r.code}`;
  const out = r.stderr.trim()
    ? `stderr (last lines):\n${tail(r.stderr, 20)}`
    : `stdout (last lines):\n${tail(r.stdout, 20)}`;
  return `${r.block.file}:${r.block.line}: ${what} ${how}\n${out}`;
}

/**
 * Runs blocks in order in `cwd` (e.g. one file's blocks in a scratch folder); the first one that
 * fails throws an Error naming its file and line, with the tail of its stderr. Returns the runs.
 */
export async function runBlocks(
  blocks: ShellBlock[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<BlockRun[]> {
  const runs: BlockRun[] = [];
  for (const b of blocks) {
    const r = await runBlock(b, cwd, env, timeoutMs);
    runs.push(r);
    if (r.timedOut || r.code !== 0) throw new Error(blockFailure(r, timeoutMs));
  }
  return runs;
}
