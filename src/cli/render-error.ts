// How a failure reaches the person: UserErrors without a stack, bugs with one.
import { formatDiagnostic, UserError } from "../errors.ts";

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
  process.stderr.write(`skiff: internal error (this is a bug, please report it)\n${e instanceof Error ? e.stack : String(e)}\n`);
  return 70;
}
