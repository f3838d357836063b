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

/** The crt-list files the running HAProxy loaded (`show ssl crt-list`), or the certificate paths in one of them. */
export async function shownCrtList(socket: string, list?: string): Promise<string[]> {
  if (list) checkLocalPath(list, "crt-list");
  const out = await send(socket, list ? `show ssl crt-list ${list}\n` : "show ssl crt-list\n");
  return out.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => l.split(/\s+/)[0]!);
}

/** A certificate new to the running HAProxy: an empty store under `path`, filled and committed, then its line
 *  (`path [alpn …] host…`) added to the crt-list. A refusal throws with HAProxy's words; a half-made store is deleted. */
export async function addSslCert(socket: string, list: string, path: string, pem: string, line: string): Promise<void> {
  checkLocalPath(list, "crt-list");
  checkLocalPath(path, "certificate path");
  const made = await send(socket, `new ssl cert ${path}\n`);
  if (!/New empty certificate store/i.test(made)) throw new Error(`HAProxy refused a new certificate ${path}: ${made.trim()}`);
  try {
    await swapSslFile(socket, "cert", path, pem);
    const added = await send(socket, `add ssl crt-list ${list} <<\n${line}\n\n`);
    if (!/Success!/.test(added)) throw new Error(`HAProxy did not add ${path} to ${list}: ${added.trim()}`);
  } catch (e) {
    await send(socket, `del ssl cert ${path}\n`).catch(() => {});
    throw e;
  }
}

/** Takes a certificate out of the crt-list and out of HAProxy's memory. */
export async function removeSslCert(socket: string, list: string, path: string): Promise<void> {
  checkLocalPath(list, "crt-list");
  checkLocalPath(path, "certificate path");
  const del = await send(socket, `del ssl crt-list ${list} ${path}\n`);
  if (!/deleted/i.test(del)) throw new Error(`HAProxy did not remove ${path} from ${list}: ${del.trim()}`);
  const gone = await send(socket, `del ssl cert ${path}\n`);
  if (!/deleted/i.test(gone)) throw new Error(`HAProxy did not delete the certificate ${path}: ${gone.trim()}`);
}
