// The one place where values become shell words. Every remote command is an
// argv array until here.

const SAFE = /^[A-Za-z0-9_\/.,:@%+-]+$/;

/** POSIX single-quote one word so that `sh` gives back exactly `arg`. */
export function quote(arg: string): string {
  if (arg.includes("\0")) throw new Error("a command argument cannot contain a NUL byte");
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return "'" + arg.replace(/'/g, "'\\''") + "'";
}

/** An argv array as one command line for `sh -c` (and so for ssh). */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("empty command");
  return argv.map(quote).join(" ");
}
