// A simulated fleet: n SimMachines, and the transport hook that makes the CLI's code reach them in-process.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useTransport } from "../../src/transport/connect.ts";
import { InProcessTransport } from "../../src/transport/in-process.ts";
import { SimMachine } from "./machine.ts";

export interface SimFleet {
  machines: SimMachine[];
  byName: Map<string, SimMachine>;
  /** Puts ssh back and deletes the machines' state directories. */
  close(): void;
}

/** Machines m1…mN with their state on tmpfs where there is one (the store fsyncs every write). */
export function simFleet(n: number, opts: { bootMs?: number; root?: string } = {}): SimFleet {
  const base = opts.root ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  const root = mkdtempSync(join(base, "skiff-fleet-sim-"));
  const machines = Array.from({ length: n }, (_, i) => new SimMachine(`m${i + 1}`, join(root, `m${i + 1}`), { bootMs: opts.bootMs ?? 0 }));
  const byName = new Map(machines.map((m) => [m.name, m]));
  const restore = useTransport((spec) => {
    const m = byName.get(spec.name);
    if (!m) throw new Error(`no simulated machine named ${spec.name}`);
    return new InProcessTransport(spec, m);
  });
  return {
    machines,
    byName,
    close: () => {
      restore();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A project config for the fleet: hello-node as a process app, one instance per machine. */
export function fleetConfig(fleet: SimFleet, artifact: string, version: string, deploy: Record<string, unknown> = {}) {
  const addr = (i: number) => `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`;
  const machines = Object.fromEntries(fleet.machines.map((m, i) => [m.name, { host: addr(i), private_address: addr(i) }]));
  return {
    project: "fleetsim",
    machines,
    apps: {
      web: { run: "node server.js", artifact, instances: fleet.machines.length, env: { VERSION: version }, routes: [{ path: "/" }], health: { interval: "200ms", deadline: "20s" }, deploy: { drain_timeout: "2s", stop_timeout: "5s", ...deploy } },
    },
  };
}
