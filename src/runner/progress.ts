/**
 * Progress for the terminal, used by the CLI (library code reports through callbacks): on a TTY
 * a one-line bar with ETA redrawn in place; otherwise (logs, CI) a plain line every few seconds.
 */
export class ProgressBar {
  private readonly start = Date.now();
  private last = 0;
  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    private readonly tty = !!process.stderr.isTTY,
    /** Without a TTY: seconds between two lines. */
    private readonly every = 5,
  ) {}

  /** `etaSeconds`: the caller's own estimate (default: from the elapsed time and the fraction done). */
  update(done: number, status: string, total = this.total, etaSeconds?: number | null): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 200 : this.every * 1000) && done < total) return;
    this.last = now;
    const frac = Math.min(1, done / total);
    const elapsed = (now - this.start) / 1000;
    const eta = etaSeconds !== undefined ? (etaSeconds ?? NaN) : frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
    const count = `${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`;
    if (!this.tty) {
      this.stream.write(`progress: ${count} ${status}  ETA ${formatSeconds(eta)}\n`);
      return;
    }
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    this.stream.write(`\r[${bar}] ${count} ${status}  ETA ${formatSeconds(eta)} `);
  }

  done(): void {
    if (this.tty && this.last > 0) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
