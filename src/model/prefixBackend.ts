import * as ort from 'onnxruntime-node';
import { EncodedRow } from '../prompt/encode';
import { MaskedLmBackend } from './backend';
import {
  ATTENTION_BIAS,
  MASKED_BIAS,
  pastKey,
  pastValue,
  POSITION_IDS,
  presentKey,
  presentValue,
} from './graph/causalPrefix';
import { UserError } from '../errors';
import {
  checkInputs,
  createSession,
  LazySession,
  MaskHeadBackend,
  runLabelLogits,
  runLabelLogProbs,
  SessionOptions,
} from './onnxBackend';

/** One example's cached prefix: per layer, keys and values [heads, length, headDim], contiguous. */
interface PrefixKV {
  /** Unique per computed prefix: names it in batch keys. */
  id: number;
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
  bytes: number;
}

/** Default size of the prefix cache per backend (each scoring worker has its own). */
export const DEFAULT_PREFIX_CACHE_MB = 256;

/**
 * Prefix reuse for causal models (see graph/causalPrefix.ts). Rows with a `prefixLength` (causal
 * templates with no slot before the last input) run the prefix graph once per distinct prefix,
 * kept in an LRU cache of keys and values, and then only their own suffix tokens (slots, fixed
 * text) through the suffix graph, attending to the cached prefix. A batch with any row without
 * a `prefixLength` is scored by the mask-head backend on the whole rows, as without this backend.
 * In fp32 the logits equal whole-row scoring within float rounding; int8 models quantize
 * activations per tensor, so prefix and suffix get their own scales and the numbers move slightly.
 */
export class PrefixReuseBackend implements MaskedLmBackend {
  readonly kind = 'prefix-reuse';
  private readonly cache = new Map<string, PrefixKV>();
  private cachedBytes = 0;
  /** Assembled past feeds of recent batches (see pastFeeds), LRU, within half the cache budget. */
  private readonly batches = new Map<string, { feeds: [string, Float32Array][]; bytes: number }>();
  private batchBytes = 0;
  private nextId = 0;
  private heads = 0;
  private headDim = 0;
  /** Prefix runs and suffix rows so far (tests and the bench read them). */
  readonly stats = { prefixRows: 0, suffixRows: 0, fallbackRows: 0 };

  private constructor(
    private readonly prefix: ort.InferenceSession,
    private readonly suffix: ort.InferenceSession,
    /** Whole-row scoring for rows without a reusable prefix. */
    readonly whole: MaskHeadBackend,
    private readonly layers: number,
    readonly maxLength: number,
    private readonly padId: number,
    private readonly cacheLimitBytes: number,
    /** The suffix graph with the log-sum-exp output (multi-token label words), opened on first use. */
    private readonly suffixLogProbs: LazySession,
  ) {}

  /**
   * `paths.suffixLogProbs` / `paths.wholeLogProbs` prepare the graph variants with the log-sum-exp
   * output (multi-token label words), called on first use only; without them such words are an error.
   */
  static async load(
    paths: {
      prefix: string;
      suffix: string;
      wholeMaskHead: string;
      suffixLogProbs?: () => Promise<string>;
      wholeLogProbs?: () => Promise<string>;
    },
    maxLength: number,
    padId: number,
    opts: SessionOptions & { cacheMb?: number } = {},
  ): Promise<PrefixReuseBackend> {
    const prefix = await createSession(paths.prefix, opts);
    const suffix = await createSession(paths.suffix, opts);
    const whole = await MaskHeadBackend.load(paths.wholeMaskHead, maxLength, padId, {
      ...opts,
      logProbs: paths.wholeLogProbs,
    });
    const layers = suffix.inputNames.filter((n) => n.startsWith('past_key_')).length;
    const suffixInputs = [
      POSITION_IDS,
      ATTENTION_BIAS,
      'mask_index',
      'label_ids',
      ...Array.from({ length: layers }, (_, l) => pastValue(l)),
    ];
    checkInputs(suffix, paths.suffix, suffixInputs, 'the suffix model');
    const mb = opts.cacheMb ?? (Number(process.env.PROMPTSEARCH_PREFIX_CACHE_MB) || DEFAULT_PREFIX_CACHE_MB);
    const noLogProbs = () =>
      Promise.reject(
        new UserError(
          'multi-token label words need the log-probability suffix model, which this backend was loaded without',
        ),
      );
    const suffixLogProbs = new LazySession(
      paths.suffixLogProbs ?? noLogProbs,
      opts,
      suffixInputs,
      'the log-probability suffix model',
    );
    return new PrefixReuseBackend(prefix, suffix, whole, layers, maxLength, padId, mb * 1024 * 1024, suffixLogProbs);
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    return this.scoreRows(rows, labelIds, false);
  }

