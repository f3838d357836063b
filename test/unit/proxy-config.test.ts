// Hostile values from skiff.yml against haproxy.cfg: each one is refused with a
// clear error, or lands as exactly one word where it belongs; never a new line,
// a new directive or an extra ACL pattern.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { availableParallelism } from "node:os";
import { backupPeerInterval, logTargetProblem, proxyThreads, renderConfig } from "../../src/proxy/config.ts";
import { routeConflicts, type ProxyBackend, type ProxyState } from "../../src/proxy/model.ts";
import { INJECTION_CASES } from "./injection-cases.ts";

const PATHS = { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid" };
const backend = (b: Partial<ProxyBackend>): ProxyBackend => ({ name: "skiff_p_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [{ name: "s1", addr: "10.0.0.1", port: 20001, state: "ready", instance: "i1" }], ...b });
const render = (b: Partial<ProxyBackend>) => renderConfig({ httpPort: 80, backends: [backend(b)] }, PATHS);

/** HAProxy's own word splitting (2.6): blanks separate words, '…' is literal, "…" and \ escape, # starts a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${line}`);
      cur = (cur ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      cur ??= "";
      for (; j < line.length && line[j] !== '"'; j++) cur += line[j] === "\\" ? line[++j] : line[j];
      i = j;
    } else if (c === "\\") cur = (cur ?? "") + line[++i];
    else if (c === "#") break;
    else if (c === " " || c === "\t") {
      if (cur !== undefined) out.push(cur);
      cur = undefined;
    } else cur = (cur ?? "") + c;
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** Renders, or returns the error; an error must be a clear one. */
function attempt(b: Partial<ProxyBackend>): string | Error {
  try {
    return render(b);
  } catch (e) {
    assert.match((e as Error).message, /cannot be used in HAProxy/, `unclear error: ${(e as Error).stack}`);
    return e as Error;
  }
}

const benignLines = render({ routes: [{ host: "a.example.com", path: "/v1" }] }).split("\n").length;

describe("haproxy.cfg carries hostile values as one word or refuses them", () => {
  for (const raw of INJECTION_CASES) {
    for (const v of [raw, `a.example.com${raw}`]) {
      it(`route host ${JSON.stringify(v)}`, () => {
        const cfg = attempt({ routes: [{ host: v, path: "/v1" }] });
        if (cfg instanceof Error) return;
        const lines = cfg.split("\n");
        assert.equal(lines.length, benignLines, "no line added");
        const acl = lines.filter((l) => l.includes("acl r0_host"));
        assert.equal(acl.length, 1);
        assert.deepEqual(words(acl[0]!), ["acl", "r0_host", "hdr(host),field(1,:)", "-i", v], "the host is exactly one pattern");
      });
    }
    it(`route path ${JSON.stringify("/" + raw)}`, () => {
      const v = "/x" + raw;
      const cfg = attempt({ routes: [{ host: "a.example.com", path: v }] });
      if (cfg instanceof Error) return;
      const lines = cfg.split("\n");
      assert.equal(lines.length, benignLines);
      const acl = lines.filter((l) => l.includes("acl r0_path"));
      assert.deepEqual(acl.map(words), [["acl", "r0_path", "path", v.replace(/\/$/, "")], ["acl", "r0_path", "path_beg", v.replace(/\/$/, "") + "/"]]);
    });
    it(`health path ${JSON.stringify("/" + raw)}`, () => {
      const v = "/h" + raw;
      const cfg = attempt({ routes: [{ host: "a.example.com", path: "/v1" }], healthPath: v });
      if (cfg instanceof Error) return;
      const lines = cfg.split("\n");
      assert.equal(lines.length, benignLines);
      assert.deepEqual(words(lines.find((l) => l.includes("option httpchk"))!), ["option", "httpchk", "GET", v]);
    });
    it(`names and addresses ${JSON.stringify(raw)}`, () => {
      for (const b of [{ name: `skiff_p_${raw}` }, { slots: [{ name: `s${raw}`, addr: "10.0.0.1", port: 2, state: "ready" as const }] }, { slots: [{ name: "s1", addr: `10.0.0.1${raw}`, port: 2, state: "ready" as const }] }]) {
        const cfg = attempt(b);
        if (cfg instanceof Error) continue;
        assert.equal(cfg.split("\n").length, render({}).split("\n").length);
        for (const l of cfg.split("\n").filter((x) => /^(backend|  server|  use_backend) /.test(x))) assert.ok(words(l).length <= 5, l);
      }
    });
  }

  it("a host with a space is refused, not read as two hosts", () => {
    assert.throws(() => render({ routes: [{ host: "x.com victim.com", path: "/" }] }), /route host "x.com victim.com" cannot be used in HAProxy/);
  });

  it("ordinary hosts and paths still render, quoted", () => {
    const cfg = render({ routes: [{ host: "api.example.com", path: "/v1/items" }], healthPath: "/healthz?full=1" });
    assert.ok(cfg.includes("  acl r0_host hdr(host),field(1,:) -i api.example.com"), cfg);
    assert.ok(cfg.includes("  acl r0_path path /v1/items"));
    assert.ok(cfg.includes("  option httpchk GET '/healthz?full=1'"));
  });

  it("a slot's port and the public port must be real ports", () => {
    assert.throws(() => render({ slots: [{ name: "s1", addr: "10.0.0.1", port: 0, state: "ready" }] }), /port 0 cannot be used in HAProxy/);
    assert.throws(() => renderConfig({ httpPort: 80.5, backends: [backend({})] }, PATHS), /cannot be used in HAProxy/);
    assert.throws(() => render({ httpPort: 70000 }), /cannot be used in HAProxy/);
  });
});

describe("health checks in haproxy.cfg", () => {
  const slots: ProxyBackend["slots"] = [
    { name: "s1", addr: "127.0.0.1", port: 20001, state: "ready", instance: "local-1" },
    { name: "p1", addr: "10.0.0.2", port: 20001, state: "maint", instance: "remote-1", peer: true },
    { name: "q1", addr: "10.0.0.2", port: 20001, state: "ready", instance: "remote-1", peer: true, backup: true },
  ];
  const server = (cfg: string, name: string) => words(cfg.split("\n").find((l) => l.startsWith(`  server ${name} `))!);
  const after = (w: string[], key: string) => (w.includes(key) ? w[w.indexOf(key) + 1] : undefined);

  it("peer slots (backup qN and primary pN) are checked every 2 s, and at the app's interval while their state is changing", () => {
    const cfg = render({ intervalMs: 200, slots });
    // HAProxy wakes for an empty (maint) slot's check at its interval: 2 × peers pN slots at 200 ms kept it busy.
    for (const n of ["q1", "p1"]) assert.deepEqual([after(server(cfg, n), "inter"), after(server(cfg, n), "fastinter")], ["2000ms", "200ms"], n);
    // Local instances keep the app's interval (from default-server).
    assert.equal(after(server(cfg, "s1"), "inter"), undefined);
    assert.match(cfg, /\n {2}default-server inter 200ms /);
  });

  it("many backup peers are checked more slowly: about two checks a second for all of them, at most every 30 s", () => {
    assert.deepEqual([0, 1, 4, 5, 19, 60, 100].map(backupPeerInterval), [2000, 2000, 2000, 2500, 9500, 30_000, 30_000]);
    const many = [...slots.slice(0, 2), ...Array.from({ length: 19 }, (_, i) => ({ name: `q${i + 1}`, addr: `10.0.1.${i + 1}`, port: 20001, state: "ready" as const, peer: true, backup: true }))];
    // The backend's state says how often (the agent sets it as the peers change): a DOWN one is checked every 2 s.
    const cfg = render({ intervalMs: 200, slots: many, peerCheckMs: 9500 });
    for (let i = 1; i <= 19; i++) assert.deepEqual([after(server(cfg, `q${i}`), "inter"), after(server(cfg, `q${i}`), "fastinter"), after(server(cfg, `q${i}`), "downinter")], ["9500ms", "200ms", "2000ms"]);
    assert.equal(after(server(render({ intervalMs: 200, slots: many }), "q1"), "inter"), "2000ms", "absent: 2 s");
    assert.equal(after(server(render({ intervalMs: 200, slots: many }), "q1"), "downinter"), undefined);
    for (const bad of [Number.NaN, -5, 10 ** 9, "1s\n  stats enable" as unknown as number]) assert.match(after(server(render({ slots: many, peerCheckMs: bad }), "q1"), "inter")!, /^(2000|30000)ms$/, String(bad));
  });

  it("each backend's check timeout is the app's health timeout, not its interval", () => {
    const cfg = render({ intervalMs: 200, timeoutMs: 5000, slots });
    const lines = cfg.split("\n");
    const at = lines.indexOf("backend skiff_p_web");
    const body = lines.slice(at + 1, lines.findIndex((l, i) => i > at && l === ""));
    assert.deepEqual(body.filter((l) => l.startsWith("  timeout check")).map(words), [["timeout", "check", "5000ms"]], cfg);
  });

  it("a backend saved before it had a timeout gets skiff's default health timeout (2 s)", () => {
    assert.ok(render({ slots }).includes("\n  timeout check 2000ms\n"));
  });

  it("a timeout that is not a whole number of ms from 1 to 10 minutes is refused", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 600_001, "2s\n  stats enable" as unknown as number]) assert.throws(() => render({ timeoutMs: bad, slots }), /health timeout .* cannot be used in HAProxy/, String(bad));
  });
});

