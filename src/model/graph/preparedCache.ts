import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { ROW_QUANT_VERSION, rewriteForRowQuant } from './rowQuant';
import { TRANSPOSE_FOLD_VERSION, foldTransposesIntoMatMul } from './transposeFold';

/**
 * How int8 models quantize activations once prepared: `per-row` (default: every row of an
 * activation gets its own scale, so a row's scores do not depend on its batch; rowQuant.ts) or
 * `per-tensor` (as exported: one scale per batch). No effect on fp32 models.
 */
export const ACTIVATION_QUANT = ['per-row', 'per-tensor'] as const;
export type ActivationQuant = (typeof ACTIVATION_QUANT)[number];

let notice: (message: string) => void = () => {};

/** Where the one-line notice about a damaged cached model goes (the CLI: stderr; library: nowhere). */
export function onPreparedCacheNotice(handler: (message: string) => void): void {
  notice = handler;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function writeAtomic(target: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fsp.writeFile(tmp, bytes);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Why a cached file cannot be trusted (undefined: its bytes are the ones written). */
async function cacheProblem(target: string): Promise<string | undefined> {
  let recorded: string;
  try {
    recorded = (await fsp.readFile(`${target}.sha256`, 'utf8')).trim();
  } catch {
    return 'its sha256 record is missing';
  }
  const actual = sha256(await fsp.readFile(target));
  return actual === recorded
    ? undefined
    : `sha256 ${actual.slice(0, 12)}… differs from the one recorded when it was written (${recorded.slice(0, 12)}…)`;
}

/** What every prepared model's cache tag ends with: the transpose fold's version, then the per-row rewrite's. */
export function preparedTagSuffix(activations: ActivationQuant = 'per-row'): string {
  const fold = `tfold-v${TRANSPOSE_FOLD_VERSION}`;
  return activations === 'per-row' ? `${fold}.rowquant-v${ROW_QUANT_VERSION}` : fold;
}

/**
 * The on-disk cache of prepared (rewritten) models. Returns `<cacheDir>/<sha256 of the source file>.<tag>.onnx`:
 * reused when it exists and its bytes still hash to the sha256 recorded beside it (`.onnx.sha256`),
 * else `prepare(source bytes)` is written there atomically (tmp file + rename, so concurrent
 * preparers never expose a partial file), then its sha256. A damaged cached file (bit rot, a
 * truncated copy, a hand edit) is rebuilt once, with a notice. Put a version in `tag` and bump it
 * whenever `prepare` changes, so stale prepared models are never reused. Every prepared graph then
 * has its key Transposes folded into the MatMuls that read them (transposeFold.ts, bit-identical
 * outputs; `.tfold-v<N>` joins the tag), and with `per-row` activations (the default) its
 * DynamicQuantizeLinear nodes are rewritten per row (`.rowquant-v<N>`).
 */
export async function cachedPreparation(
  srcOnnxPath: string,
  cacheDir: string,
  baseTag: string,
  basePrepare: (src: Uint8Array) => Uint8Array,
  activations: ActivationQuant = 'per-row',
): Promise<string> {
  const tag = `${baseTag}.${preparedTagSuffix(activations)}`;
  const fold = (src: Uint8Array) => foldTransposesIntoMatMul(basePrepare(src));
  const prepare = activations === 'per-row' ? (src: Uint8Array) => rewriteForRowQuant(fold(src), srcOnnxPath) : fold;
  const src = await fsp.readFile(srcOnnxPath);
  const target = path.join(cacheDir, `${sha256(src)}.${tag}.onnx`);
  let exists = true;
  try {
    await fsp.access(target);
  } catch {
    exists = false;
  }
  if (exists) {
    const problem = await cacheProblem(target);
    if (!problem) return target;
    notice(`cached model ${target}: ${problem}; rebuilding it`);
  }
  const prepared = prepare(src);
  await fsp.mkdir(cacheDir, { recursive: true });
  await writeAtomic(target, prepared);
  await writeAtomic(`${target}.sha256`, sha256(prepared) + '\n');
  return target;
}

/** The whole graph as exported, with per-row activation quantization when it is int8 (the reference the mask-head rewrite is tested against). */
export function prepareRowQuantModel(srcOnnxPath: string, cacheDir: string): Promise<string> {
  return cachedPreparation(srcOnnxPath, cacheDir, 'as-exported', (src) => src);
}
