// The mesh in the proxy state: a project's certificate on this machine comes in
// with a reload (the first one, or a new address: the mesh frontend and the peer
// slots' TLS settings are in haproxy.cfg) or, when only the files' contents
// change (a rotation), through the Runtime API: no reload, no connection closed.
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { meshCrtList, type MeshState } from "../proxy/mesh.ts";
import type { ProxyState } from "../proxy/model.ts";
import { writeAtomic } from "./atomic-write.ts";

/** Where the mesh's files live, inside the proxy's directory (certificates, crt-list, mesh.json). */
export const meshDir = (proxyDir: string) => join(proxyDir, "mesh");

/** mesh.json: the mesh part of the proxy state, kept beside the certificates too. An agent that does not know the
 *  mesh (an older one, run on this machine in between) rewrites the proxy state without it; this copy brings it
 *  back at the next start. */
export function savedMesh(proxyDir: string): MeshState | undefined {
  try {
    const m = JSON.parse(readFileSync(join(meshDir(proxyDir), "mesh.json"), "utf8")) as MeshState;
    return typeof m.addr === "string" && typeof m.port === "number" && typeof m.crtList === "string" && Array.isArray(m.certs) ? m : undefined;
  } catch {
    return undefined;
  }
}

export interface MeshInstall {
  project: string;
  addr: string;
  port: number;
  crtList: string;
  files: { crt: string; ca: string };
  /** What the files now hold, for the Runtime API. */
  crtPem: string;
  caPem: string;
  caChanged: boolean;
}

export interface MeshDeps {
  state: ProxyState;
  running(): boolean;
  /** Writes haproxy.cfg (checked by HAProxy) and reloads, or starts nothing when HAProxy is not running. */
  restructure(): Promise<void>;
  persist(): Promise<void>;
  swap(kind: "cert" | "ca-file", path: string, pem: string): Promise<void>;
}

function writeCrtList(mesh: MeshState | undefined, path: string): void {
  if (mesh?.certs.length) writeAtomic(mesh.crtList, meshCrtList(mesh), { mode: 0o600 });
  else rmSync(path, { force: true });
}

/** Returns how it was applied: "reload" or "live" (Runtime API). */
export async function applyMeshCert(d: MeshDeps, m: MeshInstall): Promise<"reload" | "live"> {
  const before = d.state.mesh ? structuredClone(d.state.mesh) : undefined;
  const known = before?.certs.find((c) => c.project === m.project);
  const same = before && before.addr === m.addr && before.port === m.port && before.crtList === m.crtList && known?.crt === m.files.crt && known.ca === m.files.ca;
  if (same) {
    if (d.running()) {
      // The CA bundle first: during a CA change it holds both CAs, so the new certificate is trusted everywhere.
      if (m.caChanged) await d.swap("ca-file", m.files.ca, m.caPem);
      await d.swap("cert", m.files.crt, m.crtPem);
    }
    return "live";
  }
  // Existing projects keep their place: the first one's CA is also the bind's default.
  const certs = before?.certs.filter((c) => c.project !== m.project) ?? [];
  d.state.mesh = { addr: m.addr, port: m.port, crtList: m.crtList, certs: [...certs, { project: m.project, ...m.files }] };
  try {
    writeCrtList(d.state.mesh, m.crtList);
    await d.restructure();
  } catch (e) {
    d.state.mesh = before;
    writeCrtList(before, m.crtList);
    await d.persist().catch(() => {});
    throw e;
  }
  writeAtomic(join(dirname(m.crtList), "mesh.json"), JSON.stringify(d.state.mesh, null, 2), { mode: 0o600 });
  return "reload";
}
