// Instances: host ports, starting one for a release, taking some out and away.
import { randomBytes } from "node:crypto";
import type { InstanceRecord, ReleaseSpec } from "../contracts/model.ts";
import { INSTANCE_PORTS } from "../contracts/ports.ts";
import type { StartSpec } from "../runtime/types.ts";
import { isoAt, runtimeOf, type Machine } from "./effects.ts";
import { materializeFiles } from "./files.ts";

export const BIND = "127.0.0.1";
/** Where an instance's port is published (instances from before bind addresses existed used loopback). */
export const addressOf = (i: InstanceRecord) => i.bindAddress ?? BIND;
const PORTS = INSTANCE_PORTS;

/** Host ports every app's instances (serving, warm, starting, stopping) hold on this machine. */
export function usedPorts(m: Machine): Set<number> {
  const used = new Set<number>();
  for (const { project, app } of m.store.apps()) {
    const st = m.store.state(project, app);
    for (const i of [...st.instances, ...st.warm, ...st.pending, ...(st.retiring ?? [])]) used.add(i.hostPort);
  }
  return used;
}

async function allocatePort(m: Machine, taken: Set<number>, address: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = PORTS.from + Math.floor(Math.random() * (PORTS.to - PORTS.from));
    if (taken.has(port)) continue;
    // Held while it is checked: instances start side by side, and two must not take the same port.
    taken.add(port);
    if (await m.fx.portFree(port, address)) return port;
    taken.delete(port);
  }
  throw new Error("no free host port for a new instance");
}

/** What an instance (or a hook's one-off run) of a release is started with, apart from its name, port and command. */
export function baseStart(m: Pick<Machine, "store">, spec: ReleaseSpec, env: Record<string, string>, labels: Record<string, string>): Omit<StartSpec, "name" | "hostPort" | "bindAddress"> {
  return {
    image: spec.imageId,
    command: spec.command,
    user: spec.user,
    limits: spec.limits,
    files: materializeFiles(m.store.dir, spec),
    volumes: spec.volumes,
    ...(spec.stopSignal ? { stopSignal: spec.stopSignal } : {}),
    containerPort: spec.port,
    env: { ...spec.env, ...spec.secrets, SKIFF_APP: spec.app, SKIFF_RELEASE: String(spec.release), ...env },
    labels: { "skiff.managed": "1", "skiff.project": spec.project, "skiff.app": spec.app, "skiff.release": String(spec.release), ...labels },
  };
}

export async function startInstance(m: Machine, spec: ReleaseSpec, machine: string, taken: Set<number>, bindAddress: string): Promise<InstanceRecord> {
  const name = `skiff-${spec.project}-${spec.app}-${spec.release}-${randomBytes(3).toString("hex")}`;
  const rt = runtimeOf(m, spec);
  bindAddress = (await rt.publishAddress?.(bindAddress)) ?? bindAddress;
  const hostPort = await allocatePort(m, taken, bindAddress);
  await rt.start({ name, hostPort, bindAddress, ...baseStart(m, spec, { SKIFF_MACHINE: machine, SKIFF_INSTANCE: name }, {}) });
  return { name, release: spec.release, runtime: spec.runtime, bindAddress, hostPort, startedAt: isoAt(m), restarts: 0 };
}

/** Out of the proxy, stopped, removed, forgotten (best effort: each step's failure leaves the next to try). */
export async function discard(m: Machine, insts: InstanceRecord[], backend: string, stopTimeoutS: number): Promise<void> {
  await Promise.all(
    insts.map(async (i) => {
      await m.proxy.release(backend, i.name).catch(() => {});
      await runtimeOf(m, i).stop(i.name, stopTimeoutS).catch(() => {});
      await runtimeOf(m, i).remove(i.name).catch(() => {});
      m.health.delete(i.name);
    }),
  );
}
