// A GET to another machine of the project over the mesh, as this machine: its
// mesh certificate (mutual TLS under the project's CA) and a share's SNI,
// which HAProxy there hands to its agent's share socket (acme-share.ts). Used
// by tls: auto pulls (acme-pull.ts) and alert rounds (alerts.ts).
import { request, type Agent } from "node:https";
import { MESH_PORT } from "../contracts/mesh.ts";
import { serverAddress } from "../proxy/values.ts";

export interface MeshGet {
  /** The peer's name, which errors start with. */
  peer: string;
  addr: string;
  sni: string;
  path: string;
  /** This machine's mesh certificate and key (one PEM), and the project's CA. */
  crt: string;
  ca: string;
  timeoutMs: number;
  /** Kept-alive connections (alerts ask every round); none: a connection for this request. */
  agent?: Agent;
}

/** The answer's status and body; rejects (naming the peer) when it does not answer in time or the connection fails. */
export function meshGet(o: MeshGet): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const q = request({ host: o.addr, port: MESH_PORT, path: o.path, method: "GET", servername: o.sni, ca: o.ca, cert: o.crt, key: o.crt, timeout: o.timeoutMs, headers: { host: o.sni }, ...(o.agent ? { agent: o.agent } : {}) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    q.on("timeout", () => q.destroy(new Error(`${o.peer} (${serverAddress(o.addr, MESH_PORT)}) did not answer in ${o.timeoutMs} ms`)));
    q.on("error", (e) => reject(e.message.startsWith(`${o.peer} (`) ? e : new Error(`${o.peer}: ${e.message}`)));
    q.end();
  });
}
