// A seeded generator over the skiff.yml schema, for the config property test:
// valid configs (every field the schema has, in bounds) and invalid ones, each
// made from a valid one by ONE known mutation whose place in the file is known.
import { stringify } from "yaml";

export type Rng = () => number;

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const maybe = (r: Rng, p = 0.5) => r() < p;
const some = <T>(r: Rng, xs: readonly T[], max = xs.length): T[] => xs.filter(() => maybe(r)).slice(0, max);

type Obj = Record<string, unknown>;

// Valid values, in bounds.
const NAMES = ["web", "api", "db", "w1", "m-2", "edge", "a", "worker-3", "constructor-x", "tostring"];
const HOSTNAMES = ["10.0.0.1", "192.168.1.20", "::1", "2001:db8::5", "web1.example.com", "bastion", "my_box", "h-1.internal", "203.0.113.7"];
const ROUTE_HOSTS = ["example.com", "shop.example.com", "a.b.c.d.example", "x1.io", "xn--bcher-kva.example", "localhost", "203.0.113.9"];
const PATHS = ["/", "/api", "/api/v1", "/a-b_c.d~e", "/%7Euser", "/x/y/z/", "/@me", "/a:b", "/a+b,c;d=e&f!g*(h)"];
const HEALTH_PATHS = ["/healthz", "/health?full=1", "/status/ready", "/", "/h%20x"];
const ADDRS = ["10.0.0.5", "172.16.3.4", "fd00::1", "::1", "192.0.2.1"];
const DURATIONS = { interval: ["100ms", "1s", 2, "1m", "0.5s"], timeout: ["1ms", "500ms", "2s", 3, "1m"], deadline: ["1s", "60s", "10m", 90, "24h"], drain_timeout: ["1ms", "30s", "5m", 10, "24h"], stop_timeout: ["1s", "10s", 5, "1h"], probation: ["1ms", "30s", "1h", 60, "24h"], timeout_hook: ["1s", "10m", 600, "24h"] };
const SIZES = ["6M", "256M", "1.5G", "512Mi", "64MiB", 6291456, 1073741824, "1T", "1024T", "2g"];
const RECIPIENTS = ["age1qy8u04udgssc8wssu6fas3c0mhspuy4ttpc42xl7xahywx2dnc8qtta4np", "age1mpc8f5psyj6vsfmk8key57ap6dtt3lky7gl9mdy2gsrw4yk294qqasgg55"];
const SSH_OPTIONS: Obj[] = [{ ConnectTimeout: 5 }, { ServerAliveInterval: 10, ServerAliveCountMax: 3 }, { Ciphers: "-chacha20-poly1305@openssh.com" }, { LogLevel: "ERROR", Compression: "yes" }];
const ENV_VALUES = ["x", "two words", 1, 0.5, true, "line1\nline2", "$(not run)", "ünïcödé", ""];
const ENV_NAMES = ["A", "LEVEL", "DB_URL", "_X", "constructor", "toString", "hasOwnProperty"];

function machine(r: Rng, local: boolean): Obj {
  const m: Obj = { host: local ? "local" : pick(r, HOSTNAMES) };
  if (maybe(r, 0.3)) m.port = int(r, 1, 65535);
  if (maybe(r, 0.3)) m.user = pick(r, ["root", "deploy", "first.last", "ci_bot", "user$"]);
  if (maybe(r, 0.3)) {
    const ssh: Obj = {};
    if (maybe(r)) ssh.identity_file = pick(r, ["~/.ssh/id_ed25519", "/keys/k", "keys/deploy key"]);
    if (maybe(r)) ssh.proxy_jump = pick(r, ["bastion", "jump@bastion.example.com:2222", "a,b@10.0.0.1", "u@[2001:db8::1]:22"]);
    if (maybe(r)) ssh.options = { ...pick(r, SSH_OPTIONS) };
    m.ssh = ssh;
  }
  if (maybe(r, 0.4)) m.labels = some(r, ["web", "db", "edge"]);
  if (maybe(r, 0.4)) m.private_address = pick(r, ADDRS);
  if (maybe(r, 0.2)) m.http_port = int(r, 1, 65535);
  return m;
}

