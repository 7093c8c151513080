import { parseTemplate, renderTemplate } from '../src/prompt/template';

describe('parseTemplate', () => {
  test('splits input, slots, mask and fixed text with their spacing', () => {
    const t = parseTemplate('{x} <A:2> [MASK] <B:1> .');
    expect(t.inputs).toEqual(['x']);
    expect(t.slots).toEqual([
      { name: 'A', length: 2 },
      { name: 'B', length: 1 },
    ]);
    expect(t.parts.map((p) => p.kind)).toEqual(['input', 'slot', 'mask', 'slot', 'text']);
    expect(t.parts.map((p) => p.spaceBefore)).toEqual([false, true, true, true, true]);
  });

  test('named columns and text glued to a field', () => {
    const t = parseTemplate('[MASK] news:{text}!');
    expect(t.inputs).toEqual(['text']);
    expect(t.parts).toEqual([
      { kind: 'mask', spaceBefore: false },
      { kind: 'text', text: 'news:', spaceBefore: true },
      { kind: 'input', field: 'text', spaceBefore: false },
      { kind: 'text', text: '!', spaceBefore: false },
    ]);
  });

  test.each([
    ['{x} it was .', /no \[MASK\]/],
    ['{x} [MASK] and [MASK]', /2 \[MASK\]s/],
    ['it was [MASK] .', /no input field/],
    ['{x} <A> [MASK]', /needs a length/],
    ['{x} <A:0> [MASK]', /between 1 and 32/],
    ['{x} <A:1> [MASK] <A:2>', /twice/],
  ])('rejects %s', (src, msg) => {
    expect(() => parseTemplate(src)).toThrow(msg);
  });

  test('renders fillings', () => {
    expect(renderTemplate(parseTemplate('{x} <A:2> [MASK] .'), { A: 'it was' })).toBe('{x} it was [MASK] .');
  });
});
