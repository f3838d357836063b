// Two kinds of failure reach a person: UserError (their input or their
// machines; shown without a stack) and everything else (a bug; shown with one).

/** One problem at a place in a file. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
}

export class UserError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly diagnostics: Diagnostic[];
  constructor(message: string, opts: { hint?: string; exitCode?: number; diagnostics?: Diagnostic[] } = {}) {
    super(message);
    this.name = "UserError";
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
    this.diagnostics = opts.diagnostics ?? [];
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.line ? `${d.file}:${d.line}:${d.col}` : d.file}: ${d.message}${d.hint ? ` (${d.hint})` : ""}`;
}

/** Anything that is neither the person's input nor a remote failure: a bug in skiff. The original is `cause`. */
export class InternalError extends Error {
  readonly exitCode = 70;
  constructor(cause: unknown) {
    super(`internal error (this is a bug, please report it): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "InternalError";
    if (cause instanceof Error && cause.stack) this.stack = `${this.name}: ${this.message}\n${cause.stack.split("\n").slice(1).join("\n")}`;
  }
}

/** A failure as one of the two kinds a caller handles: UserError (and its RemoteError) as it is, anything else as an InternalError. */
export function typedError(e: unknown): UserError | InternalError {
  return e instanceof UserError || e instanceof InternalError ? e : new InternalError(e);
}
