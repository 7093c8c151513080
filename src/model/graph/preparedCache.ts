import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';

/**
 * The on-disk cache of prepared (rewritten) models. Returns `<cacheDir>/<sha256 of the source file>.<tag>.onnx`:
 * reused when it exists, else `prepare(source bytes)` is written there atomically (tmp file + rename,
 * so concurrent preparers never expose a partial file). Put a version in `tag` and bump it whenever
 * `prepare` changes, so stale prepared models are never reused.
 */
export async function cachedPreparation(srcOnnxPath: string, cacheDir: string, tag: string, prepare: (src: Uint8Array) => Uint8Array): Promise<string> {
  const src = await fsp.readFile(srcOnnxPath);
  const hash = createHash('sha256').update(src).digest('hex');
  const target = path.join(cacheDir, `${hash}.${tag}.onnx`);
  try {
    await fsp.access(target);
    return target;
  } catch {
    // not cached yet
  }
  const prepared = prepare(src);
  await fsp.mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fsp.writeFile(tmp, prepared);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  return target;
}
