import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";

const lines = (text: string, env?: string) => checkConfig(text, "skiff.yml", env).diagnostics.map(formatDiagnostic);

const base = `project: shop
machines:
  web1: { host: 10.0.0.1 }
apps:
  web:
    image: nginx:1.27
`;

describe("config: valid", () => {
  it("applies defaults and units", () => {
    const { project, diagnostics } = checkConfig(base, "skiff.yml");
    assert.deepEqual(diagnostics, []);
    assert.equal(project!.name, "shop");
    assert.deepEqual(project!.machines.web1, { name: "web1", host: "10.0.0.1", local: false, port: undefined, user: "root", identityFile: undefined, proxyJump: undefined, sshOptions: {}, labels: [], privateAddress: undefined, httpPort: 80, httpsPort: 443 });
    assert.deepEqual(project!.apps.web!.health, { path: "/healthz", intervalMs: 1000, timeoutMs: 2000, healthyThreshold: 2, deadlineMs: 60000 });
    assert.equal(project!.apps.web!.port, 3000);
    assert.equal(project!.apps.web!.instances, undefined, "default: one per eligible machine, decided at placement");
    assert.deepEqual(project!.apps.web!.placement, { machines: undefined, labels: [], strategy: "spread" });
  });

  it("merges project env under app env and stringifies values", () => {
    const { project } = checkConfig(`${base}    env: { A: 1, B: true }\nenv: { A: base, C: "x y" }\n`, "skiff.yml");
    assert.deepEqual(project!.apps.web!.env, { A: "1", B: "true", C: "x y" });
  });

  it("parses durations in every unit", () => {
    const { project } = checkConfig(`${base}    health: { interval: 500ms, timeout: 1.5, deadline: 2m, healthy_threshold: 3 }\n`, "skiff.yml");
    assert.deepEqual(project!.apps.web!.health, { path: "/healthz", intervalMs: 500, timeoutMs: 1500, healthyThreshold: 3, deadlineMs: 120000 });
  });

  it("an environment swaps machines and overrides counts and env", () => {
    const text = `${base}    instances: 3
    env: { LEVEL: info, KEEP: yes }
environments:
  staging:
    machines:
      stage1: { host: 10.9.0.1, labels: [web] }
    env: { STAGE: "1" }
    apps:
      web: { instances: 1, env: { LEVEL: debug } }
`;
    const prod = checkConfig(text, "skiff.yml").project!;
    assert.deepEqual(Object.keys(prod.machines), ["web1"]);
    assert.equal(prod.apps.web!.instances, 3);
    const staging = checkConfig(text, "skiff.yml", "staging").project!;
    assert.equal(staging.environment, "staging");
    assert.deepEqual(Object.keys(staging.machines), ["stage1"]);
    assert.deepEqual(staging.machines.stage1!.labels, ["web"]);
    assert.equal(staging.apps.web!.instances, 1);
    assert.deepEqual(staging.apps.web!.env, { STAGE: "1", LEVEL: "debug", KEEP: "yes" });
  });

  it("accepts the local machine and ssh settings", () => {
    const { project, diagnostics } = checkConfig(`project: p\nmachines:\n  here: { host: local }\n  far: { host: far.example, port: 2222, user: deploy, ssh: { identity_file: ~/.ssh/k, proxy_jump: bastion, options: { ConnectTimeout: 5 } } }\n`, "skiff.yml");
    assert.deepEqual(diagnostics, []);
    assert.equal(project!.machines.here!.local, true);
    assert.deepEqual(project!.machines.far!.sshOptions, { ConnectTimeout: "5" });
    assert.equal(project!.machines.far!.proxyJump, "bastion");
  });
});

