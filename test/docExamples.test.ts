/**
 * Every `sh test` block of README.md and docs/*.md runs as written (test/docExamples.ts says how),
 * so an example that stops working fails CI. Uses the built dist/ (`npm run build`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, ShellBlock, docShellBlocks, findShellBlocks, runBlocks, scratchFolder } from './docExamples';

// Per block: the examples use tiny budgets, but CI has 2 cores shared with other tests.
const BLOCK_TIMEOUT_MS = 8 * 60_000;
const byFile = docShellBlocks();

describe('doc examples', () => {
  test('README.md and docs/*.md have `sh test` examples (none would test nothing)', () => {
    expect([...byFile.values()].flat().length).toBeGreaterThan(0);
  });

  const files = [...byFile.entries()];
  if (files.length) {
    test.each(files)(
      '%s: its `sh test` examples run',
      async (_file, blocks) => {
        const { dir, env } = scratchFolder();
        await runBlocks(blocks, dir, env, BLOCK_TIMEOUT_MS);
      },
      BLOCK_TIMEOUT_MS * Math.max(...files.map(([, b]) => b.length)) + 60_000,
    );
  }
});

describe('doc example harness', () => {
  const md = [
    '# Title',
    '',
    '```sh',
    'echo shown, not run',
    '```',
    '',
    '```sh test',
    'echo one > made.txt',
    'promptsearch --help | head -1',
    '```',
    '',
    '~~~~sh test',
    'grep -q one made.txt',
    "cat > note.md <<'EOF'",
    '```',
    'EOF',
    '~~~~',
    '',
    '```sh testing',
    'echo not exactly sh test',
    '```',
    '',
    '```sh test',
    'echo "to stderr" >&2',
    'false | cat',
    'echo not reached',
    '```',
  ].join('\n');

  test('finds exactly the `sh test` blocks, with their lines', () => {
    const blocks = findShellBlocks(md, 'fixture.md');
    expect(blocks.map((b) => b.line)).toEqual([7, 12, 23]);
    // A fence of fewer backticks inside a ~~~~ block is its text.
    expect(blocks[1].code).toBe("grep -q one made.txt\ncat > note.md <<'EOF'\n```\nEOF\n");
  });

  test('runs a file`s blocks in order in one folder, with promptsearch on PATH; a failing block fails naming file, line and stderr', async () => {
    const blocks = findShellBlocks(md, 'fixture.md');
    const { dir, env } = scratchFolder();
    for (const d of ['datasets', 'searches', 'models'])
      expect(fs.realpathSync(path.join(dir, d))).toBe(fs.realpathSync(path.join(ROOT, d)));
    const ok = await runBlocks(blocks.slice(0, 2), dir, env, 60_000);
    expect(ok[0].stdout).toContain('promptsearch <command>');
    // pipefail: `false | cat` fails the block.
    await expect(runBlocks(blocks, dir, env, 60_000)).rejects.toThrow(
      /^fixture\.md:23: the `sh test` example exited with 1\nstderr \(last lines\):\nto stderr$/,
    );
  });

  test('npx promptsearch and require("promptsearch") reach this checkout', async () => {
    const { dir, env } = scratchFolder();
    const block: ShellBlock = {
      file: 'x.md',
      line: 1,
      code: 'npx promptsearch --version\nnode -e "console.log(typeof require(\'promptsearch\').loadPrompt)"\n',
    };
    const [r] = await runBlocks([block], dir, env, 60_000);
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    expect(r.stdout).toBe(`${version}\nfunction\n`);
  });

  test('a block that runs too long fails naming its limit', async () => {
    const { dir, env } = scratchFolder();
    const t0 = Date.now();
    await expect(runBlocks([{ file: 'slow.md', line: 3, code: 'sleep 30 &\nwait\n' }], dir, env, 500)).rejects.toThrow(
      /^slow\.md:3: the `sh test` example did not finish in 1 s/,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
