/** An error the CLI reports on one line, without a stack trace; `name` tells which (and its exit code). */
abstract class ReportedError extends Error {
  constructor(message: string, name: string) {
    super(message);
    this.name = name;
  }
}

const named = (e: unknown, name: string) => e instanceof Error && e.name === name;

/**
 * An error caused by the user's input (a bad flag, file, template, model folder...).
 * The CLI prints its message on one line and exits with code 2, never a stack trace.
 */
export class UserError extends ReportedError {
  constructor(message: string) {
    super(message, 'UserError');
  }
}

/** A budget below one candidate's train evaluations plus dev selection; `needed` is that minimum. */
export class BudgetTooSmallError extends UserError {
  constructor(
    readonly budget: number,
    readonly needed: number,
    topK: number,
    devSize: number,
    trainSize: number,
  ) {
    super(
      `budget ${budget} is too small: dev selection alone needs ${topK} × ${devSize} = ${topK * devSize}, plus ${trainSize} per candidate on train (give a budget of ${needed} or more)`,
    );
  }
}

export function isUserError(e: unknown): e is UserError {
  return named(e, 'UserError');
}

/**
 * Work stopped by the user (Ctrl-C) before it had any result to save; what it did is kept for a
 * resume. The CLI prints the message on one line and exits with code 130.
 */
export class StoppedError extends ReportedError {
  constructor(message: string) {
    super(message, 'StoppedError');
  }
}

export function isStoppedError(e: unknown): e is StoppedError {
  return named(e, 'StoppedError');
}
