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
