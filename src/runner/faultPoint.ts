/**
 * Test-only fault injection: `PROMPTSEARCH_FAULT_AT=<phase>[:<n>]` makes the process SIGKILL
 * itself the n-th time (default 1) it reaches `phase`, so that the fault tests kill a run at a
 * fixed, known moment instead of a timed guess (test/faults.test.ts, docs/testing.md). Phases:
 * `candidate` (a batch of scored candidates written to candidates.jsonl; counted over every
 * template of a multi-template run), `selection` (the top candidates scored on dev, nothing
 * recorded yet), `test` (the selected prompt scored on test), `ensemble` (an ensemble's members
 * scored, its result not yet written). Unset, it does nothing. `<phase>[:<n>]:SIGTERM` (or
 * `:SIGINT`) sends that signal instead, as a user would at that moment: the run must stop there
 * and stay resumable (test/signals.test.ts).
 */
export type FaultPhase = 'candidate' | 'selection' | 'test' | 'ensemble';

const seen = new Map<FaultPhase, number>();

export function faultPoint(phase: FaultPhase): void {
  const at = process.env.PROMPTSEARCH_FAULT_AT;
  if (!at) return;
  const [name, ...rest] = at.split(':');
  if (name !== phase) return;
  const signal = rest.find((r) => r === 'SIGTERM' || r === 'SIGINT') as NodeJS.Signals | undefined;
  const n = rest.find((r) => /^\d+$/.test(r));
  const count = (seen.get(phase) ?? 0) + 1;
  seen.set(phase, count);
  if (count === Number(n ?? 1)) process.kill(process.pid, signal ?? 'SIGKILL');
}
