// Certificates and CA files swapped in the running HAProxy through its Runtime
// API (`set ssl cert` / `set ssl ca-file` with a payload, then `commit`): new
// TLS handshakes use the new files at once, open connections are left alone,
// nothing reloads. The agent writes the same files to disk first, so a restart
// loads what is live.
import { createConnection } from "node:net";
import { checkLocalPath, ProxyValueError } from "./values.ts";

/** PEM blocks only: a payload ends at its first empty line, so there must be none inside, and nothing that is not PEM. */
function payload(pem: string): string {
  const lines = pem.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!lines.length || !lines.every((l) => /^-----(BEGIN|END) [A-Z ]+-----$/.test(l) || /^[A-Za-z0-9+/=]+$/.test(l))) throw new ProxyValueError("PEM payload", "(hidden)", "only PEM blocks can be sent");
  return lines.join("\n");
}

function send(socket: string, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = "";
    const timer = setTimeout(() => c.destroy(new Error(`HAProxy did not answer a certificate command in ${timeoutMs} ms`)), timeoutMs);
    c.on("connect", () => c.write(text));
    c.on("data", (b) => (out += b));
    c.on("error", (e) => (clearTimeout(timer), reject(e)));
    c.on("close", () => (clearTimeout(timer), resolve(out)));
  });
}

/** Replaces a loaded certificate (`kind: "cert"`, certificate and key in one PEM) or CA file (`"ca-file"`) by path,
 *  as loaded from haproxy.cfg or a crt-list. Throws with HAProxy's words when it refuses; an unfinished
 *  transaction is aborted so the next attempt starts clean. */
export async function swapSslFile(socket: string, kind: "cert" | "ca-file", path: string, pem: string): Promise<void> {
  checkLocalPath(path, "certificate path");
  const body = payload(pem);
  const set = await send(socket, `set ssl ${kind} ${path} <<\n${body}\n\n`);
  if (!/Transaction (created|updated)/i.test(set)) {
    await send(socket, `abort ssl ${kind} ${path}\n`).catch(() => {});
    throw new Error(`HAProxy refused the new ${kind === "cert" ? "certificate" : "CA file"} ${path}: ${set.trim()}`);
  }
  const commit = await send(socket, `commit ssl ${kind} ${path}\n`);
  if (!/Success!/.test(commit)) {
    await send(socket, `abort ssl ${kind} ${path}\n`).catch(() => {});
    throw new Error(`HAProxy could not commit the new ${kind === "cert" ? "certificate" : "CA file"} ${path}: ${commit.trim()}`);
  }
}
