/** What an exit code usually means, for error messages. */
export function exitMeaning(code: number | null, signal?: string | null, viaSsh = true): string {
  if (signal) return `killed by ${signal}`;
  if (code === null) return "did not exit";
  if (code === 255 && viaSsh) return "ssh itself failed (connection, authentication or host key)";
  if (code === 127) return "command not found";
  if (code === 126) return "command not executable";
  if (code === 124) return "timed out";
  if (code === 2) return "misuse of a command or bad arguments";
  if (code > 128 && code < 160) return `killed by signal ${code - 128}`;
  return "the command failed";
}
