/**
 * After the search: choose the winner among the best train candidates on dev, fix its calibration
 * offsets, score it (and an optional ensemble of the best few) on test for the report.
 */
import { CalibrationMode, ensembleLogProbs, meanOffsets, mergeOffsets } from '../prompt/calibration';
import { ObjectiveName, judgeAll, summarize } from '../scoring/metrics';
import { Reading, SPLIT_TASK_ROWS } from '../scoring/scorer';
import { ScoreResult, ScoreTask, SplitName } from '../scoring/workerProtocol';
import { Candidate, Score, ScoredCandidate } from '../search/types';
import { scoreLogProbs } from './evaluator';
import { WordIds } from '../prompt/verbalizer';
import { faultPoint } from './faultPoint';

export const SELECTIONS = ['dev', 'train+dev'] as const;
export type SelectionRule = (typeof SELECTIONS)[number];

export type Decoded = { slots: Record<string, number[]>; labelIds: WordIds[][] };

export interface SelectionInput {
  /** Candidates scored on all of train, best train objective first. */
  ranked: ScoredCandidate[];
  topK: number;
  /** How many of the best selected candidates form the ensemble (1: no ensemble). */
  ensemble: number;
  rule: SelectionRule;
  objective: ObjectiveName;
  calibration: CalibrationMode;
  numLabels: number;
  trainSize: number;
  devLabels: number[];
  /** Test labels; undefined when the run has no test split. */
  testLabels?: number[];
  decode(c: Candidate): Decoded;
  score(task: ScoreTask): Promise<ScoreResult>;
  /**
   * Another reading of each member's filled prompt (its label-word readout member's words), asked for once
   * the member is chosen and scored in the same pass as its test rows (runner/templates.ts).
   */
  readoutReading?: (d: Decoded) => Promise<Reading>;
}

export interface Judged {
  candidate: ScoredCandidate;
  /** The offsets the prompt is applied with from now on (dev, test, the prompt file). */
  offsets?: number[];
  dev: Score;
  /** The value selection ranks by. */
  select: number;
}

export interface EnsembleOutcome {
  members: Judged[];
  devAccuracy: number;
  testAccuracy: number | null;
}

export interface SelectionOutcome {
  chosen: Judged;
  /** Every candidate scored on dev, in train rank order. */
  judged: Judged[];
  testAccuracy: number | null;
  /** Example evaluations charged (dev scoring; test is never charged). */
  evaluations: number;
  ensemble?: EnsembleOutcome;
  /** Raw label log-probabilities of the run's members (the ensemble's, else the chosen prompt) on dev and test. */
  memberScores: MemberScores[];
  /** The run's result's predicted label per test example (the ensemble's where there is one; undefined without a test split). */
  testPredicted?: number[];
}

/** One prompt's raw label log-probabilities per dev and test example (test absent without a test split; train where known). */
export interface MemberScores {
  train?: number[][];
  dev: number[][];
  test?: number[][];
  /** Its readout member's reading (`twinReading`: words, and a discriminant's readout) and its raw label log-probabilities on test. */
  readoutMember?: { reading: Reading; test: number[][] };
}

/** Label log-probabilities of a whole split, scored in tasks of SPLIT_TASK_ROWS rows (spread over the pool). */
export async function splitLogProbs(
  score: SelectionInput['score'],
  split: SplitName,
  n: number,
  d: Decoded,
): Promise<number[][]> {
  return (await splitReadings(score, split, n, d, []))[0];
}

/** splitLogProbs, then each of `readings` of the same rows from the same pass: [the prompt's, ...readings']. */
async function splitReadings(
  score: SelectionInput['score'],
  split: SplitName,
  n: number,
  d: Decoded,
  readings: Reading[],
): Promise<number[][][]> {
  const tasks: ScoreTask[] = [];
  for (let start = 0; start < n; start += SPLIT_TASK_ROWS)
    tasks.push({
      split,
      slots: d.slots,
      labelIds: d.labelIds,
      start,
      end: Math.min(n, start + SPLIT_TASK_ROWS),
      ...(readings.length ? { readings } : {}),
    });
  const results = await Promise.all(tasks.map((t) => score(t)));
  return [results.flatMap((r) => r.logProbs), ...readings.map((_, k) => results.flatMap((r) => r.readings![k]))];
}

/**
 * The offsets a chosen prompt keeps. `inputs`: the mean over train and dev inputs (the train
 * part is the candidate's recorded search offsets, so nothing is scored twice); `content-free`:
 * the candidate's own content-free offsets; `none`: no offsets.
 */
