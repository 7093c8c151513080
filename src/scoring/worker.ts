/**
 * A scoring worker: loads the model once (from workerData), keeps every split tokenized for each
 * template it was asked for, and answers ScoreTasks. One task is one prompt on a fixed slice of
 * examples, so how rows are batched never depends on how many workers there are.
 */
import { workerData } from 'piscina';
import { StoppedError } from '../errors';
import { loadModel, LoadedModel } from '../model/load';
import { CompiledTemplate, EncodedExample, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { promptReadings } from './scorer';
import { ScoreReply, ScoreResult, ScoreTask, SplitName, WorkerInit, failureOf } from './workerProtocol';

interface Compiled {
  ct: CompiledTemplate;
  splits: Partial<Record<SplitName, EncodedExample[]>>;
}

interface State {
  model: LoadedModel;
  init: WorkerInit;
  /** By template text: compiled, with every split tokenized for it. */
  templates: Map<string, Compiled>;
}

let state: Promise<State> | undefined;

/** Throws a StoppedError once the pool was asked to stop (WorkerInit.stop). */
function checkStop(init: WorkerInit): void {
  if (init.stop && Atomics.load(init.stop, 0) !== 0) throw new StoppedError('stopped');
}

async function setup(init: WorkerInit): Promise<State> {
  checkStop(init);
  const model = await loadModel({
    model: init.model,
    dtype: init.dtype,
    scorer: init.scorer,
    prefixReuse: init.prefixReuse,
    threads: init.threads,
    activations: init.activations,
  });
  const s: State = { model, init, templates: new Map() };
  try {
    checkStop(init);
  } catch (e) {
    await model.dispose();
    throw e;
  }
  compiled(s, init.template);
  return s;
}

function compiled(s: State, template: string): Compiled {
  let c = s.templates.get(template);
  if (!c) {
    const ct = compileTemplate(parseTemplate(template), s.model.tokenizer, s.init.textColumn, s.model.maxLength);
    const splits: Compiled['splits'] = {};
    for (const [name, examples] of Object.entries(s.init.splits) as [SplitName, WorkerInit['splits']['train']][]) {
      splits[name] = examples!.map((ex) => encodeExample(ct, s.model.tokenizer, ex));
    }
    c = { ct, splits };
    s.templates.set(template, c);
  }
  return c;
}

/** Answers a task; a UserError (a template the tokenizer cannot encode, a missing column) comes back as a WorkerFailure, keeping its class. */
export default async function score(task: ScoreTask): Promise<ScoreReply> {
  try {
    return await scoreTask(task);
  } catch (e) {
    const failure = failureOf(e);
    if (failure) return failure;
    throw e;
  }
}

async function scoreTask(task: ScoreTask): Promise<ScoreResult> {
  checkStop(workerData as WorkerInit);
  state ??= setup(workerData as WorkerInit);
  const s = await state;
  const { ct, splits } = compiled(s, task.template ?? s.init.template);
  const examples = splits[task.split];
  if (!examples) throw new Error(`worker has no '${task.split}' split`);
  const rows = examples.slice(task.start, task.end);
  const [logProbs, ...readings] = await promptReadings(
    s.model.backend,
    ct,
    rows,
    task.slots,
    [{ labelIds: task.labelIds }, ...(task.readings ?? [])],
    s.init.batch,
  );
  return task.readings ? { logProbs, readings } : { logProbs };
}
