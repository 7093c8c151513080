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
export async function maskLogitsOfGraph(bytes: Uint8Array, file: string, rows: EncodedRow[], threads: number): Promise<Float32Array> {
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
