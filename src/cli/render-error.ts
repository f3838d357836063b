// How a failure reaches the person: UserErrors without a stack, bugs with one.
import { formatDiagnostic, InternalError, UserError } from "../errors.ts";

export function renderError(e: unknown, json: boolean): number {
  if (e instanceof UserError) {
    if (json) {
      process.stdout.write(JSON.stringify({ error: { message: e.message, hint: e.hint, diagnostics: e.diagnostics } }) + "\n");
    } else {
      const lines = e.diagnostics.length ? [e.message, ...e.diagnostics.map((d) => "  " + formatDiagnostic(d))] : [`error: ${e.message}`];
      if (e.hint) lines.push(`hint: ${e.hint}`);
      process.stderr.write(lines.join("\n") + "\n");
    }
    return e.exitCode;
  }
  // The API wraps a bug as an InternalError; the stack shown is the bug's own.
  const bug = e instanceof InternalError ? e.cause : e;
  process.stderr.write(`skiff: internal error (this is a bug, please report it)\n${bug instanceof Error ? bug.stack : String(bug)}\n`);
  return 70;
}
