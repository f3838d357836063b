// The machine's side of skiff's firewall: each project's word (its machines'
// addresses, or "off") kept in firewall.json, and the table rendered from all of
// them (firewall-rules.ts) put into the kernel with one `nft -f`. Applied again
// at every agent start: a reboot empties the kernel's tables.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { FirewallEntry, FirewallStatus } from "../contracts/firewall.ts";
import { systemBin, SYSTEM_ENV } from "../runtime/system.ts";
import { writeAtomic } from "./atomic-write.ts";
import { applyScript, REMOVE_SCRIPT } from "./firewall-rules.ts";
import type { KeyedMutex } from "./mutex.ts";
import { byCodeUnit } from "../lib/order.ts";

/** Runs `nft -f -` with the script on stdin; `missing` when the machine has no nft. */
export type Nft = (script: string) => Promise<{ code: number | null; stderr: string; missing?: boolean }>;

/** nft missing or refusing: the CLI words it with the machine, the step and a hint (transport/agent-client.ts). */
export class FirewallError extends Error {
  readonly code = "ENFT";
}

export const realNft: Nft = (script) =>
  new Promise((resolve, reject) => {
    let bin: string;
    try {
      bin = systemBin("nft");
    } catch {
      return resolve({ code: null, stderr: "nft is not installed on this machine (Debian's nftables package)", missing: true });
    }
    const child = spawn(bin, ["-f", "-"], { env: SYSTEM_ENV, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    // nft takes milliseconds; one that hangs (a wedged netlink) must not hold every deploy's firewall step.
    const timer = setTimeout(() => {
      stderr += "nft did not finish within 30 s; killed\n";
      child.kill("SIGKILL");
    }, 30_000);
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", (e) => (clearTimeout(timer), reject(new FirewallError(`nft: ${e.message}`))));
    child.on("close", (code) => (clearTimeout(timer), resolve({ code, stderr })));
    // An nft that exits before reading everything (a parse error) closes the pipe: EPIPE is its answer, not a crash.
    child.stdin.on("error", () => {});
    child.stdin.end(script);
  });

interface Saved {
  entries: FirewallEntry[];
  /** The last Docker gateways known: the Engine may not answer at boot. */
  gateways: string[];
}

const key = (e: Pick<FirewallEntry, "project" | "environment">) => `${e.project}\u0000${e.environment ?? ""}`;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Pure: what the kernel should hold for these entries. Any project saying off wins: another manager owns the box. */
export function desired(entries: FirewallEntry[], gateways: string[]): { state: "applied" | "off" | "none"; script: string; addresses: string[] } {
  if (!entries.length) return { state: "none", script: REMOVE_SCRIPT, addresses: [] };
  if (entries.some((e) => !e.enabled)) return { state: "off", script: REMOVE_SCRIPT, addresses: [] };
  const addresses = [...new Set(entries.flatMap((e) => e.addresses))].sort();
  const listens = entries.flatMap((e) => (e.metrics ? [e.metrics] : []));
  const metrics = listens.length ? { ports: listens.map((m) => m.port), allow: listens.flatMap((m) => m.allow) } : undefined;
  return { state: "applied", script: applyScript({ peers: addresses, gateways, metrics }), addresses };
}

export class Firewall {
  private saved: Saved = { entries: [], gateways: [] };
  /** What the kernel was last given by this agent (undefined: nothing yet since start). */
  private applied?: string;
  private current: FirewallStatus = { state: "none", addresses: [], entries: [] };

  constructor(
    private readonly file: string,
    private readonly mutex: KeyedMutex,
    private readonly log: (s: string) => void,
    private readonly nft: Nft = realNft,
    /** Docker's bridge gateways now; undefined when the Engine did not say (the last known are kept). */
    private readonly gatewaysNow: () => Promise<string[] | undefined> = async () => [],
  ) {
    try {
      const s = JSON.parse(readFileSync(file, "utf8")) as Saved;
      if (Array.isArray(s.entries)) this.saved = { entries: s.entries, gateways: Array.isArray(s.gateways) ? s.gateways : [] };
    } catch {}
    this.current = { ...this.current, entries: this.saved.entries };
  }

  status(): FirewallStatus {
    return this.current;
  }

  /** One project's word. Unchanged and already in the kernel: nothing runs. A failure keeps the old word and table. */
  set(entry: FirewallEntry): Promise<{ changed: boolean; status: FirewallStatus }> {
    return this.mutex.run("firewall", async () => {
      const entries = [...this.saved.entries.filter((e) => key(e) !== key(entry)), entry].sort((a, b) => byCodeUnit(key(a), key(b)));
      const changed = await this.converge(entries);
      return { changed, status: this.current };
    });
  }

  /** The project has no app left here: its word goes (the table with it when it was the last). */
  forget(project: string): Promise<boolean> {
    return this.mutex.run("firewall", () => this.converge(this.saved.entries.filter((e) => e.project !== project)));
  }

  /** At agent start: the kernel may have lost the table (a reboot), so it is put back whatever was applied before. */
  reapply(): Promise<boolean> {
    return this.mutex.run("firewall", () => {
      this.applied = undefined;
      return this.converge(this.saved.entries);
    });
  }

  private async converge(entries: FirewallEntry[]): Promise<boolean> {
    const gateways = (await this.gatewaysNow().catch(() => undefined)) ?? this.saved.gateways;
    const want = desired(entries, gateways);
    const next: Saved = { entries, gateways };
    if (want.script === this.applied && this.current.state !== "failed") {
      // The kernel already holds this table (another project's list has the same addresses), but the word did
      // change: what `firewall.get` reports must carry it, or a plan would see this project as never told.
      if (!same(next, this.saved)) this.save(next);
      this.current = { ...this.current, entries };
      return false;
    }
    const at = new Date().toISOString();
    let failure: string | undefined;
    try {
      const r = await this.nft(want.script);
      // Without nft there is no table of ours to take away; one to put in is a failure.
      if (r.missing) failure = want.state === "applied" ? r.stderr : undefined;
      else if (r.code !== 0) failure = `nft -f failed (exit ${r.code ?? "signal"}): ${r.stderr.trim().split("\n").slice(0, 6).join(" | ") || "no output"}`;
    } catch (e) {
      failure = (e as Error).message;
    }
    if (failure) {
      // nft applies a file whole or not at all: the kernel holds the old table; the old word stays with it.
      this.current = { state: "failed", addresses: [], entries: this.saved.entries, error: failure, at };
      this.log(`firewall: ${failure}`);
      throw new FirewallError(failure);
    }
    this.save(next);
    this.applied = want.script;
    this.current = { state: want.state, addresses: want.addresses, entries, at };
    this.log(`firewall: ${want.state === "applied" ? `${want.addresses.length} machine address(es) may reach instance and mesh ports` : want.state === "off" ? "off (a project said firewall: false); skiff's table removed" : "no project here; skiff's table removed"}`);
    return true;
  }

  private save(s: Saved): void {
    writeAtomic(this.file, JSON.stringify(s, null, 1) + "\n", { mode: 0o600 });
    this.saved = s;
  }
}
