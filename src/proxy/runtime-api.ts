// HAProxy's Runtime API on its stats socket: one command per connection.
import { createConnection } from "node:net";

export class RuntimeApi {
  constructor(readonly socket: string) {}

  command(cmd: string, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = createConnection(this.socket);
      let out = "";
      const timer = setTimeout(() => c.destroy(new Error(`HAProxy did not answer "${cmd}" in ${timeoutMs} ms`)), timeoutMs);
      c.on("connect", () => c.write(cmd + "\n"));
      c.on("data", (b) => (out += b));
      c.on("error", (e) => (clearTimeout(timer), reject(e)));
      c.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
  }

  /** Runs a command that must answer with nothing (or only a newline). */
  async expectEmpty(cmd: string): Promise<void> {
    const out = (await this.command(cmd)).trim();
    if (out) throw new Error(`HAProxy refused "${cmd}": ${out}`);
  }

  setState(backend: string, server: string, state: "ready" | "drain" | "maint"): Promise<void> {
    return this.expectEmpty(`set server ${backend}/${server} state ${state}`);
  }

  /** `set server … addr` answers with what changed; only other answers are refusals. */
  async setAddr(backend: string, server: string, addr: string, port: number): Promise<void> {
    const cmd = `set server ${backend}/${server} addr ${addr} port ${port}`;
    const out = (await this.command(cmd)).trim();
    if (out && !/changed from|no need to change/i.test(out)) throw new Error(`HAProxy refused "${cmd}": ${out}`);
  }

  /** op_state per server of a backend: 0 stopped, 1 starting, 2 running (UP), 3 stopping. */
  async serverStates(backend: string): Promise<Map<string, { op: number; admin: number; addr: string; port: number }>> {
    const out = await this.command(`show servers state ${backend}`);
    const map = new Map<string, { op: number; admin: number; addr: string; port: number }>();
    for (const line of out.split("\n")) {
      if (!line || line.startsWith("#") || /^\d+$/.test(line.trim())) continue;
      const f = line.split(" ");
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port
      if (f.length > 18) map.set(f[3]!, { op: Number(f[5]), admin: Number(f[6]), addr: f[4]!, port: Number(f[18]) });
    }
    return map;
  }

  /** Current sessions per server of a backend (`show stat`, scur). */
  async sessions(backend: string): Promise<Map<string, number>> {
    const out = await this.command("show stat");
    const lines = out.split("\n").filter(Boolean);
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
