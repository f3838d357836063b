// The agent's wire format: one JSON object per line, both ways. Requests carry
// an id; each gets exactly one response with the same id.

export interface Request {
  id: number;
  method: string;
  params?: unknown;
}

export type Response = { id: number; result: unknown } | { id: number; error: { message: string; code?: string } };

/** Splits a byte stream into lines and hands each parsed JSON value on. */
export function lineReader(onValue: (v: unknown) => void, onBad: (line: string) => void = () => {}): (chunk: Buffer | string) => void {
  let buf = "";
  return (chunk) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        onValue(JSON.parse(line));
      } catch {
        onBad(line);
      }
    }
  };
}

export const encode = (v: Request | Response): string => JSON.stringify(v) + "\n";
