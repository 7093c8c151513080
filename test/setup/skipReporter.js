/**
 * A jest reporter: at the end of the run, one loud block listing the tests skipped for a missing
 * requirement (named `[skipped: REASON]` by test/setup/requires.ts), counted per reason, e.g.
 * `SKIPPED: 2 tests (no PROMPTSEARCH_TEST_REDIS ...), 2 tests (no chromium ...)`. Tests filtered
 * out with -t or a path are not counted: they carry no marker. Jest's summary comes after every
 * reporter, so the block is kept for test/setup/globalTeardown.ts, which runs last and prints it.
 */
class SkipReporter {
  onRunComplete(_contexts, results) {
    const counts = new Map();
    for (const file of results.testResults) {
      for (const t of file.testResults) {
        if (t.status !== 'pending' && t.status !== 'skipped') continue;
        const m = /\[skipped: ([^\]]+)\]/.exec([...t.ancestorTitles, t.title].join(' '));
        if (m) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
      }
    }
    if (counts.size === 0) return;
    const parts = [...counts].map(([reason, n]) => `${n} test${n === 1 ? '' : 's'} (${reason})`);
    const bar = '!'.repeat(72);
    globalThis.promptsearchSkipSummary = `\n${bar}\nSKIPPED: ${parts.join(', ')}\nThese were not checked; .ci/run provides all of them (docs/testing.md).\n${bar}\n`;
  }
}
module.exports = SkipReporter;
