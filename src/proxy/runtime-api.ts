// HAProxy's Runtime API on its stats socket: one request per connection (one command, or several checked
// ones in apply()).
// `;` and newlines separate commands there, so every argument goes through
// arg() (values.ts checks) before a command is built; send() refuses anything
// that still looks like two commands.
import { createConnection } from "node:net";
import { checkAddr, checkName, checkPort, ProxyValueError } from "./values.ts";

const STATES = new Set(["ready", "drain", "maint"]);

/** The only way a value gets into a command. */
const arg = {
  backend: (v: string) => checkName(v, "backend name"),
  server: (v: string) => checkName(v, "server name"),
  addr: (v: string) => checkAddr(v),
  port: (v: number) => String(checkPort(v)),
  state: (v: string) => {
    if (!STATES.has(v)) throw new ProxyValueError("server state", v, "a state is ready, drain or maint");
    return v;
  },
};

/** One change of a server: its admin state, or its address. */
export type SlotOp = { server: string; state: "ready" | "drain" | "maint" } | { server: string; addr: string; port: number };

/** Commands per request in apply(): well inside HAProxy's 16 KB request line (each is under 120 bytes). */
const PER_REQUEST = 40;

export class RuntimeApi {
  constructor(readonly socket: string) {}

  /** `show info`: answers once HAProxy is up. */
  info(timeoutMs = 5000): Promise<string> {
    return this.send("show info", timeoutMs);
  }

  private send(cmd: string, timeoutMs = 5000): Promise<string> {
    if (/[;\x00-\x1f\x7f]/.test(cmd)) return Promise.reject(new ProxyValueError("Runtime API command", cmd, "it would be read as more than one command"));
    return this.sendChecked(cmd, timeoutMs);
  }

  /**
   * Several server changes, in order, `;`-separated in as few requests as fit (HAProxy runs them one after another,
   * as separate requests would be). Each command is built and checked as setState/setAddr build theirs; the
   * answers are checked line by line: a state change answers nothing, an address change "changed from" or "no
   * need to change", anything else is a refusal.
   */
  async apply(backend: string, ops: SlotOp[]): Promise<void> {
    const cmds = ops.map((op) =>
      "state" in op
        ? `set server ${arg.backend(backend)}/${arg.server(op.server)} state ${arg.state(op.state)}`
        : `set server ${arg.backend(backend)}/${arg.server(op.server)} addr ${arg.addr(op.addr)} port ${arg.port(op.port)}`,
    );
    for (const c of cmds) if (/[;\x00-\x1f\x7f]/.test(c)) throw new ProxyValueError("Runtime API command", c, "it would be read as more than one command");
    for (let i = 0; i < cmds.length; i += PER_REQUEST) {
      const part = cmds.slice(i, i + PER_REQUEST);
      const out = await this.sendChecked(part.join("; "));
      const refused = out.split("\n").map((l) => l.trim()).filter((l) => l && !/changed from|no need to change/i.test(l));
      if (refused.length) throw new Error(`HAProxy refused a change of backend ${backend} (${part.length} commands from "${part[0]}"): ${refused.join(" | ")}`);
    }
  }

  /** A request of several commands, each already checked to be one command (apply builds them). */
  private sendChecked(line: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = createConnection(this.socket);
      let out = "";
      const timer = setTimeout(() => c.destroy(new Error(`HAProxy did not answer "${line.length > 80 ? `${line.slice(0, 80)}…` : line}" in ${timeoutMs} ms`)), timeoutMs);
      c.on("connect", () => c.write(line + "\n"));
      c.on("data", (b) => (out += b));
      c.on("error", (e) => (clearTimeout(timer), reject(e)));
      c.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
  }

  /** Runs a command that must answer with nothing (or only a newline). */
  private async expectEmpty(cmd: string): Promise<void> {
    const out = (await this.send(cmd)).trim();
    if (out) throw new Error(`HAProxy refused "${cmd}": ${out}`);
  }

  async setState(backend: string, server: string, state: "ready" | "drain" | "maint"): Promise<void> {
    return this.expectEmpty(`set server ${arg.backend(backend)}/${arg.server(server)} state ${arg.state(state)}`);
  }

  /** Marks a server's health UP now (HAProxy's next check confirms it, or takes it down after `fall` failures).
   *  The agent does this only after its own health gate passed: waiting for HAProxy's next check added up to
   *  its `inter` to every switch. */
  async healthUp(backend: string, server: string): Promise<void> {
    return this.expectEmpty(`set server ${arg.backend(backend)}/${arg.server(server)} health up`);
  }

  /** `set server … addr` answers with what changed; only other answers are refusals. */
  async setAddr(backend: string, server: string, addr: string, port: number): Promise<void> {
    const cmd = `set server ${arg.backend(backend)}/${arg.server(server)} addr ${arg.addr(addr)} port ${arg.port(port)}`;
    const out = (await this.send(cmd)).trim();
    if (out && !/changed from|no need to change/i.test(out)) throw new Error(`HAProxy refused "${cmd}": ${out}`);
  }

  /** op_state per server of a backend: 0 stopped, 1 starting, 2 running (UP), 3 stopping. */
  async serverStates(backend: string): Promise<Map<string, { op: number; admin: number; addr: string; port: number }>> {
    const out = await this.send(`show servers state ${arg.backend(backend)}`);
    const map = new Map<string, { op: number; admin: number; addr: string; port: number }>();
    for (const line of out.split("\n")) {
      if (!line || line.startsWith("#") || /^\d+$/.test(line.trim())) continue;
      const f = line.split(" ");
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port
      if (f.length > 18) map.set(f[3]!, { op: Number(f[5]), admin: Number(f[6]), addr: f[4]!, port: Number(f[18]) });
    }
    return map;
  }

  /** `show stat` as HAProxy answers it (CSV, a "# " header line): the metrics sampler parses it. */
  showStat(timeoutMs = 2000): Promise<string> {
    return this.send("show stat", timeoutMs);
  }

  /** Current sessions per server of a backend (`show stat <backend> 4 -1`: its servers' rows only, scur). A drain
   *  asks every 50 ms: the whole `show stat` is every backend's rows (25 KB on a machine of a 20-machine fleet). */
  async sessions(backend: string): Promise<Map<string, number>> {
    const cmd = `show stat ${arg.backend(backend)} 4 -1`;
    const out = await this.send(cmd);
    const lines = out.split("\n").filter(Boolean);
    if (!lines.length) throw new Error(`HAProxy answered \`${cmd}\` with nothing`);
    if (!lines[0]!.startsWith("# ")) throw new Error(`HAProxy refused "${cmd}": ${lines[0]}`);
    const header = lines[0]!.replace(/^# /, "").split(",");
    const px = header.indexOf("pxname");
    const sv = header.indexOf("svname");
    const scur = header.indexOf("scur");
    const map = new Map<string, number>();
    for (const l of lines.slice(1)) {
      const f = l.split(",");
      if (f[px] === backend && f[sv] !== "BACKEND" && f[sv] !== "FRONTEND") map.set(f[sv]!, Number(f[scur] || 0));
    }
    return map;
  }
}