describe("the request log and the chroot", () => {
  it("a socket-path log target is left out when HAProxy chroots (it would resolve inside the chroot); an address stays", () => {
    const chrooted = { ...PATHS, user: "haproxy", group: "haproxy", chroot: "/var/lib/haproxy" };
    const cfg = renderConfig({ httpPort: 80, backends: [backend({})] }, { ...chrooted, logTarget: "/dev/log" });
    assert.ok(!/^\s*log /m.test(cfg), cfg);
    assert.match(logTargetProblem({ ...chrooted, logTarget: "/dev/log" }) ?? "", /\/dev\/log .*chroot .*\/var\/lib\/haproxy/);
    assert.ok(renderConfig({ httpPort: 80, backends: [backend({})] }, { ...chrooted, logTarget: "127.0.0.1:5140" }).includes("  log 127.0.0.1:5140 local0\n"));
    assert.ok(renderConfig({ httpPort: 80, backends: [backend({})] }, { ...PATHS, logTarget: "/dev/log" }).includes("  log /dev/log local0\n"), "no chroot: a path works");
    assert.equal(logTargetProblem({ ...chrooted, logTarget: "127.0.0.1:5140" }), undefined);
  });
});

describe("tuning for small machines", () => {
  const section = (cfg: string, name: string) => {
    const lines = cfg.split("\n");
    const at = lines.indexOf(name);
    return lines.slice(at + 1, lines.findIndex((l, i) => i > at && l === "")).map(words);
  };

  it("HAProxy's threads: as many as asked, else proxyThreads of this machine's CPUs; refused outside 1-64", () => {
    const cfg = (threads?: number) => renderConfig({ httpPort: 80, backends: [backend({})] }, { ...PATHS, threads });
    assert.deepEqual(section(cfg(1), "global").filter((w) => w[0] === "nbthread"), [["nbthread", "1"]]);
    assert.deepEqual(section(cfg(3), "global").filter((w) => w[0] === "nbthread"), [["nbthread", "3"]]);
    assert.deepEqual(section(cfg(), "global").filter((w) => w[0] === "nbthread"), [["nbthread", String(proxyThreads(availableParallelism()))]]);
    for (const bad of [0, 65, 1.5, -2]) assert.throws(() => cfg(bad), /threads .* cannot be used in HAProxy/, String(bad));
  });

  it("threads for the machine: one per CPU but one, from 1 to 4", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 8, 64].map(proxyThreads), [1, 1, 2, 3, 4, 4, 4]);
  });

  it("keep-alive to the instances with safe reuse, an hour for tunnels (WebSockets), nothing that closes server connections per request", () => {
    const defaults = section(render({}), "defaults");
    assert.deepEqual(defaults.filter((w) => w[0] === "http-reuse"), [["http-reuse", "safe"]]);
    assert.deepEqual(defaults.filter((w) => w[0] === "timeout" && w[1] === "tunnel"), [["timeout", "tunnel", "1h"]]);
    assert.ok(!/http-server-close|httpclose|forceclose/.test(render({})));
    // The zero-downtime behaviours stay: idle-close-on-response on reload, retries elsewhere on a failed attempt.
    for (const want of [["option", "idle-close-on-response"], ["option", "redispatch", "1"], ["retry-on", "all-retryable-errors"]]) assert.ok(defaults.some((w) => w.join(" ") === want.join(" ")), want.join(" "));
  });

  it("no log line and no httplog without a log target (logging costs per request)", () => {
    assert.ok(!/^\s*(log|option httplog)\b/m.test(render({})));
  });
});

describe("the route-clash check", () => {
  const state: ProxyState = { httpPort: 80, backends: [backend({ name: "skiff_victim_web", routes: [{ host: "victim.com", path: "/" }] })] };
  it("does not let a host with a space slip past it", () => {
    let clash: ReturnType<typeof routeConflicts> | undefined;
    try {
      clash = routeConflicts(state, "skiff_evil_web", [{ host: "x.com victim.com", path: "/" }], 80);
    } catch (e) {
      assert.match((e as Error).message, /route host "x.com victim.com" cannot be used in HAProxy/);
      return;
    }
    assert.equal(clash.length, 1, "either refused or seen as taking victim.com");
  });
});
