import * as os from 'os';
import * as path from 'path';

/** The package root (where models/, datasets/, searches/ live), from src/ or dist/ alike. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

export const BUNDLED_MODELS_DIR = path.join(PACKAGE_ROOT, 'models');
export const DATASETS_DIR = path.join(PACKAGE_ROOT, 'datasets');

/** Where prepared (rewritten) models are cached: $PROMPTSEARCH_CACHE, else ~/.cache/promptsearch. */
export function cacheDir(): string {
  return (
    process.env.PROMPTSEARCH_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'promptsearch')
  );
}
