/** A one-line progress bar with ETA on a TTY; silent otherwise (logs and CI stay clean). */
export class ProgressBar {
  private readonly start = Date.now();
  private last = 0;
  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = !!process.stderr.isTTY,
  ) {}

  update(done: number, status: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 200 && done < this.total) return;
    this.last = now;
    const frac = Math.min(1, done / this.total);
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
    this.stream.write(`\r[${bar}] ${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} evals  ${status}  ETA ${formatSeconds(eta)} `);
  }

  done(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
