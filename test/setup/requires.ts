/**
 * Tests that need something this machine may lack (a Redis, Chromium, root for a tmpfs): without
 * it they are reported by jest as skipped, with the reason in their name (`[skipped: ...]`, which
 * test/setup/skipReporter.js sums up loudly at the end of the run), never green without asserting.
 * With PROMPTSEARCH_REQUIRE_ALL=1 (.ci/run sets it) a missing Redis or Chromium fails the test
 * instead; what CI may lack for good reasons (root, for the tmpfs of the disk-full test) stays a
 * skip there (`{ ci: 'may-skip' }`).
 */
export const REQUIRE_ALL = process.env.PROMPTSEARCH_REQUIRE_ALL === '1';

/** The marker the skip reporter looks for in a skipped test's (or its describe block's) name. */
export const skipMarker = (reason: string) => `[skipped: ${reason}]`;

/** `test` when `reason` is undefined (the requirement is met); else a skipped test named with the reason, or (REQUIRE_ALL, unless it may skip in CI) a failing one. */
export function testIf(reason: string | undefined, opts: { ci?: 'required' | 'may-skip' } = {}): jest.It {
  if (reason === undefined) return test;
  const named = ((name: string, ...rest: unknown[]) => {
    if (REQUIRE_ALL && opts.ci !== 'may-skip')
      return test(`${name} (required: PROMPTSEARCH_REQUIRE_ALL=1)`, () => {
        throw new Error(`cannot run: ${reason}`);
      });
    return (test.skip as (n: string, ...r: unknown[]) => void)(`${name} ${skipMarker(reason)}`, ...rest);
  }) as unknown as jest.It;
  return named;
}

/** `describe` when `reason` is undefined; else a skipped block named with the reason, or (REQUIRE_ALL) a block holding one failing test. */
export function describeIf(reason: string | undefined): jest.Describe {
  if (reason === undefined) return describe;
  const named = ((name: string, body: () => void) => {
    if (REQUIRE_ALL)
      return describe(name, () =>
        test('its requirement (PROMPTSEARCH_REQUIRE_ALL=1)', () => {
          throw new Error(`cannot run: ${reason}`);
        }),
      );
    return describe.skip(`${name} ${skipMarker(reason)}`, body);
  }) as unknown as jest.Describe;
  return named;
}
