// Property test over the skiff.yml schema: generated valid configs load with no
// problem and sane numbers; generated invalid ones (one known mutation each)
// give a positioned problem, never an exception. Then the nastiest inputs
// through the CLI: exit 2, no stack trace, no hang.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Node } from "yaml";
import { checkConfig, checkConfigEverywhere } from "../../src/config/load.ts";
import type { Diagnostic } from "../../src/errors.ts";
import { invalidConfig, rng, validCase, type Case, type Path } from "./config-gen.ts";
import { skiff, stackLines } from "./cli-fresh.ts";

const SEED = Number(process.env.SKIFF_PROPERTY_SEED ?? 20250909);
const VALID = Number(process.env.SKIFF_PROPERTY_VALID ?? 150);
const INVALID = Number(process.env.SKIFF_PROPERTY_INVALID ?? 500);
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What `skiff validate` checks: the file as written and every environment overlay. */
const checkAll = (text: string): Diagnostic[] => checkConfigEverywhere(text, "skiff.yml");

/** A valid config loads in every environment, with numbers skiff can hand to timers, Docker and cgroups. */
function saneEverywhere(text: string): string | undefined {
  const envs = Object.keys((parseDocument(text).toJS() as { environments?: object }).environments ?? {});
  for (const env of [undefined, ...envs]) {
    const bad = saneProject(text, env);
    if (bad) return `${env ?? "(no environment)"}: ${bad}`;
  }
  return undefined;
}

/** Lines where a problem about the value at `path` may be reported: the value's, its key's, or its owner's. */
function expectedLines(text: string, path: Path): Set<number> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const lines = new Set<number>();
  for (const p of [path, path.slice(0, -1)]) {
    const node = doc.getIn(p, true) as Node | undefined;
    if (node?.range) lines.add(lc.linePos(node.range[0]).line);
    const owner = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
    if (isMap(owner)) for (const it of owner.items) if (isPair(it) && isScalar(it.key) && String(it.key.value) === String(p[p.length - 1]) && it.key.range) lines.add(lc.linePos(it.key.range[0]).line);
  }
  return lines;
}

/** Numbers skiff will hand to timers, Docker and cgroups: finite and in range. */
function saneProject(text: string, env?: string): string | undefined {
  const { project } = checkConfig(text, "skiff.yml", env);
  if (!project) return "no project";
  for (const a of Object.values(project.apps)) {
    const ms = [a.health.intervalMs, a.health.timeoutMs, a.health.deadlineMs, a.deploy.drainMs, a.deploy.probationMs, a.hooks.timeoutMs, a.deploy.stopTimeoutS * 1000];
    if (!ms.every((v) => Number.isInteger(v) && v >= 1 && v <= MAX_TIMER_MS)) return `${a.name}: durations ${ms.join(",")}`;
    const mem = a.resources.memoryBytes;
    if (mem !== undefined && !(Number.isSafeInteger(mem) && mem >= 6 * 2 ** 20)) return `${a.name}: memory ${mem}`;
  }
  return undefined;
}

