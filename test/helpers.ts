import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FullLogitsBackend } from '../src/model/onnxBackend';
import { EncodedRow } from '../src/prompt/encode';
import { resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export function bertTokenizer(): PromptTokenizer {
  return PromptTokenizer.fromFolder(resolveModel('bert-mini-imdb-uncased', 'fp32'));
}
export function robertaTokenizer(): PromptTokenizer {
  return PromptTokenizer.fromFolder(resolveModel('roberta-mini-imdb', 'fp32'));
}

/** A tiny finished search run (random strategy, SST-2 seed 13, 600 evaluations) in `runDir`. */
export async function tinySearchRun(runDir: string) {
  const { validateConfig } = await import('../src/runner/config');
  const { runSearch } = await import('../src/runner/run');
  const config = validateConfig(
    {
      name: 't',
      task: 'sst-2',
      seed: 13,
      template: '{x} <A:2> [MASK] .',
      verbalizer: 'terrible,great',
      strategy: 'random',
      candidates: { topK: 8 },
      budget: 600,
      selectTopK: 2,
      workers: 1,
      threadsPerWorker: 1,
    },
    'x',
  );
  return runSearch(config, { runDir });
}

/** A graph's full-vocabulary logits at each row's mask, flat [rows × vocab]: `bytes` written to `file` and run as the model as exported. */
export async function maskLogitsOfGraph(
  bytes: Uint8Array,
  file: string,
  rows: EncodedRow[],
  threads: number,
): Promise<Float32Array> {
  fs.writeFileSync(file, bytes);
  const backend = await FullLogitsBackend.load(file, 128, 0, { threads });
  try {
    const logits = await backend.logitsAt(
      rows,
      rows.map((r) => [r.maskPos]),
    );
    return Float32Array.from(logits.flatMap((r) => Array.from(r[0])));
  } finally {
    await backend.dispose();
  }
}

export interface Started {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  out: () => string;
  /** The exit, with the time it came (Date.now()). */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts the built CLI with `args`, collecting its output. */
export function startCli(args: string[], env?: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, out: () => out, exit };
}

/** Resolves once `check()` is true, polling every `ms`. */
export const waitFor = (check: () => boolean, ms = 20) =>
  new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (check()) {
        clearInterval(t);
        resolve();
      }
    }, ms);
  });

/** The non-empty lines of a file (0 when it does not exist yet). */
export const lineCount = (f: string) =>
  fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
export const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));
