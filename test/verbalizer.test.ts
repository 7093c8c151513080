import { buildVerbalizer, parseVerbalizerSpec } from '../src/prompt/verbalizer';
import { editDistance } from '../src/model/tokenizer';
import { bertTokenizer, robertaTokenizer } from './helpers';

describe('verbalizer', () => {
  const tok = bertTokenizer();

  test('comma list and JSON forms', () => {
    expect(parseVerbalizerSpec('terrible, great', 2)).toEqual([['terrible'], ['great']]);
    expect(parseVerbalizerSpec('{"0": ["terrible", "awful"], "1": "great"}', 2)).toEqual([
      ['terrible', 'awful'],
      ['great'],
    ]);
    const v = buildVerbalizer([['terrible', 'awful'], ['great']], tok);
    expect(v.ids[0]).toHaveLength(2);
  });

  test('count mismatch, bad JSON, unknown label key', () => {
    expect(() => parseVerbalizerSpec('bad,okay,good', 2)).toThrow(/3 label word\(s\) but the data has 2 labels/);
    expect(() => parseVerbalizerSpec('{"0": "bad"', 2)).toThrow(/invalid JSON/);
    expect(() => parseVerbalizerSpec('{"0": "bad", "7": "good"}', 2)).toThrow(/key '7' is not a label/);
    expect(() => parseVerbalizerSpec('{"0": "bad"}', 2)).toThrow(/no label word for label 1/);
  });

  test('a word that is not one token is refused with close single-token suggestions', () => {
    let msg = '';
    try {
      buildVerbalizer([['terrible'], ['greatt']], tok);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/label word 'greatt' is not a single token/);
    expect(msg).toMatch(/close single-token words: .*great/);
  });

  test('BPE: a word split into pieces is refused too', () => {
    expect(() => buildVerbalizer([['awful'], ['supercalifragilistic']], robertaTokenizer())).toThrow(
      /not a single token/,
    );
  });

  test('the same word for two labels is refused', () => {
    expect(() => buildVerbalizer([['good'], ['good']], tok)).toThrow(/used for label 0 and label 1/);
  });

  test('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'ab')).toBe(2);
  });
});
