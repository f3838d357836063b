// Every program a test, bench, the test bed or the demo runs on this machine is
// either part of the base system or listed in scripts/tools.txt, which
// scripts/tools.sh installs (CI on a brand-new machine has nothing else).
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";

const ROOT = new URL("../..", import.meta.url).pathname;
/** On every Debian machine that runs Node: Node itself and Debian's essential and required packages (coreutils, util-linux, passwd, tar, libc-bin: getconf). */
const BASE = new Set(["sh", "bash", "node", "npm", "npx", "tar", "cp", "cat", "sha256sum", "chown", "uname", "env", "true", "id", "kill", "mkfifo", "setpriv", "userdel", "useradd", "setsid", "df", "du", "getconf"]);
/** Run on the skiff machines (agent side, installed there by `skiff setup`), not on the test host. */
const ON_MACHINES = ["src/agent/", "src/runtime/", "testbed/machine/"];
/** Installed on this machine by skiff itself (`skiff setup` of a `host: local` machine). */
const BY_SETUP = new Set(["skiff-agent", "haproxy"]);
const SKIP_FILES = ["test/unit/tools.test.ts"];

function listed(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, "scripts/tools.txt"), "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (!f[0] || f[0].startsWith("#")) continue;
    assert.equal(f.length, 3, `scripts/tools.txt: "${line}" should be: use program package`);
    m.set(basename(f[1]!), f[0]);
  }
  return m;
}

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const rel = join(dir, n);
    if (statSync(join(ROOT, rel)).isDirectory()) return n === "node_modules" || n === "fixtures" ? [] : files(rel);
    return /\.(ts|mjs|js|sh)$/.test(n) ? [rel] : [];
  });
}

/** Programs started with a literal name: spawn("wrk", …), execFileSync("age", …), run("x", …), and shell lines of the scripts. */
function programsIn(rel: string): string[] {
  const text = readFileSync(join(ROOT, rel), "utf8");
  const found = [...text.matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync)\(\s*["'`]([A-Za-z0-9./_-]+)["'`]/g)].map((m) => m[1]!);
  if (rel.endsWith(".sh")) found.push(...[...text.matchAll(/^\s*(?:exec\s+)?([a-z][a-z0-9_.-]+)\s/gm)].map((m) => m[1]!));
  return found.map((p) => basename(p));
}

const SHELL_WORDS = new Set(["set", "cd", "if", "then", "fi", "for", "do", "done", "while", "case", "esac", "echo", "exit", "read", "missing", "uses", "use", "check", "local", "export", "return", "apt-get", "command", "else", "elif", "in", "printf", "trap"]);

test("every program the tests, benches, bed and demo run is installed by scripts/tools.sh or part of the base system", () => {
  const tools = listed();
  const where = ["test", "bench", "testbed", "scripts", "src"];
  const unknown: string[] = [];
  let seen = 0;
  for (const rel of where.flatMap(files)) {
    if (SKIP_FILES.includes(rel) || ON_MACHINES.some((p) => rel.startsWith(p))) continue;
    for (const prog of programsIn(rel)) {
      seen++;
      if (BASE.has(prog) || BY_SETUP.has(prog) || SHELL_WORDS.has(prog) || tools.has(prog)) continue;
      if (rel.startsWith("bench/") && tools.get(prog) === "bench") continue;
      unknown.push(`${rel}: ${prog}`);
    }
  }
  assert.ok(seen > 10, `found only ${seen} program starts: the scan is broken`);
  assert.deepEqual(unknown, [], "add these to scripts/tools.txt (or install them in the script that uses them)");
});

test("the benches install their tools first (npm run bench:* calls scripts/tools.sh bench)", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const benches = Object.entries(pkg.scripts).filter(([k]) => k.startsWith("bench:"));
  assert.ok(benches.length >= 3);
  for (const [k, v] of benches) assert.match(v, /^bash scripts\/tools\.sh bench && /, `${k} must start with the tools step`);
});