function app(r: Rng, machines: string[]): Obj {
  const kind = pick(r, ["image", "build", "run"] as const);
  const a: Obj = {};
  if (kind === "image") a.image = pick(r, ["nginx:1.27", "ghcr.io/x/y@sha256:abc"]);
  if (kind === "build") a.build = maybe(r) ? { context: "." } : { context: "svc", dockerfile: "Dockerfile.prod", args: { V: "1" } };
  if (kind === "run") {
    a.run = "node server.js";
    if (maybe(r)) a.artifact = maybe(r) ? "dist" : { dir: "dist", build: "npm ci && npm run build" };
    if (maybe(r)) a.user = pick(r, ["nobody", "app", "www-data"]);
  }
  if (maybe(r, 0.3)) a.port = int(r, 1, 65535);
  if (maybe(r, 0.4)) a.resources = { ...(maybe(r) ? { cpu: pick(r, [0.01, 0.5, 1, 2, 64, 1024]) } : {}), ...(maybe(r) ? { memory: pick(r, SIZES) } : {}) };
  if (maybe(r, 0.4)) a.instances = int(r, 0, 1000);
  if (maybe(r, 0.3)) a.machines = some(r, machines).concat(machines[0]!).filter((x, i, xs) => xs.indexOf(x) === i);
  if (maybe(r, 0.2)) a.labels = some(r, ["web", "db"]);
  if (maybe(r, 0.2)) a.strategy = pick(r, ["spread", "binpack"]);
  if (maybe(r, 0.5)) {
    const h: Obj = {};
    if (maybe(r)) h.path = pick(r, HEALTH_PATHS);
    if (maybe(r)) h.interval = pick(r, DURATIONS.interval);
    if (maybe(r)) h.timeout = pick(r, DURATIONS.timeout);
    if (maybe(r)) h.healthy_threshold = int(r, 1, 100);
    if (maybe(r)) h.deadline = pick(r, DURATIONS.deadline);
    a.health = h;
  }
  if (maybe(r, 0.6)) a.routes = Array.from({ length: int(r, 1, 3) }, () => ({ ...(maybe(r) ? { host: pick(r, ROUTE_HOSTS) } : {}), ...(maybe(r) ? { path: pick(r, PATHS) } : {}) }));
  if (maybe(r, 0.5)) a.env = env(r);
  if (maybe(r, 0.2)) a.secrets = maybe(r) ? ["DB_PASSWORD"] : { DATABASE_URL: "db_url" };
  const rel = Boolean(a.run);
  if (maybe(r, 0.3)) a.files = { [rel ? "config/app.env" : "/etc/app.env"]: maybe(r) ? "app.env" : { source: "app.env", mode: "0600", template: true } };
  if (maybe(r, 0.3)) a.volumes = { data: rel ? "data" : "/var/lib/data" };
  if (maybe(r, 0.2)) a.hooks = { pre_deploy: "npm run migrate", ...(maybe(r) ? { timeout: pick(r, DURATIONS.timeout_hook) } : {}) };
  if (maybe(r, 0.4)) {
    const d: Obj = {};
    if (maybe(r)) d.max_parallel = int(r, 1, 100);
    if (maybe(r)) d.drain_timeout = pick(r, DURATIONS.drain_timeout);
    if (maybe(r)) d.stop_timeout = pick(r, DURATIONS.stop_timeout);
    if (maybe(r)) d.keep_warm = maybe(r);
    if (maybe(r)) d.probation = pick(r, DURATIONS.probation);
    if (maybe(r)) d.keep_releases = int(r, 2, 100);
    a.deploy = d;
  }
  return a;
}

function env(r: Rng): Obj {
  return Object.fromEntries(some(r, ENV_NAMES, 4).map((k) => [k, pick(r, ENV_VALUES)]));
}

