import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { BUNDLED_MODELS_DIR } from '../paths';

export const DTYPES = ['fp32', 'int8'] as const;
export type Dtype = (typeof DTYPES)[number];
/** int8 is the default: ~4x smaller and faster on CPU, within a few test examples of fp32. */
export const DEFAULT_DTYPE: Dtype = 'int8';
export const DEFAULT_MODEL = 'bert-mini-imdb-uncased';

const ONNX_FILE: Record<Dtype, string> = { fp32: 'model.onnx', int8: 'model_quantized.onnx' };

/**
 * `masked`: the verbalizer is read at a [MASK] token anywhere in the prompt (BERT, RoBERTa);
 * `causal`: it is read as the next token after the prompt, so [MASK] must come last (GPT-2).
 */
export type ModelKind = 'masked' | 'causal';

const CAUSAL_TYPES = new Set([
  'gpt2',
  'gpt_neo',
  'gpt_neox',
  'gptj',
  'llama',
  'mistral',
  'qwen2',
  'phi',
  'opt',
  'bloom',
  'falcon',
  'gemma',
]);

/** The model kind from config.json: a `*ForCausalLM` / `*LMHeadModel` architecture or a decoder `model_type`. */
export function modelKind(config: Record<string, unknown>): ModelKind {
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  if (archs.some((a) => /ForMaskedLM$/.test(a))) return 'masked';
  if (archs.some((a) => /(ForCausalLM|LMHeadModel)$/.test(a))) return 'causal';
  return CAUSAL_TYPES.has(String(config.model_type ?? '')) ? 'causal' : 'masked';
}

/** A model folder in the Hugging Face / transformers.js layout, checked and resolved. */
export interface ModelFolder {
  /** Bundled name, or the folder's base name. */
  name: string;
  dir: string;
  dtype: Dtype;
  onnxPath: string;
  /** From config.json (`architectures`, `model_type`). */
  kind: ModelKind;
  config: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json merged over special_tokens_map.json (both optional). */
  tokenizerConfig: Record<string, unknown>;
}

export function bundledModelNames(): string[] {
  if (!fs.existsSync(BUNDLED_MODELS_DIR)) return [];
  return fs
    .readdirSync(BUNDLED_MODELS_DIR)
    .filter((n) => fs.existsSync(path.join(BUNDLED_MODELS_DIR, n, 'config.json')));
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** `nameOrDir` is a bundled model name or a path to a model folder. */
export function resolveModel(nameOrDir: string = DEFAULT_MODEL, dtype: Dtype = DEFAULT_DTYPE): ModelFolder {
  if (!DTYPES.includes(dtype)) throw new UserError(`unknown dtype '${dtype}' (expected ${DTYPES.join(' or ')})`);
  let dir: string;
  if (fs.existsSync(nameOrDir) && fs.statSync(nameOrDir).isDirectory()) dir = path.resolve(nameOrDir);
  else if (!nameOrDir.includes('/') && fs.existsSync(path.join(BUNDLED_MODELS_DIR, nameOrDir)))
    dir = path.join(BUNDLED_MODELS_DIR, nameOrDir);
  else {
    throw new UserError(
      `model '${nameOrDir}' is neither a folder nor a bundled model (bundled: ${bundledModelNames().join(', ') || 'none'})`,
    );
  }
  const need = ['config.json', 'tokenizer.json', path.join('onnx', ONNX_FILE[dtype])];
  const missing = need.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    const hint = missing.some((m) => m.endsWith('.onnx'))
      ? ` (--dtype ${dtype} needs onnx/${ONNX_FILE[dtype]}; try the other --dtype)`
      : '';
    throw new UserError(`model folder ${dir} is missing ${missing.join(', ')}${hint}`);
  }
  const special = fs.existsSync(path.join(dir, 'special_tokens_map.json'))
    ? readJson(path.join(dir, 'special_tokens_map.json'))
    : {};
  const tokConfig = fs.existsSync(path.join(dir, 'tokenizer_config.json'))
    ? readJson(path.join(dir, 'tokenizer_config.json'))
    : {};
  const config = readJson(path.join(dir, 'config.json'));
  return {
    name: path.basename(dir),
    dir,
    dtype,
    onnxPath: path.join(dir, 'onnx', ONNX_FILE[dtype]),
    kind: modelKind(config),
    config,
    tokenizerJson: readJson(path.join(dir, 'tokenizer.json')),
    tokenizerConfig: { ...special, ...tokConfig },
  };
}

const hashCache = new Map<string, string>();
/** sha256 of a file, memoised per path and size+mtime (model files are large). */
export function sha256File(file: string): string {
  const st = fs.statSync(file);
  const key = `${file}:${st.size}:${st.mtimeMs}`;
  let h = hashCache.get(key);
  if (!h) {
    h = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    hashCache.set(key, h);
  }
  return h;
}

/**
 * The model's label names from config.json `id2label`, in id order; undefined when absent,
 * not ids 0..n-1, or only the generic `LABEL_0`, `LABEL_1`... that transformers writes by default.
 */
export function modelLabelNames(folder: ModelFolder): string[] | undefined {
  const m = folder.config.id2label;
  if (!m || typeof m !== 'object' || Array.isArray(m)) return undefined;
  const entries = Object.entries(m as Record<string, unknown>);
  const names: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const v = (m as Record<string, unknown>)[String(i)];
    if (typeof v !== 'string') return undefined;
    names.push(v);
  }
  if (names.length < 2 || names.every((n) => /^LABEL_\d+$/.test(n))) return undefined;
  return names;
}
