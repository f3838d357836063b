// Imports point one way. Each folder of src/ may import only the folders listed
// for it (its own files always); the CLI side and the machine side share only
// contracts/ and lib/. A new folder must be placed here before it can be used.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = resolve(import.meta.dirname, "../../src");

// Lowest first. "." is src/ itself (errors.ts, api.ts).
const BASE = ["lib", "errors", "settings"];
const ALLOWED: Record<string, string[]> = {
  lib: [],
  errors: [],
  // The operator's own settings (user, docker, sockets, age key), read from the environment in one place.
  settings: [],
  config: [...BASE],
  contracts: [...BASE, "config"],
  // The machine side: what runs as skiff-agent.
  runtime: [...BASE, "contracts"],
  proxy: [...BASE, "contracts"],
  // Pure metrics parts (parsers, the ring, the exposition) the agent samples with and the CLI renders.
  metrics: [...BASE, "contracts"],
  alerts: [...BASE, "contracts", "metrics"],
  agent: [...BASE, "config", "contracts", "runtime", "proxy", "metrics", "alerts"],
  // The CLI side, in pipeline order.
  transport: [...BASE, "config", "contracts"],
  secrets: [...BASE, "config", "contracts"],
  machines: [...BASE, "config", "contracts", "transport"],
  build: [...BASE, "config", "contracts", "transport"],
  ship: [...BASE, "config", "contracts", "transport", "build"],
  plan: [...BASE, "config", "contracts", "machines", "build"],
  load: [...BASE],
  // Pure: a project → Kubernetes objects and YAML (skiff export k8s); the API reads what it needs.
  export: [...BASE, "config"],
  exec: [...BASE, "config", "contracts", "transport", "secrets", "machines", "build", "ship", "plan"],
  api: [...BASE, "config", "contracts", "transport", "secrets", "machines", "build", "ship", "plan", "exec", "metrics", "alerts", "export"],
  // `skiff dashboard`: a web page over the API (its page/ is bundled for the browser, types only from here).
  dashboard: [...BASE, "contracts", "api", "metrics"],
  cli: [...BASE, "config", "contracts", "transport", "secrets", "machines", "build", "ship", "plan", "exec", "api", "load", "metrics", "alerts", "export", "dashboard"],
};

/** The layer of a file under src/: its first folder, or the file's own name for files at the top. */
function layer(file: string): string {
  const rel = relative(SRC, file);
  const [first, second] = rel.split("/");
  if (second === undefined) return first === "api.ts" ? "api" : first!.replace(/\.ts$/, "");
  return first!;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of src.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

test("every folder of src/ has a place in the layers", () => {
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  assert.deepEqual(folders.filter((f) => !(f in ALLOWED)), []);
});

test("imports point down the layers only", () => {
  const wrong: string[] = [];
  for (const f of files(SRC)) {
    const from = layer(f);
    for (const target of imports(f)) {
      const to = layer(target);
      if (to === from) continue;
      if (!(ALLOWED[from] ?? []).includes(to)) wrong.push(`${relative(SRC, f)} → ${relative(SRC, target)} (${from} may not import ${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("no two folders import each other", () => {
  for (const [a, deps] of Object.entries(ALLOWED)) for (const b of deps) assert.ok(!(ALLOWED[b] ?? []).includes(a), `${a} ↔ ${b}`);
});
