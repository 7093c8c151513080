/**
 * Jest runs each test file in its own vm context, so typed arrays created in a test are not
 * `instanceof` the main realm's Float32Array that onnxruntime-common checks against ("A float32
 * tensor's data must be type of function Float32Array"). Share the main realm's constructors.
 */
import * as vm from 'vm';

for (const name of ['Float32Array', 'BigInt64Array', 'Int32Array', 'Uint8Array'] as const) {
  (globalThis as Record<string, unknown>)[name] = vm.runInThisContext(name);
}
