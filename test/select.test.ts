import { loadExamples } from '../src/data/load';
import { loadModel } from '../src/model/load';
import { compileTemplate, encodeExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { SPLIT_TASK_ROWS, promptReading, promptReadings } from '../src/scoring/scorer';
import { ScoreResult, ScoreTask } from '../src/scoring/workerProtocol';
import { Decoded, SelectionInput, selectWinner } from '../src/runner/select';
import { Score, ScoredCandidate } from '../src/search/types';

/** A made-up but deterministic log-probability per (slot fill, label words, example). */
function fakeLogProbs(slots: Record<string, number[]>, labelIds: unknown, start: number, end: number): number[][] {
  const seed = JSON.stringify([slots, labelIds]).length;
  return Array.from({ length: end - start }, (_, i) => {
    const a = Math.sin(seed * 7 + (start + i) * 1.3);
    return [Math.log(0.5 + a / 4), Math.log(0.5 - a / 4)];
  });
}

describe('selectWinner with a readoutMember reading', () => {
  const nTest = 2 * SPLIT_TASK_ROWS + 17;
  const score0: Score = { accuracy: 0.5, margin: 0, logLikelihood: -0.7, reward: 0, objective: -0.7 };
  const ranked: ScoredCandidate[] = [0, 1, 2].map((k) => ({
    candidate: { tokens: [[100 + k]] },
    score: { ...score0, objective: -0.7 - k / 10 },
  }));
  const decode = (c: { tokens: number[][] }): Decoded => ({ slots: { A: c.tokens[0] }, labelIds: [[1], [2]] });

  async function select(ensemble: number, readoutMembers: boolean) {
    const tasks: ScoreTask[] = [];
    const asked: Decoded[] = [];
    const inp: SelectionInput = {
      ranked,
      topK: 3,
      ensemble,
      rule: 'dev',
      objective: 'ce',
      calibration: 'inputs',
      numLabels: 2,
      trainSize: 32,
      devLabels: Array.from({ length: 32 }, (_, i) => i % 2),
      testLabels: Array.from({ length: nTest }, (_, i) => i % 2),
      decode,
      async score(t: ScoreTask): Promise<ScoreResult> {
        tasks.push(t);
        return {
          logProbs: fakeLogProbs(t.slots, t.labelIds, t.start, t.end),
          ...(t.readings ? { readings: t.readings.map((r) => fakeLogProbs(t.slots, r.labelIds, t.start, t.end)) } : {}),
        };
      },
      ...(readoutMembers
        ? {
            readoutReading: async (d: Decoded) => {
              asked.push(d);
              return {
                labelIds: [
                  [10 + d.slots.A[0], 11],
                  [12, 13],
                ],
                labelScore: 'mean' as const,
              };
            },
          }
        : {}),
    };
    return { out: await selectWinner(inp), tasks, asked };
  }

  test("each member's test rows are scored once, its readoutMember's words read in the same tasks", async () => {
    const { out, tasks, asked } = await select(2, true);
    const testTasks = tasks.filter((t) => t.split === 'test');
    // Two members, each its test split in ceil(n / SPLIT_TASK_ROWS) tasks, and no other test pass.
    expect(testTasks).toHaveLength(2 * 3);
    expect(testTasks.every((t) => t.readings?.length === 1 && t.readings[0].labelScore === 'mean')).toBe(true);
    expect(asked.map((d) => d.slots.A[0])).toEqual(
      out.ensemble!.members.map((m) => m.candidate.candidate.tokens[0][0]),
    );
    out.memberScores.forEach((ms, k) => {
      const slots = asked[k].slots;
      expect(ms.readoutMember!.reading.labelIds).toEqual([
        [10 + slots.A[0], 11],
        [12, 13],
      ]);
      // The readout member's test log-probabilities: what a pass of its own with its words would give.
      expect(ms.readoutMember!.test).toEqual(fakeLogProbs(slots, ms.readoutMember!.reading.labelIds, 0, nTest));
      expect(ms.test).toEqual(fakeLogProbs(slots, [[1], [2]], 0, nTest));
    });
  });

  test('only the run members get a readoutMember (the chosen prompt alone without an ensemble); none without the hook', async () => {
    const one = await select(1, true);
    expect(one.asked).toHaveLength(1);
    expect(one.out.memberScores).toHaveLength(1);
    expect(one.out.memberScores[0].readoutMember).toBeDefined();
    const none = await select(2, false);
    expect(none.tasks.some((t) => t.readings)).toBe(false);
    expect(none.out.memberScores.every((ms) => ms.readoutMember === undefined)).toBe(true);
    // The selection itself does not change with the readout members.
    expect(none.out.chosen.candidate).toBe((await select(2, true)).out.chosen.candidate);
  });
});

describe('promptReadings', () => {
  test('several readings in one pass equal a pass per reading, bit for bit (shared and distinct words, both label scores)', async () => {
    const m = await loadModel({ dtype: 'int8', threads: 1 });
    try {
      const data = loadExamples({ task: 'sst-2' }, 'test');
      const ct = compileTemplate(parseTemplate('{x} it was [MASK] .'), m.tokenizer, data.textColumn, m.maxLength);
      const examples = data.examples.slice(0, 96).map((ex) => encodeExample(ct, m.tokenizer, ex));
      const id = (w: string) => m.tokenizer.labelWordId(w);
      const readings = [
        { labelIds: [[id('terrible'), id('awful')], [id('great')]] },
        {
          labelIds: [
            [id('awful'), id('bad'), id('boring')],
            [id('good'), id('great'), id('fun')],
          ],
          labelScore: 'mean' as const,
        },
      ];
      const together = await promptReadings(m.backend, ct, examples, {}, readings);
      for (const [k, r] of readings.entries())
        expect(together[k]).toEqual(await promptReading(m.backend, ct, examples, {}, r));
      expect(together[0]).not.toEqual(together[1]);
    } finally {
      await m.dispose();
    }
  });
});
