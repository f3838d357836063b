// Every number a person types on the command line, checked before anything
// connects: a whole number within bounds, or a UserError (exit 2) naming the flag.
import { UserError } from "../errors.ts";

/** Parses `text` as a whole number in [min, max]; `what` names it in the error (a flag, or APP=N). */
export function wholeNumber(text: string, what: string, min: number, max: number, hint?: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UserError(`${what} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`, { exitCode: 2, hint });
  }
  return n;
}

/** A commander option parser for wholeNumber. */
export const wholeOption = (flag: string, min: number, max: number, hint?: string) => (v: string) => wholeNumber(v, flag, min, max, hint);
