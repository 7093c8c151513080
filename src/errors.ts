/**
 * An error caused by the user's input (a bad flag, file, template, model folder...).
 * The CLI prints its message on one line and exits with code 2, never a stack trace.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (e instanceof Error && e.name === 'UserError');
}

/**
 * Work stopped by the user (Ctrl-C) before it had any result to save; what it did is kept for a
 * resume. The CLI prints the message on one line and exits with code 130.
 */
export class StoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoppedError';
  }
}

export function isStoppedError(e: unknown): e is StoppedError {
  return e instanceof StoppedError || (e instanceof Error && e.name === 'StoppedError');
}