/** A valid config as data. */
export function validConfig(r: Rng): Obj {
  const names = some(r, NAMES, 3);
  const machineNames = names.length ? names : ["m1"];
  const machines = Object.fromEntries(machineNames.map((n, i) => [n, machine(r, i === 0 && maybe(r, 0.2))]));
  const c: Obj = { project: pick(r, ["shop", "p", "my-project-1"]), machines };
  const appNames = some(r, ["web", "api", "worker", "constructor", "valueof"], 3);
  if (appNames.length) c.apps = Object.fromEntries(appNames.map((n) => [n, app(r, machineNames)]));
  if (maybe(r, 0.3)) c.env = env(r);
  if (maybe(r, 0.3)) c.secrets = { recipients: some(r, RECIPIENTS).length ? [RECIPIENTS[0]!] : RECIPIENTS };
  if (maybe(r, 0.5)) {
    const envs: Obj = {};
    for (const e of some(r, ["staging", "prod", "dev"], 2)) {
      const o: Obj = {};
      if (maybe(r, 0.4)) o.machines = { [`${e}1`]: machine(r, false) };
      if (maybe(r, 0.4)) o.env = env(r);
      const apps: Obj = {};
      // Swapped machines: every app is pinned to the overlay's machines (the base ones are gone there).
      if (o.machines) for (const n of appNames) apps[n] = { machines: Object.keys(o.machines as Obj) };
      if (appNames.length && maybe(r, 0.6)) {
        const target = pick(r, appNames);
        apps[target] = { ...(apps[target] as Obj | undefined), instances: int(r, 0, 10), ...(maybe(r) ? { env: env(r) } : {}) };
      }
      if (Object.keys(apps).length) o.apps = apps;
      envs[e] = o;
    }
    if (Object.keys(envs).length) c.environments = envs;
  }
  // Nothing shared with the tables above: a mutation must change this config only.
  return structuredClone(c);
}

export type Path = (string | number)[];

export interface Mutation {
  kind: string;
  /** Where the mutated value is in the document: a problem must be reported on this line (or its key's). */
  path?: Path;
  /** Mutations done on the text (alias bombs, deep nesting): any positioned problem will do. */
  text?: (yaml: string) => string;
}

const BIG = "1" + "0".repeat(400);

