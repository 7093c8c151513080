/**
 * One temporary root for a whole test run: every test (and every process it spawns) creates its
 * temp directories under it through os.tmpdir(), and the root is removed when the run ends, so
 * model, CLI and fault tests leave nothing behind in the system's temp directory.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const KEY = 'PROMPTSEARCH_TEST_TMP_ROOT';

export async function setup(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'promptsearch-test-'));
  // Like /tmp itself: the fault tests run the CLI as an unprivileged user, which must reach its
  // files here and create temp directories of its own (mkdtemp's 0700 would lock it out).
  fs.chmodSync(root, 0o1777);
  process.env[KEY] = root;
  // Jest forks its workers after global setup with this process's environment.
  process.env.TMPDIR = root;
}

export async function teardown(): Promise<void> {
  const root = process.env[KEY];
  if (root) fs.rmSync(root, { recursive: true, force: true });
}
