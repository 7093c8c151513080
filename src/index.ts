/**
 * promptsearch as a library. Apply an exported prompt:
 *
 *     const p = await loadPrompt('results/run/prompt.json');
 *     const [pred] = await p.classify(['a gorgeous, witty film']);
 *     await p.dispose();
 */
export { loadPrompt } from './export/applyPrompt';
export type { LoadPromptOptions, LoadedPrompt, Prediction, PromptInput } from './export/applyPrompt';
export {
  PROMPT_SCHEMA,
  PROMPT_VERSION,
  promptFileFromRun,
  readPromptFile,
  validatePromptFile,
} from './export/promptFile';
export type { PromptFile, PromptLabel } from './export/promptFile';
export { evaluateTemplate } from './scoring/evaluate';
export type { EvalReport, EvalRequest } from './scoring/evaluate';
export { runSearch } from './runner/run';
export type { BestResult, RunOptions } from './runner/run';
export type { EnsembleMember, SelectedPrompt } from './runner/runDir';
export { readConfig, validateConfig } from './runner/config';
export type { SearchConfig } from './runner/config';
export { StoppedError, UserError, isUserError } from './errors';