/** Bad values per kind, and where they go. Each is clearly invalid by the schema's documented rules. */
const FIELD_MUTATIONS: { kind: string; where: (c: Obj, r: Rng) => Path | undefined; bad: readonly unknown[] }[] = [
  { kind: "wrong-type", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "port"], bad: ["22", [22], { a: 1 }, true] },
  { kind: "wrong-type", where: (c, r) => appPath(c, r, "instances"), bad: ["3", null, [1]] },
  { kind: "wrong-type", where: (c, r) => appPath(c, r, "routes"), bad: ["/", { path: "/" }, 5] },
  { kind: "wrong-type", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "host"], bad: [12, ["a"], null, true] },
  { kind: "duration-bound", where: (c, r) => appPath(c, r, "health", pick(r, ["interval", "timeout", "deadline"])), bad: ["0s", "0ms", 0, -1, "2400000000h", `${BIG}s`, "25h", 1e12, "0.0001ms"] },
  { kind: "duration-bound", where: (c, r) => appPath(c, r, "deploy", pick(r, ["drain_timeout", "stop_timeout", "probation"])), bad: ["0s", 0, "2400000000h", `${BIG}ms`, "25h", 100000, "0.4ms"] },
  { kind: "duration-bound", where: (c, r) => appPath(c, r, "hooks", "timeout"), bad: ["0s", "9999h", `${BIG}s`] },
  { kind: "duration-bound", where: (c, r) => appPath(c, r, "health", "interval"), bad: ["10ms", "99ms", 0.05] },
  { kind: "size-bound", where: (c, r) => appPath(c, r, "resources", "memory"), bad: ["0", 0, "1", "4M", "5Mi", BIG, `${BIG}M`, "2048T", 1, "0.001K", 2 ** 60] },
  { kind: "number-bound", where: (c, r) => appPath(c, r, "resources", "cpu"), bad: [0, -1, 0.001, 2000, 1e-300] },
  { kind: "number-bound", where: (c, r) => appPath(c, r, "instances"), bad: [-1, 1001, 1.5, 1e300] },
  { kind: "number-bound", where: (c, r) => appPath(c, r, "health", "healthy_threshold"), bad: [0, 101, 2.5] },
  { kind: "number-bound", where: (c, r) => appPath(c, r, "deploy", pick(r, ["max_parallel", "keep_releases"])), bad: [0, 101, -5, 1.5] },
  { kind: "number-bound", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), pick(r, ["port", "http_port"])], bad: [0, 65536, -22, 22.5] },
  { kind: "route-host", where: (c, r) => appPath(c, r, "routes", 0, "host"), bad: ["x.com victim.com", "a.com\n  acl x always_true", "a;b.com", "-a.com", "a..com", "*.x.com", "", "a_b.com", "x.com:80", `${"a".repeat(64)}.com`, "x.com#", 'a"b', "a\\b", "a\tb", "Ex\u0000ample.com", "ünï.com", "a.com."] },
  { kind: "path", where: (c, r) => appPath(c, r, "routes", 0, "path"), bad: ["api", "/a b", "/a\nuse_backend x", "/a#b", '/a"b', "/a\\b", "/a'b", "/a\tb", "/a\u0000", "/a$b", "/a?b=1", "/a%zz", " /a", "/a\r"] },
  { kind: "path", where: (c, r) => appPath(c, r, "health", "path"), bad: ["healthz", "/h z", "/h\nx", "/h#x", '/h"', "/h\\", "/h\u0000", "/h'x", "/h%g1"] },
  { kind: "address", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "private_address"], bad: ["10.0.0.1;shutdown sessions", "10.0.0.1 ", "not-an-ip", "999.1.1.1", "10.0.0.1\nx", "", "10.0.0.1:80", "localhost", 10] },
  { kind: "ssh-host", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "host"], bad: ["-oProxyCommand=sh -c 'id > /tmp/x'", "a b", "a\nb", "", "root@host", "a;b", "-host", "h\u0000", "a/b", "$(id)"] },
  { kind: "ssh-user", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "user"], bad: ["-oProxyCommand=x", "a b", "root\n", "", "a@b", "a:b", "x".repeat(65)] },
  { kind: "proxy-jump", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "ssh", "proxy_jump"], bad: ["-oProxyCommand=x", "a b", "host,-J", "u@h:99999", "u@h:0", "a\nb", "", ",", "u@", "@h", "h:", "-x@h"] },
  { kind: "identity-file", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "ssh", "identity_file"], bad: ["-oProxyCommand=x", "~/.ssh/k\nx", "", "k\u0000", "k\r"] },
  { kind: "ssh-option", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "ssh", "options", pick(r, ["ProxyCommand", "KnownHostsCommand", "LocalCommand", "PermitLocalCommand", "HostKeyAlias", "PKCS11Provider", "SecurityKeyProvider", "StrictHostKeyChecking", "UserKnownHostsFile", "Include", "constructor"])], bad: ["x", "yes", 1] },
  { kind: "ssh-option", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "ssh", "options", "ConnectTimeout"], bad: ["5\nProxyCommand x", "-1", "a#b", -3, 1.5] },
  { kind: "unknown-key", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "prot"], bad: [22] },
  { kind: "unknown-key", where: (c, r) => appPath(c, r, "helth"), bad: [{ path: "/" }] },
  { kind: "unknown-key", where: () => ["projet"], bad: ["x"] },
  { kind: "prototype", where: (c, r) => appPath(c, r, "machines", 0), bad: ["constructor", "valueof"] },
  { kind: "prototype", where: (c) => (c.apps && !Object.hasOwn(c.apps, "constructor") ? ["environments", "staging", "apps", "constructor", "instances"] : undefined), bad: [1] },
  { kind: "prototype", where: (c, r) => appPath(c, r, "env", "__proto__"), bad: ["x", 1] },
  { kind: "prototype", where: () => ["env", "__proto__"], bad: ["x"] },
  { kind: "prototype", where: (c, r) => ["machines", pick(r, Object.keys(c.machines as Obj)), "ssh", "options", "__proto__"], bad: ["x"] },
  { kind: "env-nul", where: (c, r) => appPath(c, r, "env", "A"), bad: ["a\u0000b", "\u0000"] },
  { kind: "env-nul", where: () => ["env", "B"], bad: ["\u0000"] },
  { kind: "env-number", where: () => ["env", "N"], bad: [Infinity, -Infinity, NaN] },
  { kind: "instance-path", where: (c, r) => appPath(c, r, "volumes", "data"), bad: ["/a/../../etc", "a\u0000", "/x\ny", "../up", "/a:b"] },
  { kind: "recipient", where: () => ["secrets", "recipients", 0], bad: ["age1qy8u04udgssc8wssu6fas3c0mhspuy4ttpc42xl7xahywx2dnc8qtta4nq", "age1mpc8f5psyj6vsfmk8key57ap6dtt3lky7gl9mdy2gsrw4yk294qqasgg5", "age1" + "q".repeat(58), "AGE1QY8U04UDGSSC8WSSU6FAS3C0MHSPUY4TTPC42XL7XAHYWX2DNC8QTTA4NP"] },
];

