import { loadTaskSplit } from '../src/data/tasks';
import { buildRow, compileTemplate, encodeExample, truncateLengths } from '../src/prompt/encode';
import { tokenizeFill } from '../src/prompt/fill';
import { parseTemplate } from '../src/prompt/template';
import { bertTokenizer, robertaTokenizer } from './helpers';

describe('truncation', () => {
  test('cuts the longest input first and only inputs', () => {
    expect(truncateLengths([10, 3], 8)).toEqual([5, 3]);
    expect(truncateLengths([4, 4], 6)).toEqual([3, 3]);
    expect(truncateLengths([4], 10)).toEqual([4]);
  });

  test('a too-long input is cut inside the input; mask, slots and fixed text survive', () => {
    const tok = bertTokenizer();
    const t = parseTemplate('{x} <A:2> [MASK] .');
    const ct = compileTemplate(t, tok, 'sentence', 16);
    const ex = encodeExample(ct, tok, { fields: { sentence: 'word '.repeat(100) }, label: 0 });
    const slots = tokenizeFill(t, tok, { A: 'it was' });
    const row = buildRow(ct, ex, slots);
    expect(row.ids.length).toBe(16);
    expect(row.ids[row.maskPos]).toBe(tok.special.mask);
    expect(row.ids.slice(-5)).toEqual([...slots.A, tok.special.mask, ...tok.encode('.'), ...tok.special.suffix]);
    expect(row.ids[0]).toBe(tok.special.prefix[0]);
    expect(row.slotPos).toEqual([row.maskPos - 2, row.maskPos - 1]);
  });
});

/** Piecewise assembly must equal what the tokenizer gives the whole prompt string. */
describe.each([
  ['WordPiece (BERT)', bertTokenizer, '{x} it was [MASK] .', '[MASK]'],
  ['byte-level BPE (RoBERTa)', robertaTokenizer, '{x} It was [MASK].', '<mask>'],
])('%s tokenization', (_name, make, template, maskText) => {
  const tok = make();
  const t = parseTemplate(template);
  const ct = compileTemplate(t, tok, 'sentence', 128);
  const examples = loadTaskSplit('sst-2', 'test', 13).slice(0, 200);

  test('rows equal full-string tokenization', () => {
    for (const ex of examples) {
      const row = buildRow(ct, encodeExample(ct, tok, ex), {});
      const full = tok.encodeWithSpecials(template.replace('{x}', ex.fields.sentence).replace('[MASK]', maskText));
      expect(row.ids).toEqual(full);
      expect(row.ids[row.maskPos]).toBe(tok.special.mask);
    }
  });
});

describe('special tokens and word tokens', () => {
  test('BERT: [CLS]/[SEP], ## pieces are not word starts', () => {
    const tok = bertTokenizer();
    expect(tok.family).toBe('wordpiece');
    expect(tok.special).toMatchObject({ mask: 4, pad: 0, prefix: [2], suffix: [3] });
    const piece = tok.encode('zxqvbnmwk').find((id) => tok.token(id).startsWith('##'));
    expect(piece).toBeDefined();
    expect(tok.isWordStart(piece!)).toBe(false);
    expect(tok.isWholeWord(tok.labelWordId('great'))).toBe(true);
  });

  test('RoBERTa: <s>/</s>, label words are the token after a space', () => {
    const tok = robertaTokenizer();
    expect(tok.family).toBe('bpe');
    expect(tok.special).toMatchObject({ mask: 4, pad: 1, prefix: [0], suffix: [2] });
    expect(tok.labelWordId('awful')).toBe(1735);
    expect(tok.labelWordId('wonderful')).toBe(1774);
    expect(tok.token(1735)).toBe('Ġawful');
  });
});
