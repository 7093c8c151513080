/**
 * promptsearch as a library. Apply an exported prompt:
 *
 *     const p = await loadPrompt('results/run/prompt.json');
 *     const [pred] = await p.classify(['a gorgeous, witty film']);
 *     await p.dispose();
 */
export { loadPrompt } from './prompt/applyPrompt';
export type { LoadPromptOptions, LoadedPrompt, Prediction, PromptInput } from './prompt/applyPrompt';
export { PROMPT_SCHEMA, PROMPT_VERSION, promptFileFromRun, readPromptFile, validatePromptFile } from './prompt/promptFile';
export type { PromptFile, PromptLabel } from './prompt/promptFile';
export { evaluateTemplate } from './scoring/evaluate';
export type { EvalReport, EvalRequest } from './scoring/evaluate';
export { runSearch } from './runner/run';
export type { BestResult, RunOptions } from './runner/run';
export { readConfig, validateConfig } from './runner/config';
export type { SearchConfig } from './runner/config';
export { UserError, isUserError } from './errors';