const TEXT_MUTATIONS: { kind: string; text: (yaml: string, r: Rng) => string }[] = [
  { kind: "alias-bomb", text: (y, r) => `${y}x-bomb:\n  a: &a [x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n  e: ${pick(r, ["[*d, *d, *d, *d, *d, *d, *d, *d, *d]", "*d"])}\n` },
  { kind: "alias-bomb", text: (y) => `${y}env:\n  A: &a "${"x".repeat(1000)}"\n  B: [${Array.from({ length: 200 }, () => "*a").join(", ")}]\n` },
  { kind: "unresolved-alias", text: (y, r) => `${y}${pick(r, ["env: { A: *nope }", "x: *nope", "env: *undefined_anchor"])}\n` },
  { kind: "deep-nesting", text: (y, r) => { const n = pick(r, [40, 200, 1000, 1000, 8000]); return `${y}env:\n  A: ${"[".repeat(n)}${"]".repeat(n)}\n`; } },
  { kind: "deep-nesting", text: (y, r) => `${y}env:\n${Array.from({ length: pick(r, [50, 400]) }, (_, i) => `${" ".repeat(i + 2)}k${i}:`).join("\n")} 1\n` },
  { kind: "yaml-tag", text: (y, r) => `${y}x-tag: ${pick(r, ["!!binary aGVsbG8=", "!!set {a, b}", "!!js/function 'x'", "!unknown x"])}\n` },
  { kind: "not-a-mapping", text: (_y, r) => pick(r, ["- a\n- b\n", "just a string\n", "42\n", "[]\n", "null\n", "~\n"]) },
];

function appPath(c: Obj, r: Rng, ...rest: Path): Path | undefined {
  const apps = Object.keys((c.apps as Obj | undefined) ?? {});
  return apps.length ? ["apps", pick(r, apps), ...rest] : undefined;
}

/** Sets `value` at `path`, making the objects and lists on the way. A `__proto__` key becomes an own key, as YAML makes it. */
function setIn(c: Obj, path: Path, value: unknown): void {
  let cur: Obj = c;
  path.slice(0, -1).forEach((seg, i) => {
    const next = path[i + 1];
    const have = cur[seg as string];
    if (have === null || typeof have !== "object") Object.defineProperty(cur, seg, { value: typeof next === "number" ? [] : {}, enumerable: true, writable: true, configurable: true });
    cur = cur[seg as string] as Obj;
  });
  Object.defineProperty(cur, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

export interface Case {
  kind: string;
  yaml: string;
  /** For field mutations: the path of the bad value in the document. */
  path?: Path;
}

/** One invalid config: a valid one with one mutation, as YAML text. */
export function invalidConfig(r: Rng): Case {
  for (;;) {
    const c = validConfig(r);
    if (maybe(r, 0.2)) {
      const m = pick(r, TEXT_MUTATIONS);
      return { kind: m.kind, yaml: m.text(toYaml(c), r) };
    }
    const m = pick(r, FIELD_MUTATIONS);
    const path = m.where(c, r);
    if (!path) continue;
    setIn(c, path, pick(r, m.bad));
    return { kind: m.kind, yaml: toYaml(c), path };
  }
}

export function validCase(r: Rng): Case {
  return { kind: "valid", yaml: toYaml(validConfig(r)) };
}

export const toYaml = (c: Obj) => stringify(c, { lineWidth: 0 });