describe("config: errors with file:line:col", () => {
  it("reports a misspelt key with a suggestion", () => {
    assert.deepEqual(lines(`project: shop\nmachines:\n  web1:\n    host: 10.0.0.1\n    prot: 22\n`), ['skiff.yml:5:5: unknown key "prot" in machines.web1 (did you mean "port"?)']);
  });

  it("reports every problem at once, in file order", () => {
    const text = `project: Shop
machines:
  web1:
    host: 10.0.0.1
    port: 70000
apps:
  web:
    image: x
    instances: -1
    helth: { path: /h }
    health:
      interval: 5 seconds
  api:
    port: "80"
`;
    assert.deepEqual(lines(text), [
      "skiff.yml:1:10: project: must be lowercase letters, digits and '-', starting with a letter (at most 63 characters)",
      "skiff.yml:5:11: machines.web1.port: must be at most 65535",
      "skiff.yml:9:16: apps.web.instances: must be at least 0",
      'skiff.yml:10:5: unknown key "helth" in apps.web (did you mean "health"?)',
      'skiff.yml:12:17: apps.web.health.interval: must be a duration such as "500ms", "2s", "1m" or "1h"',
      'skiff.yml:14:11: apps.api.port: expected a number, got the string "80"',
    ]);
  });

  it("reports missing required keys and unknown top-level keys", () => {
    assert.deepEqual(lines(`projet: shop\n`), [
      'skiff.yml:1:1: missing required key "project"',
      'skiff.yml:1:1: missing required key "machines"',
      'skiff.yml:1:1: unknown key "projet" (did you mean "project"?)',
    ]);
  });

  it("reports a bad machine name at its key", () => {
    assert.deepEqual(lines(`project: p\nmachines:\n  Web_1: { host: a }\n`), [
      `skiff.yml:3:3: machines: "Web_1" must be lowercase letters, digits and '-', starting with a letter (at most 63 characters)`,
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    assert.deepEqual(lines(`project: p\nmachines:\n  a: { host: x\n`), ["skiff.yml:4:1: YAML: Flow map in block collection must be sufficiently indented and end with a }"]);
  });

  it("reports duplicate keys", () => {
    assert.deepEqual(lines(`project: p\nproject: q\nmachines: {}\n`), ["skiff.yml:2:1: YAML: Map keys must be unique"]);
  });

  it("explains an empty file", () => {
    assert.deepEqual(lines(``), ["skiff.yml:1:1: the file is empty: it needs at least `project:` and `machines:` (run `skiff init` for a starter file)"]);
  });

  it("ssh options: only the allow-list, pointed at the key", () => {
    const text = `project: p\nmachines:\n  b: { host: h, ssh: { options: { StrictHostKeyChecking: "no", KnownHostsCommand: "/bin/x", ConnectTimeout: 5 } } }\n`;
    const out = lines(text);
    assert.equal(out.length, 2, out.join("\n"));
    assert.match(out[0]!, /^skiff\.yml:3:35: ssh option StrictHostKeyChecking cannot be set in skiff\.yml \(allowed: ConnectTimeout, /);
    assert.match(out[1]!, /^skiff\.yml:3:64: ssh option KnownHostsCommand cannot be set in skiff\.yml/);
  });

  it("cross-field rules: image xor build, machines present, one local", () => {
    const text = `project: p
machines:
  a: { host: local }
  b: { host: local }
apps:
  both: { image: x, build: { context: . } }
  none: { port: 80 }
  proc: { run: node server.js, image: x }
  box: { image: x, artifact: dist }
`;
    assert.deepEqual(lines(text), [
      'skiff.yml:4:14: machine "b" is a second "local" machine; only one machine can be this one',
      'skiff.yml:6:9: app "both" has "image" and "build" (keep one: image runs a published image, build makes one from source, run starts a command as processes)',
      'skiff.yml:7:9: app "none" needs "image", "build" or "run" (e.g. image: nginx:1.27, build: { context: . }, or run: node server.js)',
      'skiff.yml:8:9: app "proc" has "image" and "run" (keep one: image runs a published image, build makes one from source, run starts a command as processes)',
      'skiff.yml:9:20: "artifact" is for process apps (with "run"); app "box" runs a container (remove "artifact", or replace image/build with run:)',
    ]);
    assert.deepEqual(lines(`project: p\nmachines: {}\n`), ["skiff.yml:2:11: no machines: add at least one under machines: (machines: { web1: { host: 203.0.113.10 } })"]);
  });

  it("an unknown environment, and an overlay for an unknown app, get suggestions", () => {
    const text = `${base}environments:\n  staging:\n    apps:\n      wbe: { instances: 2 }\n`;
    assert.deepEqual(lines(text, "stagign"), ['skiff.yml:8:3: environment "stagign" is not defined (defined: staging) (did you mean "staging"?)']);
    assert.deepEqual(lines(text, "staging"), ['skiff.yml:10:7: environment "staging" overrides app "wbe", which is not defined under apps (did you mean "web"?)']);
  });

  it("a rule broken by an overlay points at the overlay", () => {
    const text = `${base}environments:\n  staging:\n    machines: {}\n`;
    assert.deepEqual(lines(text), []);
    assert.deepEqual(lines(text, "staging"), ["skiff.yml:9:15: no machines: add at least one under machines: (machines: { web1: { host: 203.0.113.10 } })"]);
  });
});

describe("config: names are looked up as names", () => {
  it("the loaded project's machines and apps have no prototype: `constructor` or `toString` finds nothing", () => {
    const { project } = checkConfig(base, "skiff.yml");
    for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      assert.equal((project!.machines as Record<string, unknown>)[name], undefined, `machines.${name}`);
      assert.equal((project!.apps as Record<string, unknown>)[name], undefined, `apps.${name}`);
    }
    assert.deepEqual(Object.keys(project!.machines), ["web1"]);
  });

  it("an environment overlay for an app named like a prototype property is a problem, and writes nothing into Object", () => {
    const text = `${base}environments:\n  staging:\n    apps:\n      constructor: { instances: 2 }\n`;
    assert.deepEqual(lines(text, "staging"), ['skiff.yml:10:7: environment "staging" overrides app "constructor", which is not defined under apps']);
    assert.equal((Object as unknown as { instances?: unknown }).instances, undefined);
  });
});

describe("config: secret names", () => {
  it("`__proto__` is no secret or env name; `constructor` and `toString` are plain names", () => {
    for (const form of ["[__proto__]", "{ __proto__: A }", "{ A: __proto__ }"]) {
      assert.match(lines(`${base}    secrets: ${form}\n`).join("\n"), /skiff\.yml:7:\d+: .*(environment variable name|__proto__)/, form);
    }
    const { project, diagnostics } = checkConfig(`${base}    secrets: [constructor, toString]\n`, "skiff.yml");
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(Object.entries(project!.apps.web!.secrets), [["constructor", "constructor"], ["toString", "toString"]]);
  });
});

describe("config: file and volume paths name something inside", () => {
  const proc = `project: shop\nmachines:\n  web1: { host: 10.0.0.1 }\napps:\n  web:\n    run: node server.js\n`;
  it('"." and "./" (the working directory itself) and "/" (the root) are refused', () => {
    for (const p of [".", "./", "./.", ".//", "/", "//", "/./"]) {
      for (const [text, what] of [[`${proc}    volumes: { data: "${p}" }\n`, "volume"], [`${proc}    files: { "${p}": app.env }\n`, "file"], [`${base}    volumes: { data: "${p}" }\n`, "container volume"]]) {
        assert.ok(lines(text!).length > 0, `${what} path ${JSON.stringify(p)} passes validate`);
      }
    }
    assert.deepEqual(lines(`${proc}    volumes: { data: ./data }\n    files: { "./config/app.env": app.env }\n`), []);
  });
});
