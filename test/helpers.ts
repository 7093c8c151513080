import * as path from 'path';
import { resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export function bertTokenizer(): PromptTokenizer {
  return PromptTokenizer.fromFolder(resolveModel('bert-mini-imdb-uncased', 'fp32'));
}
export function robertaTokenizer(): PromptTokenizer {
  return PromptTokenizer.fromFolder(resolveModel('roberta-mini-imdb', 'fp32'));
}
