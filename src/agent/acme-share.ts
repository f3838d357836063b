// The other side of acme-pull.ts (and of alerts.ts' peer rounds): the agent's
// HTTP server on a unix socket that only HAProxy's mesh frontend reaches (the socket is root:haproxy 0660 inside
// HAProxy's chroot). HAProxy let the client in only with a machine certificate
// of the project its SNI names, and tells the SNI in x-skiff-sni; so a machine
// of project X gets X's tls: auto certificates, never Y's, nor any certificate
// from a repo (those come from the CLI alone).
import { chownSync, chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname, join } from "node:path";
import { alertShareProject } from "../contracts/alerts.ts";
import { tlsShareSni } from "../proxy/tls.ts";
import type { AutoTls } from "./acme-auto.ts";
import type { Alerts } from "./alerts.ts";

/** Where the socket is on disk and how HAProxy names it (after its chroot). */
export function tlsShareSocket(p: { dir: string; chroot?: string }): { path: string; seen: string } {
  return p.chroot ? { path: join(p.chroot, "skiff", "tls-share.sock"), seen: "/skiff/tls-share.sock" } : { path: join(p.dir, "tls-share.sock"), seen: join(p.dir, "tls-share.sock") };
}

/** The group id of `name` from /etc/group (HAProxy's, to let it reach the socket). */
function gidOf(name: string): number | undefined {
  try {
    const line = readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(":")[2]) : undefined;
  } catch {
    return undefined;
  }
}

export async function serveTlsShare(auto: Pick<AutoTls, "entry">, tlsDir: string, socket: string, group: string | undefined, log: (s: string) => void, alerts?: Pick<Alerts, "answer">): Promise<Server> {
  const server = createServer((req, res) => {
    const sni = String(req.headers["x-skiff-sni"] ?? "").toLowerCase();
    // A peer's alert round (alerts.ts): the project is the one the SNI names, which HAProxy checked the client's
    // certificate against.
    const alert = /^\/alerts(?:\?have=(\d{1,15})(&facts=0)?)?$/.exec(req.url ?? "");
    if (alert && req.method === "GET") {
      const project = alertShareProject(sni);
      const a = project ? alerts?.answer(project, Number(alert[1] ?? 0), !alert[2]) : undefined;
      if (!a) return void res.writeHead(404, { "content-type": "text/plain" }).end("no alerts for this project here\n");
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(a));
      return;
    }
    const id = /^\/tls\/([a-z0-9][a-z0-9_.-]*)$/.exec(req.url ?? "")?.[1];
    const e = id ? auto.entry(id) : undefined;
    const path = id ? join(tlsDir, `${id}.pem`) : "";
    if (req.method !== "GET" || !e || sni !== tlsShareSni(e.project) || !existsSync(path)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such certificate here\n");
      return;
    }
    log(`tls auto: ${e.hosts.join(", ")}: sent to a machine of ${e.project} over the mesh`);
    res.writeHead(200, { "content-type": "application/x-pem-file", "cache-control": "no-store" }).end(readFileSync(path, "utf8"));
  });
  mkdirSync(dirname(socket), { recursive: true, mode: 0o750 });
  if (existsSync(socket)) unlinkSync(socket);
  const old = process.umask(0o117);
  await new Promise<void>((resolve, reject) => server.listen(socket, resolve).once("error", reject));
  process.umask(old);
  const gid = group ? gidOf(group) : undefined;
  if (gid !== undefined) {
    chownSync(dirname(socket), 0, gid);
    chownSync(socket, 0, gid);
  }
  chmodSync(socket, gid !== undefined ? 0o660 : 0o600);
  return server;
}