  /**
   * Label log-probabilities (multi-token label words): the same split, reading the suffix graph's
   * log-sum-exp too. A row continued by label-word tokens keeps its example's prefix, so every
   * continuation of a candidate reuses the one cached prefix.
   */
  async labelLogProbs(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    return this.scoreRows(rows, labelIds, true);
  }

  /** Rows without a reusable prefix go to the whole-row model; the rest to cached prefix + suffix. */
  private async scoreRows(rows: EncodedRow[], labelIds: number[], logProbs: boolean): Promise<Float32Array> {
    if (rows.some((r) => r.prefixLength === undefined) || rows.every((r) => r.prefixLength === 0)) {
      this.stats.fallbackRows += rows.length;
      return logProbs ? this.whole.labelLogProbs(rows, labelIds) : this.whole.labelLogits(rows, labelIds);
    }
    const kvs = await this.prefixes(rows);
    return this.runSuffix(rows, kvs, labelIds, logProbs);
  }

  /** Cached prefixes of the rows, computing the missing ones in one right-padded batch. */
  private async prefixes(rows: EncodedRow[]): Promise<PrefixKV[]> {
    const keys = rows.map((r) => r.ids.slice(0, r.prefixLength).join(','));
    // This batch's prefixes are held here, so evicting them from the cache cannot lose them.
    const batch = new Map<string, PrefixKV>();
    for (const k of keys) {
      const kv = this.cache.get(k);
      if (kv && !batch.has(k)) {
        // Refresh its place in the LRU order.
        this.cache.delete(k);
        this.cache.set(k, kv);
        batch.set(k, kv);
      }
    }
    const missing = [...new Set(keys.filter((k) => !batch.has(k)))];
    if (missing.length > 0) {
      const computed = await this.runPrefix(missing.map((k) => (k === '' ? [] : k.split(',').map(Number))));
      missing.forEach((k, i) => {
        batch.set(k, computed[i]);
        this.remember(k, computed[i]);
      });
    }
    return keys.map((k) => batch.get(k)!);
  }

  private remember(key: string, kv: PrefixKV): void {
    this.cache.set(key, kv);
    this.cachedBytes += kv.bytes;
    for (const [k, old] of this.cache) {
      if (this.cachedBytes <= this.cacheLimitBytes || this.cache.size <= 1) break;
      this.cache.delete(k);
      this.cachedBytes -= old.bytes;
    }
  }

  private async runPrefix(seqs: number[][]): Promise<PrefixKV[]> {
    const width = Math.max(1, ...seqs.map((s) => s.length));
    const n = seqs.length * width;
    const ids = new BigInt64Array(n).fill(BigInt(this.padId));
    const mask = new BigInt64Array(n);
    seqs.forEach((s, r) =>
      s.forEach((id, j) => {
        ids[r * width + j] = BigInt(id);
        mask[r * width + j] = 1n;
      }),
    );
    const dims = [seqs.length, width];
    const names = Array.from({ length: this.layers }, (_, l) => [presentKey(l), presentValue(l)]).flat();
    const out = await this.prefix.run(
      { input_ids: new ort.Tensor('int64', ids, dims), attention_mask: new ort.Tensor('int64', mask, dims) },
      names,
    );
    this.stats.prefixRows += seqs.length;
    const [, heads, , headDim] = out[presentKey(0)].dims;
    this.heads = heads;
    this.headDim = headDim;
    const result = seqs.map((s) => ({
      id: this.nextId++,
      length: s.length,
      keys: [] as Float32Array[],
      values: [] as Float32Array[],
      bytes: 0,
    }));
    for (let l = 0; l < this.layers; l++) {
      for (const [name, field] of [
        [presentKey(l), 'keys'],
        [presentValue(l), 'values'],
      ] as const) {
        const data = out[name].data as Float32Array;
        seqs.forEach((s, r) => {
          const p = s.length;
          const kv = new Float32Array(heads * p * headDim);
          for (let h = 0; h < heads; h++) {
            const from = (r * heads + h) * width * headDim;
            kv.set(data.subarray(from, from + p * headDim), h * p * headDim);
          }
          result[r][field].push(kv);
          result[r].bytes += kv.byteLength;
        });
      }
    }
    for (const t of Object.values(out)) t.dispose();
    return result;
  }

