import { createServer } from "node:net";

/** Whether nothing listens on `port` (at `address`, or on every address): a bind that succeeds and is undone. */
export function portFree(port: number, address?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, address, () => s.close(() => resolve(true)));
  });
}
