// Hostile values against HAProxy's Runtime API: `;` and newlines separate
// commands there, so every argument is checked before a byte is sent. A real
// unix socket stands in for HAProxy's and records what reaches it.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RuntimeApi } from "../../src/proxy/runtime-api.ts";
import { INJECTION_CASES } from "./injection-cases.ts";

let server: Server;
let received: string[] = [];
let api: RuntimeApi;

before(async () => {
  const sock = join(mkdtempSync(join(tmpdir(), "skiff-rt-")), "haproxy.sock");
  server = createServer((c) => {
    let buf = "";
    c.on("data", (b) => {
      buf += b;
      if (!buf.endsWith("\n")) return;
      received.push(buf);
      // Answers as HAProxy does: `set server … addr` says what changed, the rest say nothing.
      c.end(/ addr /.test(buf) ? "IP changed from '127.0.0.1' to '10.0.0.2', port changed from '1' to '8080' by 'stats socket command'\n" : /^show servers state/.test(buf) ? "1\n# be_id be_name\n" : /^show stat skiff_gone /.test(buf) ? "No such proxy.\n\n" : /^show stat/.test(buf) ? "# pxname,svname,scur\n" : "\n");
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  api = new RuntimeApi(sock);
});
after(() => server.close());

/** Every method, with one argument replaced by a hostile value. */
const calls: { what: string; call: (v: string) => Promise<unknown> }[] = [
  { what: "setState backend", call: (v) => api.setState(v, "s1", "ready") },
  { what: "setState server", call: (v) => api.setState("skiff_p_web", v, "ready") },
  { what: "setState state", call: (v) => api.setState("skiff_p_web", "s1", v as "ready") },
  { what: "setAddr backend", call: (v) => api.setAddr(v, "s1", "10.0.0.2", 8080) },
  { what: "setAddr server", call: (v) => api.setAddr("skiff_p_web", v, "10.0.0.2", 8080) },
  { what: "setAddr addr", call: (v) => api.setAddr("skiff_p_web", "s1", v, 8080) },
  { what: "setAddr addr (after a real address)", call: (v) => api.setAddr("skiff_p_web", "s1", `10.0.0.2${v}`, 8080) },
  { what: "setAddr port", call: (v) => api.setAddr("skiff_p_web", "s1", "10.0.0.2", v as unknown as number) },
  { what: "apply backend", call: (v) => api.apply(v, [{ server: "s1", state: "ready" }]) },
  { what: "apply server", call: (v) => api.apply("skiff_p_web", [{ server: "s1", state: "maint" }, { server: v, addr: "10.0.0.2", port: 8080 }]) },
  { what: "apply addr", call: (v) => api.apply("skiff_p_web", [{ server: "s1", addr: v, port: 8080 }]) },
  { what: "apply addr (after a real address)", call: (v) => api.apply("skiff_p_web", [{ server: "s1", addr: `10.0.0.2${v}`, port: 8080 }]) },
  { what: "apply state", call: (v) => api.apply("skiff_p_web", [{ server: "s1", state: v as "ready" }]) },
  { what: "serverStates backend", call: (v) => api.serverStates(v) },
  { what: "sessions backend", call: (v) => api.sessions(v) },
];

describe("Runtime API arguments", () => {
  for (const raw of INJECTION_CASES.filter((c) => c !== "plain")) {
    // "10.0.0.2" + "" is a valid address: that pairing is not a hostile value.
    for (const { what, call } of calls.filter((c) => raw || !c.what.includes("after"))) {
      it(`${what} = ${JSON.stringify(raw)} is refused before anything is sent`, async () => {
        received = [];
        await assert.rejects(call(raw), /cannot be used in HAProxy/);
        assert.deepEqual(received, []);
      });
    }
  }

  it("a private address with a second command is refused (`;` separates commands)", async () => {
    received = [];
    await assert.rejects(api.setAddr("skiff_p_web", "s1", "10.0.0.2 port 80; set server skiff_other_web/s1 state maint", 8080), /address .* cannot be used in HAProxy/);
    await assert.rejects(api.setAddr("skiff_p_web", "s1", "10.0.0.2", 80.5), /port 80.5 cannot be used/);
    assert.deepEqual(received, []);
  });

  it("valid arguments reach HAProxy as one command line each", async () => {
    received = [];
    await api.setState("skiff_p_web", "s1", "drain");
    await api.setAddr("skiff_p_web", "p2", "fd00::2", 8080);
    await api.serverStates("skiff_p_web");
    await api.sessions("skiff_p_web");
    await api.info();
    assert.deepEqual(received, ["set server skiff_p_web/s1 state drain\n", "set server skiff_p_web/p2 addr fd00::2 port 8080\n", "show servers state skiff_p_web\n", "show stat skiff_p_web 4 -1\n", "show info\n"]);
  });

  it("sessions of a backend HAProxy does not know is an error (a drain asks again), not 'no sessions left'", async () => {
    await assert.rejects(api.sessions("skiff_gone"), /HAProxy refused "show stat skiff_gone 4 -1": No such proxy/);
  });
});

describe("Runtime API batches", () => {
  it("apply sends the changes in order, `; `-separated, 40 to a request, and takes HAProxy's answers to address changes", async () => {
    received = [];
    const ops = Array.from({ length: 45 }, (_, i) => (i % 3 === 1 ? { server: `p${i}`, addr: "10.0.0.2", port: 8080 } : { server: `p${i}`, state: (i % 2 ? "ready" : "maint") as "ready" | "maint" }));
    await api.apply("skiff_p_web", ops);
    assert.equal(received.length, 2);
    const sent = received.flatMap((r) => r.trim().split("; "));
    assert.equal(sent.length, 45);
    assert.equal(sent[0], "set server skiff_p_web/p0 state maint");
    assert.equal(sent[1], "set server skiff_p_web/p1 addr 10.0.0.2 port 8080");
    assert.equal(received[0]!.trim().split("; ").length, 40);
  });

  it("a refusal in a batch's answer fails it, quoting HAProxy", async () => {
    const refusing = createServer((c) => c.on("data", () => c.end("IP changed from '127.0.0.1' to '10.0.0.2' by 'stats socket command'\nNo such server.\n")));
    const sock = join(mkdtempSync(join(tmpdir(), "skiff-rt-")), "haproxy.sock");
    await new Promise<void>((r) => refusing.listen(sock, r));
    try {
      await assert.rejects(new RuntimeApi(sock).apply("skiff_p_web", [{ server: "s1", addr: "10.0.0.2", port: 8080 }, { server: "s99", state: "ready" }]), /HAProxy refused a change of backend skiff_p_web \(2 commands from "set server skiff_p_web\/s1 addr 10\.0\.0\.2 port 8080"\): No such server\./);
    } finally {
      refusing.close();
    }
  });
});
