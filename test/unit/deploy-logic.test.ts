// Pure pieces of deploys as data: the HAProxy config, history merging, the
// rollback target, the lock holder's description, image tags.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HistoryEntry } from "../../src/contracts/model.ts";
import { imageTag } from "../../src/build/image.ts";
import { mergeHistory } from "../../src/cli/history.ts";
import type { AppSpec } from "../../src/config/model.ts";
import { describeHolder } from "../../src/exec/lock.ts";
import { previousGood } from "../../src/plan/rollback.ts";
import { renderConfig } from "../../src/proxy/config.ts";

describe("renderConfig", () => {
  const cfg = renderConfig(
    {
      httpPort: 80,
      backends: [
        { name: "skiff_p_web", routes: [{ path: "/" }], healthPath: "/healthz", intervalMs: 1000, slots: [{ name: "s1", addr: "10.0.0.1", port: 20001, state: "ready", instance: "i1" }, { name: "s2", addr: "127.0.0.1", port: 1, state: "maint" }, { name: "b1", addr: "10.0.0.1", port: 20002, state: "ready", instance: "i0", backup: true }] },
        { name: "skiff_p_api", routes: [{ host: "api.example.com", path: "/v1" }], healthPath: "/up", intervalMs: 100, slots: [] },
      ],
    },
    { statsSocket: "/run/skiff/haproxy.sock", pidFile: "/run/skiff/haproxy.pid" },
  );
  const lines = cfg.split("\n");

  it("routes the most specific first: host and path before a catch-all", () => {
    const uses = lines.filter((l) => l.includes("use_backend"));
    assert.deepEqual(uses, ["  use_backend skiff_p_api if r0_host r0_path", "  use_backend skiff_p_web"]);
    assert.ok(lines.includes("  acl r0_host hdr(host),field(1,:) -i api.example.com"));
    assert.ok(lines.includes("  acl r0_path path /v1") && lines.includes("  acl r0_path path_beg /v1/"));
    assert.ok(lines.includes("  default_backend skiff_no_route"));
  });

  it("mirrors every slot's address and state, backups included", () => {
    assert.ok(lines.includes("  server s1 10.0.0.1:20001 check"));
    assert.ok(lines.includes("  server s2 127.0.0.1:1 check disabled"));
    assert.ok(lines.includes("  server b1 10.0.0.1:20002 check backup"));
  });

  it("checks health as configured, clamps the interval, and marks a refusing server down at once", () => {
    assert.ok(lines.includes("  option httpchk GET /up"));
    assert.ok(lines.includes("  default-server inter 200ms fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down"));
    assert.ok(lines.includes("  retry-on all-retryable-errors"));
    assert.ok(lines.includes("  stats socket /run/skiff/haproxy.sock mode 600 level admin expose-fd listeners"));
    assert.ok(!cfg.includes(" log "), "no request log unless asked for");
  });
});

const h = (e: Partial<HistoryEntry>): HistoryEntry => ({ at: "2026-01-01T00:00:00.000Z", machine: "m1", project: "p", app: "web", release: 1, action: "deploy", result: "ok", ...e });

describe("history", () => {
  it("merges one deploy's entries from every machine into one row", () => {
    const rows = mergeHistory([
      h({ machine: "m1", release: 2, deployId: "d2", at: "2026-01-01T00:01:00.000Z", durationMs: 900, commit: "abc" }),
      h({ machine: "m2", release: 2, deployId: "d2", at: "2026-01-01T00:01:02.000Z", durationMs: 1200 }),
      h({ machine: "m1", release: 1, deployId: "d1" }),
    ]);
    assert.deepEqual(rows.map((r) => [r.release, Object.keys(r.machines), r.durationMs, r.commit]), [
      [1, ["m1"], undefined, undefined],
      [2, ["m1", "m2"], 1200, "abc"],
    ]);
  });

  it("a deploy undone elsewhere shows as rolled back on that machine, in the same row", () => {
    const rows = mergeHistory([
      h({ machine: "m1", release: 3, deployId: "d3", result: "ok" }),
      h({ machine: "m2", release: 3, deployId: "d3", result: "failed", reason: "never healthy" }),
      h({ machine: "m1", release: 3, deployId: "d3", result: "rolled back", reason: "m2: never healthy", at: "2026-01-01T00:00:05.000Z" }),
      h({ machine: "m1", release: 2, deployId: "d3", action: "rollback", result: "ok", at: "2026-01-01T00:00:05.000Z" }),
    ]);
    assert.deepEqual(rows.map((r) => [r.release, r.action, r.machines]), [
      [3, "deploy", { m1: { result: "rolled back", reason: "m2: never healthy" }, m2: { result: "failed", reason: "never healthy" } }],
      [2, "rollback", { m1: { result: "ok", reason: undefined } }],
    ]);
  });

  it("the rollback target is the release below the active one that served last (failed deploys and restarts do not count)", () => {
    const hist = [h({ release: 1 }), h({ release: 2 }), h({ release: 3, result: "failed" }), h({ release: 4 }), h({ release: 3, action: "restart" })];
    assert.equal(previousGood(hist, "web", 4), 2);
    assert.equal(previousGood(hist, "web", 2), 1);
    assert.equal(previousGood(hist, "web", 1), undefined);
    assert.equal(previousGood(hist, "api", 4), undefined);
  });
});

