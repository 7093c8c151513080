import { teardown } from './tmpRoot';

export default async function globalTeardown(): Promise<void> {
  await teardown();
  // The skipped tests' summary (test/setup/skipReporter.js), after jest's own.
  const skipped = (globalThis as { promptsearchSkipSummary?: string }).promptsearchSkipSummary;
  if (skipped) process.stderr.write(skipped);
}