  private async runSuffix(
    rows: EncodedRow[],
    kvs: PrefixKV[],
    labelIds: number[],
    logProbs: boolean,
  ): Promise<Float32Array> {
    const B = rows.length;
    const P = Math.max(...kvs.map((kv) => kv.length));
    const S = Math.max(...rows.map((r, i) => r.ids.length - kvs[i].length));
    const total = P + S;
    const ids = new BigInt64Array(B * S).fill(BigInt(this.padId));
    const mask = new BigInt64Array(B * S);
    const positions = new BigInt64Array(B * S);
    const bias = new Float32Array(B * S * total).fill(MASKED_BIAS);
    const maskIndex = new BigInt64Array(B);
    rows.forEach((r, b) => {
      const p = kvs[b].length;
      const own = r.ids.length - p;
      for (let t = 0; t < S; t++) {
        if (t < own) {
          ids[b * S + t] = BigInt(r.ids[p + t]);
          mask[b * S + t] = 1n;
          positions[b * S + t] = BigInt(p + t);
        }
        // Query t sees the row's real prefix and suffix tokens up to itself (padding queries too, so no row is all masked).
        const base = (b * S + t) * total;
        bias.fill(0, base, base + p);
        bias.fill(0, base + P, base + P + t + 1);
      }
      maskIndex[b] = BigInt(b * S + (r.maskPos - p));
    });
    const { heads, headDim } = this;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      attention_mask: new ort.Tensor('int64', mask, [B, S]),
      [POSITION_IDS]: new ort.Tensor('int64', positions, [B, S]),
      [ATTENTION_BIAS]: new ort.Tensor('float32', bias, [B, 1, S, total]),
      mask_index: new ort.Tensor('int64', maskIndex, [B]),
      label_ids: new ort.Tensor('int64', BigInt64Array.from(labelIds.map(BigInt)), [labelIds.length]),
    };
    for (const [name, data] of this.pastFeeds(kvs, P))
      feeds[name] = new ort.Tensor('float32', data, [B, heads, P, headDim]);
    this.stats.suffixRows += B;
    return logProbs ? runLabelLogProbs(await this.suffixLogProbs.get(), feeds) : runLabelLogits(this.suffix, feeds);
  }

  /**
   * The batch's `past_key_<l>` / `past_value_<l>` data [B, heads, P, headDim], zero beyond each
   * row's prefix. A search scores every candidate on the same examples in the same batches, so
   * assembled batches are kept too (in the same memory budget), keyed by their prefixes.
   */
  private pastFeeds(kvs: PrefixKV[], P: number): [string, Float32Array][] {
    const key = kvs.map((kv) => kv.id).join(' ');
    const hit = this.batches.get(key);
    if (hit) {
      this.batches.delete(key);
      this.batches.set(key, hit);
      return hit.feeds;
    }
    const { heads, headDim } = this;
    const feeds: [string, Float32Array][] = [];
    let bytes = 0;
    for (let l = 0; l < this.layers; l++) {
      for (const [name, field] of [
        [pastKey(l), 'keys'],
        [pastValue(l), 'values'],
      ] as const) {
        const past = new Float32Array(kvs.length * heads * P * headDim);
        kvs.forEach((kv, b) => {
          const p = kv.length;
          for (let h = 0; h < heads; h++)
            past.set(kv[field][l].subarray(h * p * headDim, (h + 1) * p * headDim), (b * heads + h) * P * headDim);
        });
        feeds.push([name, past]);
        bytes += past.byteLength;
      }
    }
    this.batches.set(key, { feeds, bytes });
    this.batchBytes += bytes;
    for (const [k, old] of this.batches) {
      if (this.batchBytes <= this.cacheLimitBytes / 2 || this.batches.size <= 1) break;
      this.batches.delete(k);
      this.batchBytes -= old.bytes;
    }
    return feeds;
  }

  /** Forgets every cached prefix (benches time cold starts with it). */
  clearCache(): void {
    this.cache.clear();
    this.cachedBytes = 0;
    this.batches.clear();
    this.batchBytes = 0;
  }

  async dispose(): Promise<void> {
    this.clearCache();
    await this.prefix.release();
    await this.suffix.release();
    await this.suffixLogProbs.release();
    await this.whole.dispose();
  }
}
