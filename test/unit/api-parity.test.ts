// Nothing the CLI can do that the API cannot (issue 10): every command that
// src/cli/main.ts registers maps to a member of Skiff, or is on the short,
// explained list of CLI-only conveniences below. A new command without an API
// method fails here until it gets one (or a reason on that list).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Skiff } from "../../src/api.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url);

/** Each command as a user types it ("deploy", "secrets set"), read from the commander calls in main.ts. */
function cliCommands(): string[] {
  const src = readFileSync(MAIN, "utf8");
  // Groups: `const machines = program.command("machines")`; their subcommands are the commands.
  const groups = new Map<string, string>();
  for (const m of src.matchAll(/const (\w+) = program\s*\.command\("([^"]+)"\)/g)) groups.set(m[1]!, m[2]!);
  const out: string[] = [];
  const calls = [...src.matchAll(/(\w+)\s*\.command\("([^"]+)"\)/g)];
  for (const [, on, name] of calls) {
    if (on === "program") {
      if (![...groups.values()].includes(name!)) out.push(name!);
    } else {
      assert.ok(groups.has(on!), `.command("${name}") is called on ${on}, which is neither program nor a group of it`);
      out.push(`${groups.get(on!)} ${name}`);
    }
  }
  // Every registration was read: a command declared some other way must be taught to this test.
  assert.equal(calls.length, (src.match(/\.command\(/g) ?? []).length, "every .command( call was parsed");
  assert.equal((src.match(/addCommand\(|new Command\(/g) ?? []).length, 1, "commands are registered with .command() only (one new Command: the program)");
  return out;
}

// The API member each command calls ("Skiff.keygen" is static).
const API: Record<string, string> = {
  validate: "validate",
  setup: "setup",
  "machines check": "machines.check",
  "machines trust": "machines.trust",
  doctor: "machines.check", // an alias of `machines check`
  build: "build",
  deploy: "deploy",
  rollback: "rollback",
  restart: "restart",
  exec: "exec",
  run: "runOneOff",
  history: "history",
  logs: "logs",
  status: "status",
  metrics: "metrics.text", // --prometheus-config: metrics.prometheusConfig
  top: "metrics.current",
  "secrets set": "secrets.set",
  "secrets unset": "secrets.unset",
  "secrets list": "secrets.list",
  "secrets show": "secrets.reveal",
  "secrets rotate-key": "secrets.rotateKey",
  "secrets keygen": "Skiff.keygen",
  scale: "scale",
  plan: "plan",
  diff: "diff",
  remove: "remove",
  backup: "backups.run", // list, restore, verify: backups.list, backups.restore, backups.verify
  accessory: "stopAccessory", // start: startAccessory; restart, status, logs, exec: the app methods by its name
  alerts: "alerts.list",
  "certs status": "certs.status",
  "certs rotate": "certs.rotate",
  "lock status": "lock.status",
  "lock release": "lock.release",
  "export k8s": "exportK8s",
};

// What only a person at a terminal needs; each says why it has no API method.
const CLI_ONLY: Record<string, string> = {
  // Writes a commented starter skiff.yml for a person to edit; code passes a config object to Skiff.open.
  init: "writes a starter file",
  // A scripted tour on this machine (setup, deploy, redeploy under load, rollback): it is itself built on Skiff.
  demo: "a scripted tour over the API",
  // A web page for a person, itself built on status, alerts.list, history, metrics.history, logs and rollback.
  dashboard: "a web page over the API",
  // An $EDITOR session over all values; code has secrets.list/reveal/set/unset.
  "secrets edit": "an editor session",
};

function member(skiff: Skiff, path: string): unknown {
  if (path.startsWith("Skiff.")) return (Skiff as unknown as Record<string, unknown>)[path.slice(6)];
  return path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], skiff);
}

describe("the API is equal to the CLI", () => {
  const commands = cliCommands();

  it("reads the commands main.ts registers", () => {
    // A floor, so a parser that finds nothing cannot pass the checks below.
    for (const c of ["deploy", "machines check", "secrets set", "lock release", "init", "diff"]) assert.ok(commands.includes(c), c);
  });

  it("every CLI command maps to a Skiff method, or is a listed CLI-only convenience", async () => {
    const skiff = await Skiff.open({ config: { project: "p", machines: { m1: { host: "10.0.0.1" } }, apps: { web: { image: "nginx:1", port: 80 } } }, env: {} });
    const missing = commands.filter((c) => !(c in API) && !(c in CLI_ONLY));
    assert.deepEqual(missing, [], "commands without an API method: add one to Skiff (and to API above)");
    for (const c of commands.filter((c) => c in API)) assert.equal(typeof member(skiff, API[c]!), "function", `${c} → ${API[c]} is not a function of Skiff`);
  });

  it("lists no command that main.ts does not register (the tables stay true)", () => {
    assert.deepEqual(Object.keys(API).filter((c) => !commands.includes(c)), []);
    assert.deepEqual(Object.keys(CLI_ONLY).filter((c) => !commands.includes(c)), []);
    assert.deepEqual(Object.keys(CLI_ONLY).filter((c) => c in API), []);
  });
});
