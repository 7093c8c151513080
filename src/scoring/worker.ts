/**
 * A scoring worker: loads the model once (from workerData), keeps every split tokenized, and
 * answers ScoreTasks. One task is one prompt on a fixed slice of examples, so how rows are
 * batched never depends on how many workers there are.
 */
import { workerData } from 'piscina';
import { loadModel, LoadedModel } from '../model/load';
import { CompiledTemplate, EncodedExample, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { promptReadings } from './scorer';
import { ScoreResult, ScoreTask, SplitName, WorkerInit } from './workerProtocol';

interface State {
  model: LoadedModel;
  ct: CompiledTemplate;
  splits: Partial<Record<SplitName, EncodedExample[]>>;
  init: WorkerInit;
}

let state: Promise<State> | undefined;

async function setup(init: WorkerInit): Promise<State> {
  const model = await loadModel({ model: init.model, dtype: init.dtype, scorer: init.scorer, prefixReuse: init.prefixReuse, threads: init.threads, activations: init.activations });
  const ct = compileTemplate(parseTemplate(init.template), model.tokenizer, init.textColumn, model.maxLength);
  const splits: State['splits'] = {};
  for (const [name, examples] of Object.entries(init.splits) as [SplitName, WorkerInit['splits']['train']][]) {
    splits[name] = examples!.map((ex) => encodeExample(ct, model.tokenizer, ex));
  }
  return { model, ct, splits, init };
}

export default async function score(task: ScoreTask): Promise<ScoreResult> {
  state ??= setup(workerData as WorkerInit);
  const s = await state;
  const examples = s.splits[task.split];
  if (!examples) throw new Error(`worker has no '${task.split}' split`);
  const rows = examples.slice(task.start, task.end);
  const [logProbs, ...readings] = await promptReadings(s.model.backend, s.ct, rows, task.slots, [{ labelIds: task.labelIds }, ...(task.readings ?? [])], s.init.batch);
  return task.readings ? { logProbs, readings } : { logProbs };
}
