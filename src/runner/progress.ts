/**
 * Progress for the terminal, used by the CLI (library code reports through callbacks): on a TTY
 * a one-line bar with ETA redrawn in place; otherwise (logs, CI) a plain line every few seconds.
 * An ETA is shown only once a rate is known: measured from the first update on (the start-up
 * before it, model loading and candidate pools, is no part of the rate), over at least a few
 * seconds; before that it reads `ETA --`.
 */

/** What a search reports after each scored batch (RunOptions.onProgress). */
export interface SearchProgress {
  /** Example evaluations spent so far and the budget: the whole run's (on a run over several templates, every template's so far). */
  evaluations: number;
  budget: number;
  /** This search's own: its evaluations, its budget (a template's share of the run's) and its best so far. */
  search: {
    evaluations: number;
    budget: number;
    /**
     * The highest train accuracy among this search's candidates scored on the whole train split
     * so far (null: none yet). It never decreases within a search; the search itself ranks its
     * candidates by its objective, so the prompt it selects may score lower.
     */
    bestTrainAccuracy: number | null;
  };
  /** A run over several templates: which template this search is (0-based), of how many. */
  template?: { index: number; count: number };
}

/** Evaluations per second, measured from a reference point (the first observation, or the first after a restart). */
export class RateMeter {
  private ref?: { t: number; done: number };
  private perSecond?: number;
  /** `minSeconds`: how long after the reference point a rate is first believed. */
  constructor(private readonly minSeconds = 3) {}

  /** Records `done` at time `now` (ms); a count below the reference's starts a new reference. */
  observe(now: number, done: number): void {
    if (!this.ref || done < this.ref.done) {
      this.ref = { t: now, done };
      return;
    }
    const dt = (now - this.ref.t) / 1000;
    if (dt >= this.minSeconds && done > this.ref.done) this.perSecond = (done - this.ref.done) / dt;
  }

  /** Measures afresh from the next observation (a new phase with a start-up of its own); the last rate stands until then. */
  restart(): void {
    this.ref = undefined;
  }

  /** Seconds for `remaining` more at the measured rate; null while no rate is known. */
  eta(remaining: number): number | null {
    return this.perSecond ? Math.max(0, remaining) / this.perSecond : null;
  }
}

export class ProgressBar {
  private last = 0;
  private readonly rate: RateMeter;
  /** updateSearch: the template of the last update. */
  private template?: number;
  /** The last line held back by the rate limit: written by done(). */
  private pending?: [string, number, number | null];
  /** On a TTY: a bar is on the current line. */
  private showing = false;
  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
    private readonly tty = !!process.stderr.isTTY,
    /** Without a TTY: seconds between two lines. */
    private readonly every = 5,
    /** How long after the first update a rate (and so an ETA) is first believed. */
    minRateSeconds = 3,
  ) {
    this.rate = new RateMeter(minRateSeconds);
  }

  /** `etaSeconds`: the caller's own estimate (default: from the rate measured since the first update; `--` until one is known). */
  update(done: number, status: string, total = this.total, etaSeconds?: number | null): void {
    this.rate.observe(Date.now(), done);
    const count = `${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`;
    this.draw(
      `${count} ${status}`,
      done / total,
      etaSeconds !== undefined ? etaSeconds : this.rate.eta(total - done),
      done >= total,
    );
  }

  /**
   * One search's progress (see SearchProgress): on a run over several templates, the template's
   * own count, budget and best, then the run's count; the ETA is the run's remaining evaluations
   * at the rate measured in the current template (the last template's until this one's is known).
   */
  updateSearch(p: SearchProgress): void {
    const now = Date.now();
    if (p.template && p.template.index !== this.template) {
      // The last template's final count and best, if held back, before the next template's.
      if (this.pending) this.draw(...this.pending, true);
      this.template = p.template.index;
      this.rate.restart();
    }
    this.rate.observe(now, p.evaluations);
    this.draw(
      formatSearchProgress(p),
      p.search.evaluations / p.search.budget,
      this.rate.eta(p.budget - p.evaluations),
      p.evaluations >= p.budget,
    );
  }

  /** Writes one line (at most every 200 ms on a TTY, every `every` s otherwise; always the last one). */
  private draw(text: string, fraction: number, eta: number | null, final: boolean): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 200 : this.every * 1000) && !final) {
      this.pending = [text, fraction, eta];
      return;
    }
    this.last = now;
    this.pending = undefined;
    const etaText = `  ETA ${formatSeconds(eta ?? NaN)}`;
    if (!this.tty) {
      this.stream.write(`progress: ${text}${etaText}\n`);
      return;
    }
    const width = 24;
    const bar = `[${'#'.repeat(Math.round(Math.min(1, Math.max(0, fraction)) * width)).padEnd(width, '.')}] `;
    // A line wider than the terminal would wrap, and `\r` would then redraw only its last row: the
    // text is cut (the ETA kept). ESC[K clears what a longer previous line left to the right.
    const room = this.stream.columns ? this.stream.columns - 1 - bar.length - etaText.length - 1 : Infinity;
    const shown = text.length > room ? text.slice(0, Math.max(0, room - 1)) + '…' : text;
    this.stream.write(`\r${bar}${shown}${etaText} \x1b[K`);
    this.showing = true;
  }

  /** On a TTY: wipes the bar's line, for a log line to take its place (the next update draws the bar again). */
  clear(): void {
    if (this.showing) this.stream.write('\r\x1b[K');
    this.showing = false;
  }

  /** Writes the last update if it was held back (so the final count shows), and ends the line on a TTY. */
  done(): void {
    if (this.pending) this.draw(...this.pending, true);
    if (this.showing) this.stream.write('\n');
    this.showing = false;
  }
}

/**
 * `5,123/16,667 evals, best train accuracy 0.8125`; on a run over several templates
 * `template 2 of 3: 5,123/16,667 evals, best train accuracy 0.8125 (this template); run 21,790/50,000`.
 */
export function formatSearchProgress(p: SearchProgress): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const best = p.search.bestTrainAccuracy === null ? '–' : p.search.bestTrainAccuracy.toFixed(4);
  const own = `${n(p.search.evaluations)}/${n(p.search.budget)} evals, best train accuracy ${best}`;
  if (!p.template || p.template.count <= 1) return own;
  return `template ${p.template.index + 1} of ${p.template.count}: ${own} (this template); run ${n(p.evaluations)}/${n(p.budget)}`;
}

const OBJECTIVE_TEXT: Record<string, string> = {
  ce: 'ce (minus the cross-entropy of the calibrated label scores)',
  accuracy: 'accuracy (ties broken by the margin)',
  margin: 'margin (the mean RLPrompt gap)',
};

/** One line saying what the progress line counts and what its "best" ranks by (the CLI prints it once, before the first). */
export function searchProgressLegend(objective: string, templates: number): string {
  return (
    `progress: ${templates > 1 ? `each template's own evaluations of its share of the budget, then the run's; ` : ''}` +
    `"best train accuracy" is the highest train accuracy among the candidates scored on all of train so far${templates > 1 ? ' in that template' : ''}` +
    ` (it never decreases; the search ranks candidates by its objective on train, ${OBJECTIVE_TEXT[objective] ?? objective}, and selects its prompt on dev among the top ones)`
  );
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  // 59.6 s past the minute rounds to the next minute, not to "m60s".
  return r === 60 ? `${m + 1}m00s` : `${m}m${String(r).padStart(2, '0')}s`;
}