describe("config property: generated skiff.yml", () => {
  it(`${VALID} valid configs load; ${INVALID} invalid ones each give a positioned problem (seed ${SEED})`, (t) => {
    const r = rng(SEED);
    const failures: string[] = [];
    const kinds = new Map<string, { n: number; accepted: number; threw: number; unpositioned: number; misplaced: number }>();
    const count = (kind: string) => kinds.get(kind) ?? (kinds.set(kind, { n: 0, accepted: 0, threw: 0, unpositioned: 0, misplaced: 0 }), kinds.get(kind)!);
    const started = Date.now();

    for (let i = 0; i < VALID; i++) {
      const c = validCase(r);
      const k = count("valid");
      k.n++;
      try {
        const d = checkAll(c.yaml);
        if (d.length) {
          k.accepted++; // here: "rejected"
          failures.push(`valid config rejected: ${d.map((x) => `${x.line}:${x.col} ${x.message}`).join("; ")}\n${c.yaml}`);
        } else {
          const bad = saneEverywhere(c.yaml);
          if (bad) failures.push(`valid config normalized to insane numbers: ${bad}\n${c.yaml}`);
        }
      } catch (e) {
        k.threw++;
        failures.push(`valid config threw ${(e as Error).stack}\n${c.yaml}`);
      }
    }

    for (let i = 0; i < INVALID; i++) {
      const c: Case = invalidConfig(r);
      const k = count(c.kind);
      k.n++;
      let d: Diagnostic[];
      try {
        d = checkAll(c.yaml);
      } catch (e) {
        k.threw++;
        failures.push(`[${c.kind}] threw ${(e as Error).name}: ${(e as Error).message.slice(0, 200)}\n${c.yaml.slice(0, 600)}`);
        continue;
      }
      if (!d.length) {
        k.accepted++;
        failures.push(`[${c.kind}] accepted: ${JSON.stringify(c.path)}\n${c.yaml.slice(0, 1500)}`);
        continue;
      }
      if (!d.every((x) => x.line >= 1 && x.col >= 1 && x.file === "skiff.yml")) {
        k.unpositioned++;
        failures.push(`[${c.kind}] a problem without file:line:col: ${JSON.stringify(d)}`);
        continue;
      }
      if (c.path) {
        const want = expectedLines(c.yaml, c.path);
        if (!d.some((x) => want.has(x.line))) {
          k.misplaced++;
          failures.push(`[${c.kind}] no problem on line ${[...want].join("/")} for ${c.path.join(".")}: ${d.map((x) => `${x.line}:${x.col} ${x.message}`).join("; ")}\n${c.yaml}`);
        }
      }
    }

    const report = [...kinds].map(([kind, s]) => `${kind}: ${s.n}${s.accepted ? ` (${kind === "valid" ? "rejected" : "accepted"} ${s.accepted})` : ""}${s.threw ? ` (threw ${s.threw})` : ""}${s.unpositioned ? ` (unpositioned ${s.unpositioned})` : ""}${s.misplaced ? ` (misplaced ${s.misplaced})` : ""}`);
    const invalidTotal = [...kinds].filter(([k]) => k !== "valid").reduce((n, [, s]) => n + s.n, 0);
    const badInvalid = [...kinds].filter(([k]) => k !== "valid").reduce((n, [, s]) => n + s.accepted + s.threw + s.unpositioned + s.misplaced, 0);
    const summary = `generated ${VALID} valid + ${invalidTotal} invalid configs in ${Date.now() - started} ms; ${badInvalid} of ${invalidTotal} invalid configs not reported properly\n  ${report.join("\n  ")}`;
    t.diagnostic(summary);
    console.log(summary);
    assert.equal(failures.length, 0, `${failures.length} failures; first ones:\n\n${failures.filter((f) => !process.env.SKIFF_PROPERTY_ONLY || f.includes(process.env.SKIFF_PROPERTY_ONLY)).slice(0, 8).join("\n\n----\n")}`);
  });
});

describe("config property: the CLI on the nastiest inputs", () => {
  const dir = mkdtempSync(join(tmpdir(), "skiff-config-property-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const validate = (name: string, text: string, args: string[] = []) => {
    const d = mkdtempSync(join(dir, name + "-"));
    writeFileSync(join(d, "skiff.yml"), text);
    return skiff(["validate", ...args], { cwd: d });
  };
  const noStack = (r: { stderr: string; stdout: string }) => assert.deepEqual(stackLines(r.stderr + r.stdout), [], r.stderr);

  it("an alias bomb: exit 2 with file:line:col, no stack trace", () => {
    const r = validate("bomb", `project: p\nmachines:\n  a: { host: x }\nenv:\n  A: &a [x, x, x, x, x, x, x, x, x]\n  B: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n  C: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n  D: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`);
    noStack(r);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /skiff\.yml:\d+:\d+: .*alias/i);
  });

  it("an unresolved alias: exit 2 with file:line:col, no stack trace", () => {
    const r = validate("alias", `project: p\nmachines:\n  a: { host: x }\nenv:\n  A: *nope\n`);
    noStack(r);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /skiff\.yml:5:6: .*nope/);
  });

  it("a FIFO as the config path is refused at once, not waited on", () => {
    const fifo = join(dir, "fifo.yml");
    execFileSync("mkfifo", [fifo]);
    const r = skiff(["validate", "-c", fifo], { timeoutMs: 8000 });
    assert.equal(r.signal, null, "validate hung on a FIFO (killed after 8 s)");
    noStack(r);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /not a regular file/);
  });

  it("a huge file is refused with its size", () => {
    const r = validate("huge", `project: p\nmachines:\n  a: { host: x }\nenv:\n  A: "${"x".repeat(5 * 2 ** 20)}"\n`);
    noStack(r);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /too large/);
  });

  it("`machines: [constructor]` and an `__proto__` env key are problems, not prototype lookups", () => {
    const r = validate("proto", `project: p\nmachines:\n  a: { host: x }\napps:\n  web:\n    image: x\n    machines: [constructor]\n    env:\n      __proto__: x\n`);
    noStack(r);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /skiff\.yml:7:15: app "web" names machine "constructor", which is not defined/);
    assert.match(r.stderr, /skiff\.yml:9:7: .*__proto__/);
  });

  it("validate checks every environment overlay, naming it, without -e", () => {
    const r = validate("envs", `project: p\nmachines:\n  a: { host: x }\napps:\n  web: { image: x, machines: [a] }\nenvironments:\n  staging:\n    machines:\n      s1: { host: y }\n  prod: {}\n`);
    noStack(r);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /skiff\.yml:5:\d+: .*environment staging.*machine "a"|skiff\.yml:5:\d+: .*machine "a".*environment staging/);
  });
});
