import * as fs from 'fs';
import * as path from 'path';
import { PACKAGE_ROOT } from '../paths';

function versionOf(pkgDir: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Versions that decide a run's numbers, recorded with every run. */
export function packageVersions(): Record<string, string> {
  const nm = path.join(PACKAGE_ROOT, 'node_modules');
  return {
    promptsearch: versionOf(PACKAGE_ROOT),
    'onnxruntime-node': versionOf(path.join(nm, 'onnxruntime-node')),
    '@huggingface/tokenizers': versionOf(path.join(nm, '@huggingface', 'tokenizers')),
    node: process.version,
  };
}
