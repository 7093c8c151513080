/** Issue 31: bad prompt inputs (mistyped slots, empty or special fills, label words, prompt files, suite names) get one line, exit 2, nothing written. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseTemplate } from '../src/prompt/template';
import { parseSearchConfig } from '../src/runner/schema';
import { CLI } from './helpers';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-input-'));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: root });
  return { status: r.status, stderr: r.stderr };
}

describe('a mistyped slot is refused, naming the syntax', () => {
  test.each(['<A: 2>', '<A:x>', '<A 2>', '< A:2>', '<A:2', '<:2>', '<A:2.5>', '<A:-1>'])('%s', (slot) => {
    expect(() => parseTemplate(`{x} ${slot} [MASK] .`)).toThrow(/is not a slot; write a slot as <NAME:LENGTH>, e\.g\. <A:2>/);
  });
  test.each(['{x} a < b [MASK] .', '{x} <3 [MASK] .', '{x} </b> [MASK] .', '{x} 1<2 [MASK] .'])('literal text %s is kept', (t) => {
    expect(parseTemplate(t).slots).toEqual([]);
  });
  test('a config names its file and the templates entry', () => {
    const base = { task: 'sst-2', verbalizer: 'terrible,great' };
    expect(() => parseSearchConfig({ ...base, template: '{x} <A: 2> [MASK] .' }, '/x/c.json')).toThrow(/^\/x\/c\.json: template '\{x\} <A: 2> \[MASK\] \.': '<A: 2>' is not a slot/);
    expect(() => parseSearchConfig({ ...base, templates: ['{x} <A:2> [MASK] .', '[MASK] <B:x> {x}'] }, '/x/c.json')).toThrow(/^\/x\/c\.json: templates\[1\]: template .*'<B:x>' is not a slot/);
  });
  test('search: one line, exit 2, no run directory', () => {
    const config = path.join(root, 'typo.json');
    fs.writeFileSync(config, JSON.stringify({ version: 2, task: 'sst-2', template: '{x} <A: 2> [MASK] .', verbalizer: 'terrible,great', budget: 200, workers: 1 }));
    const out = path.join(root, 'typo-run');
    const r = cli(['search', config, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^promptsearch: .*typo\.json: template .*'<A: 2>' is not a slot; write a slot as <NAME:LENGTH>.*\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