describe("lock holder", () => {
  const info = { holder: "ana@laptop#42-1", host: "laptop", pid: 42, command: "deploy web", since: "2026-01-01T00:00:00.000Z", heartbeat: "2026-01-01T00:00:00.000Z" };
  it("names who, what and since when", () => {
    assert.equal(describeHolder(info, Date.parse("2026-01-01T00:00:10Z")), "ana@laptop#42-1 (deploy web, pid 42 on laptop, since 2026-01-01T00:00:00.000Z)");
  });
  it("says when the holder looks dead", () => {
    assert.match(describeHolder(info, Date.parse("2026-01-01T00:01:00Z")), /its last heartbeat was 60s ago, so that deploy looks dead$/);
  });
});

describe("image tags", () => {
  const app = (args: Record<string, string> = {}, dockerfile = "Dockerfile") => ({ name: "web", build: { context: "/x", dockerfile, args } }) as unknown as AppSpec;
  it("are the commit, with the changes' hash when dirty, and a hash of build settings when there are any", () => {
    assert.equal(imageTag(app(), { commit: "abc123", dirty: false }, () => "h"), "abc123");
    assert.equal(imageTag(app(), { commit: "abc123", dirty: true, changesHash: "d1" }, () => "h"), "abc123-dirty-d1");
    assert.match(imageTag(app({ VERSION: "2" }), { commit: "abc123", dirty: false }, () => "h"), /^abc123-[0-9a-f]{6}$/);
    assert.notEqual(imageTag(app({ VERSION: "2" }), { commit: "c", dirty: false }, () => "h"), imageTag(app({ VERSION: "3" }), { commit: "c", dirty: false }, () => "h"));
    assert.equal(imageTag(app(), undefined, () => "ctx"), "nogit-ctx");
  });
});

describe("deploy: where images go, what history shows", () => {
  it("an app's image goes to the machines it is placed on and to its hook's machine, no other", async () => {
    const { shipTargets } = await import("../../src/exec/deploy.ts");
    const app = (name: string, placement: Record<string, number>, hook?: string) => ({ app: name, release: 2, reused: false, image: { ref: "x", runtime: "docker" as const, build: false }, placement, machines: [], batches: [], ...(hook ? { hook: { machine: hook, command: "migrate" } } : {}) });
    const t = shipTargets({ action: "deploy", project: "shop", skipped: [], apps: [app("web", { m1: 2, m2: 0, m3: 1 }), app("worker", { m1: 0, m2: 0, m3: 0 }, "m2")] });
    assert.deepEqual([...t.get("web")!].sort(), ["m1", "m3"]);
    assert.deepEqual([...t.get("worker")!], ["m2"]);
  });

  it("a deploy's summary record gives the row the whole command's time and phases; machines keep their results", () => {
    const e = (machine: string, over: Partial<HistoryEntry>): HistoryEntry => ({ at: "2026-01-01T00:00:01.000Z", machine, project: "shop", app: "web", release: 3, action: "deploy", result: "ok", deployId: "d1", durationMs: 1200, ...over });
    const rows = mergeHistory([
      e("m1", {}),
      e("m2", { durationMs: 1500 }),
      e("m1", { at: "2026-01-01T00:00:05.000Z", summary: true, durationMs: 4800, phases: { lock: 100, rollout: 3000 } }),
      e("m2", { at: "2026-01-01T00:00:05.000Z", summary: true, durationMs: 4800, phases: { lock: 100, rollout: 3000 } }),
    ]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.durationMs, 4800);
    assert.deepEqual(rows[0]!.phases, { lock: 100, rollout: 3000 });
    assert.deepEqual(Object.keys(rows[0]!.machines).sort(), ["m1", "m2"]);
    assert.ok(!("summarized" in rows[0]!));
    // Without a summary (an older CLI): the longest machine's part, as before.
    assert.equal(mergeHistory([e("m1", {}), e("m2", { durationMs: 1500 })])[0]!.durationMs, 1500);
  });
});
