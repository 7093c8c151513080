/**
 * promptsearch installs like a library: the packed tarball goes into a fresh project without
 * internet, with exactly the steps of docs/install.md, and its example runs there as written.
 * Uses the built dist/ (`npm run build`) and npm's cache (.ci/run fills it for this test).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, ShellBlock, findFencedBlocks, runBlock, blockFailure } from './docExamples';

const INSTALL_DOC = 'docs/install.md';
const STEP_TIMEOUT_MS = 8 * 60_000;

/** No network: any request npm (or onnxruntime-node's install script) makes goes to a closed port and fails. */
const OFFLINE_ENV: NodeJS.ProcessEnv = {
  npm_config_proxy: 'http://127.0.0.1:9',
  npm_config_https_proxy: 'http://127.0.0.1:9',
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  GLOBAL_AGENT_HTTP_PROXY: 'http://127.0.0.1:9',
  NO_PROXY: '',
  no_proxy: '',
};

/** docs/install.md's steps up to "From a clone": the pack step (in the clone), then the steps a user types in one shell after it. */
function installSteps(): { pack: ShellBlock; session: ShellBlock[] } {
  const md = fs.readFileSync(path.join(ROOT, INSTALL_DOC), 'utf8');
  const end = md.indexOf('\n## From a clone');
  const blocks = findFencedBlocks(end < 0 ? md : md.slice(0, end), INSTALL_DOC).filter(
    (b) => b.info === 'sh' || b.info === 'sh test',
  );
  return { pack: blocks[0], session: blocks.slice(1) };
}

function npxHelp(cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return spawnSync('npx', ['promptsearch', '--help'], { cwd, env, encoding: 'utf8', timeout: 120_000 });
}

describe('install like a library', () => {
  test('npx promptsearch in the repository prints no npm warning', () => {
    const r = npxHelp(ROOT);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    expect(r.stdout).toContain('promptsearch <command>');
    expect(r.stderr).not.toMatch(/npm warn/i);
  });

  test('the build leaves the bin executable: npx reuses its cached link to a fresh clone without chmod-ing it again', () => {
    // npx keys its cache on the clone's path; when a clone is made again at that path, the link
    // is reused and a 0644 main.js gives "sh: promptsearch: Permission denied" (exit 127).
    expect(fs.statSync(path.join(ROOT, 'dist/cli/main.js')).mode & 0o111).toBe(0o111);
  });

  test(
    'the packed tarball installs offline into a fresh project with docs/install.md`s steps, and its example runs there',
    async () => {
      const { pack, session } = installSteps();
      // The pack step as documented; the test packs without `prepare` (the run's dist/ is already
      // built, and rebuilding it would pull it from under the tests running beside this one).
      expect(pack.code).toBe('cd promptsearch\nnpm pack\n');
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-'));
      const clone = path.join(tmp, 'promptsearch');
      fs.mkdirSync(clone);
      const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', clone], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: STEP_TIMEOUT_MS,
        maxBuffer: 64 << 20,
      });
      expect(packed.stderr).not.toMatch(/npm warn/i);
      expect(packed.status).toBe(0);
      const [info] = JSON.parse(packed.stdout) as { filename: string; size: number; files: { path: string }[] }[];
      const files = info.files.map((f) => f.path);
      // What the library needs at run time, and nothing of the repository's own work.
      for (const f of [
        'dist/index.js',
        'dist/cli/main.js',
        'models/bert-mini-imdb-uncased/tokenizer.json',
        'datasets/16-shot/sst-2/16-13/train.tsv',
        'searches/sst2-beam.json',
      ])
        expect(files).toContain(f);
      expect(files.filter((f) => /^(src|test|results|\.ci)\//.test(f))).toEqual([]);
      expect(info.size).toBeLessThan(150e6);
      // The tarball the documented install names is the one npm pack wrote.
      const named = /\.\.\/promptsearch\/(promptsearch-[^\s]+\.tgz)/.exec(session.map((b) => b.code).join(''));
      expect(named?.[1]).toBe(info.filename);

      // The documented steps after packing, typed in one shell that starts in the clone, with no network.
      const script = [
        'trap \'echo "$__where: the step failed" >&2\' ERR',
        ...session.map((b) => `__where=${b.file}:${b.line}\n${b.code}`),
      ].join('\n');
      const env = { ...process.env, ...OFFLINE_ENV };
      const r = await runBlock({ file: INSTALL_DOC, line: session[0].line, code: script }, clone, env, STEP_TIMEOUT_MS);
      if (r.timedOut || r.code !== 0) {
        const hint = /ENOTCACHED/.test(r.stderr)
          ? "\n(npm's cache lacks a dependency of promptsearch: .ci/run fills it once, online, before the tests)"
          : '';
        throw new Error(blockFailure(r, STEP_TIMEOUT_MS, 'the install steps') + hint);
      }
      const project = path.join(tmp, 'my-classifier');
      // A real install (files, not a link to the checkout), whose example classified both sentences.
      expect(fs.lstatSync(path.join(project, 'node_modules', 'promptsearch')).isSymbolicLink()).toBe(false);
      expect(r.stdout).toMatch(/^prompt: .*\(dev accuracy [\d.]+\)$/m);
      expect(r.stdout).toMatch(/^(positive|negative) [\d.]+ a gorgeous, witty film$/m);
      expect(r.stdout).toMatch(/^(positive|negative) [\d.]+ a tedious, joyless mess$/m);
      const help = npxHelp(project, env);
      expect(help.status).toBe(0);
      expect(help.stderr).not.toMatch(/npm warn/i);
      // The steps' own limits fail first, naming the step.
    },
    3 * STEP_TIMEOUT_MS,
  );
});