export function finalOffsets(
  mode: CalibrationMode,
  trainScore: Score,
  trainSize: number,
  devLogProbs: number[][],
  numLabels: number,
): number[] | undefined {
  if (mode === 'none') return undefined;
  if (mode === 'content-free') return trainScore.offsets;
  const dev = meanOffsets(devLogProbs, numLabels);
  return trainScore.offsets ? mergeOffsets(trainScore.offsets, trainSize, dev, devLogProbs.length) : dev;
}

export async function selectWinner(inp: SelectionInput): Promise<SelectionOutcome> {
  const top = inp.ranked.slice(0, inp.topK);
  const nDev = inp.devLabels.length;
  const devLp = await Promise.all(top.map((c) => splitLogProbs(inp.score, 'dev', nDev, inp.decode(c.candidate))));
  faultPoint('selection');
  const judged: Judged[] = top.map((c, i) => {
    const offsets = finalOffsets(inp.calibration, c.score, inp.trainSize, devLp[i], inp.numLabels);
    const dev = scoreLogProbs(devLp[i], inp.devLabels, inp.numLabels, inp.objective, offsets);
    // train+dev: both splits' objective, weighted by size: twice the examples behind the choice.
    const select =
      inp.rule === 'dev'
        ? dev.objective
        : (c.score.objective * inp.trainSize + dev.objective * nDev) / (inp.trainSize + nDev);
    return { candidate: c, offsets, dev, select };
  });
  // Stable: among equal selection values the better train rank wins.
  const order = judged.map((_, i) => i).sort((a, b) => judged[b].select - judged[a].select || a - b);
  const chosen = judged[order[0]];
  // The run's members: its ensemble's, or the chosen prompt alone.
  const ids = inp.ensemble > 1 && judged.length > 1 ? order.slice(0, inp.ensemble) : [order[0]];
  let testAccuracy: number | null = null;
  let testPredicted: number[] | undefined;
  const testLp = new Map<number, number[][]>();
  const readoutMembers = new Map<number, NonNullable<MemberScores['readoutMember']>>();
  const test = async (i: number) => {
    if (!testLp.has(i)) {
      const d = inp.decode(judged[i].candidate.candidate);
      const reading = inp.readoutReading && ids.includes(i) ? await inp.readoutReading(d) : undefined;
      const [lp, readoutMember] = await splitReadings(
        inp.score,
        'test',
        inp.testLabels!.length,
        d,
        reading ? [reading] : [],
      );
      testLp.set(i, lp);
      if (reading) readoutMembers.set(i, { reading, test: readoutMember });
    }
    return testLp.get(i)!;
  };
  if (inp.testLabels) {
    const judgedTest = judgeAll(await test(order[0]), inp.testLabels, chosen.offsets);
    faultPoint('test');
    testAccuracy = summarize(judgedTest, inp.numLabels).accuracy;
    testPredicted = judgedTest.map((e) => e.predicted);
  }
  let ensemble: EnsembleOutcome | undefined;
  if (ids.length > 1) {
    const members = ids.map((i) => judged[i]);
    const devScores = ensembleLogProbs(ids.map((i) => ({ logProbs: devLp[i], offsets: judged[i].offsets })));
    let ensTest: number | null = null;
    if (inp.testLabels) {
      const lps = [];
      for (const i of ids) lps.push({ logProbs: await test(i), offsets: judged[i].offsets });
      const judgedEns = judgeAll(ensembleLogProbs(lps), inp.testLabels, undefined);
      faultPoint('ensemble');
      ensTest = summarize(judgedEns, inp.numLabels).accuracy;
      // The run's result is the ensemble: its predictions are the ones test-predictions.json keeps.
      testPredicted = judgedEns.map((e) => e.predicted);
    }
    ensemble = {
      members,
      devAccuracy: accuracyOf(devScores, inp.devLabels, undefined, inp.numLabels),
      testAccuracy: ensTest,
    };
  }
  const memberScores = ids.map((i) => ({
    dev: devLp[i],
    ...(testLp.has(i) ? { test: testLp.get(i)! } : {}),
    ...(readoutMembers.has(i) ? { readoutMember: readoutMembers.get(i)! } : {}),
  }));
  return { chosen, judged, testAccuracy, evaluations: top.length * nDev, ensemble, memberScores, testPredicted };
}

function accuracyOf(logProbs: number[][], labels: number[], offsets: number[] | undefined, numLabels: number): number {
  return summarize(judgeAll(logProbs, labels, offsets), numLabels).accuracy;
}
