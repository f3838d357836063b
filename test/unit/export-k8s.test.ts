// skiff export k8s: every object it emits validates against Kubernetes' own schemas (kubernetes-models: the
// OpenAPI schemas of Kubernetes 1.34), for the example projects in every environment and for generated configs
// that use every key of skiff.yml at least once; the examples' manifests are compared with committed snapshots
// (SKIFF_UPDATE_SNAPSHOTS=1 rewrites them); names follow the DNS-label contract; secret values appear only
// when asked for.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseDocument } from "yaml";
import { Namespace, Secret, ConfigMap, PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1";
import { Skiff, type SkiffConfig } from "../../src/api.ts";
import { checkData } from "../../src/config/load.ts";
import type { Project } from "../../src/config/model.ts";
import { NoPositions } from "../../src/config/positions.ts";
import * as S from "../../src/config/schema.ts";
import { exportK8s } from "../../src/export/k8s.ts";
import type { ExportFile, K8sObject } from "../../src/export/model.ts";
import { dnsLabel, isDnsLabel, MAX_LABEL } from "../../src/export/names.ts";
import { internalNameRewriter, unexportedNames } from "../../src/export/internal-names.ts";
import { rng, validConfig } from "./config-gen.ts";
import { skiff, stackLines } from "./cli-fresh.ts";
import { testCa, testLeaf } from "../tls-fixture.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Where the generated configs live: a route's certificate is checked when a config loads, so it must exist. */
const DIR = mkdtempSync(join(tmpdir(), "skiff-export-k8s-"));
mkdirSync(join(DIR, "certs"));
writeFileSync(join(DIR, "certs/long.pem"), (await testLeaf(await testCa(), ["long.example.com"])).cert);
const SNAPSHOTS = join(ROOT, "test/unit/fixtures/k8s");

// Every kind the export emits, with the model that validates it.
const MODELS: Record<string, { validate(this: void, o: K8sObject): void }> = {
  "v1/Namespace": { validate: (o) => new Namespace(o as never).validate() },
  "v1/Secret": { validate: (o) => new Secret(o as never).validate() },
  "v1/ConfigMap": { validate: (o) => new ConfigMap(o as never).validate() },
  "v1/PersistentVolumeClaim": { validate: (o) => new PersistentVolumeClaim(o as never).validate() },
  "v1/Service": { validate: (o) => new Service(o as never).validate() },
  "apps/v1/Deployment": { validate: (o) => new Deployment(o as never).validate() },
  "apps/v1/StatefulSet": { validate: (o) => new StatefulSet(o as never).validate() },
  "batch/v1/Job": { validate: (o) => new Job(o as never).validate() },
  "networking.k8s.io/v1/Ingress": { validate: (o) => new Ingress(o as never).validate() },
};

/** Every object validates against its schema; names are DNS labels (and 253-character subdomains for keys). */
function assertValid(objects: K8sObject[], where: string): void {
  assert.ok(objects.length > 0, `${where}: no objects`);
  for (const o of objects) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    assert.ok(model, `${where}: ${o.apiVersion} ${o.kind} has no model in this test`);
    try {
      model.validate(o);
    } catch (e) {
      assert.fail(`${where}: ${o.kind} ${o.metadata.name} does not validate: ${(e as Error).message}`);
    }
    assert.ok(isDnsLabel(o.metadata.name), `${where}: ${o.kind} name ${o.metadata.name} is not a DNS label`);
    if (o.kind !== "Namespace") assert.ok(o.metadata.namespace && isDnsLabel(o.metadata.namespace), `${where}: ${o.kind} ${o.metadata.name} has no namespace`);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) assert.match(v, /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, `${where}: label ${k}=${v}`);
  }
  // One object of a kind per name.
  const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(ids.filter((x, i) => ids.indexOf(x) !== i), [], `${where}: duplicate objects`);
  // What a pod refers to exists in the output (Secret, ConfigMap, claim, Service of an Ingress).
  const has = (kind: string, name: string) => objects.some((o) => o.kind === kind && o.metadata.name === name);
  const text = JSON.stringify(objects);
  for (const m of text.matchAll(/"secretKeyRef":\{"name":"([^"]+)"/g)) assert.ok(has("Secret", m[1]!), `${where}: secretKeyRef to a missing Secret ${m[1]}`);
  for (const m of text.matchAll(/"configMap":\{"name":"([^"]+)"/g)) assert.ok(has("ConfigMap", m[1]!), `${where}: a missing ConfigMap ${m[1]}`);
  for (const m of text.matchAll(/"persistentVolumeClaim":\{"claimName":"([^"]+)"/g)) assert.ok(has("PersistentVolumeClaim", m[1]!), `${where}: a missing claim ${m[1]}`);
  for (const m of text.matchAll(/"backend":\{"service":\{"name":"([^"]+)"/g)) assert.ok(has("Service", m[1]!), `${where}: an Ingress to a missing Service ${m[1]}`);
}

/** The example projects: every examples/<name>/skiff.yml. */
const examples = () => readdirSync(join(ROOT, "examples")).filter((d) => existsSync(join(ROOT, "examples", d, "skiff.yml"))).sort();

const environmentsOf = (file: string) => [undefined, ...Object.keys((parseDocument(readFileSync(file, "utf8")).toJS() as { environments?: object }).environments ?? {})];

/** A process app's image for the snapshots that show one exported with --image. */
const PROCESS_IMAGES: Record<string, Record<string, string>> = { shop: { worker: "ghcr.io/acme/shop-worker:2.4.1" } };

describe("skiff export k8s: the example projects", () => {
  it("there are example projects, and each exports in every environment to objects that validate", async () => {
    assert.ok(examples().length >= 2, "examples/*/skiff.yml");
    for (const ex of examples()) {
      const file = join(ROOT, "examples", ex, "skiff.yml");
      for (const environment of environmentsOf(file)) {
        const skiff = await Skiff.open({ config: file, environment, env: {} });
        for (const images of [{}, PROCESS_IMAGES[ex] ?? {}]) {
          const r = await skiff.exportK8s({ imageTag: "v1", registry: "registry.example.com/acme", images });
          assertValid(r.objects, `${ex} ${environment ?? "(base)"}`);
          // The stream parses back to the same objects.
          const docs = r.yaml.split(/^---$/m).slice(1).map((d) => parseDocument(d).toJS());
          assert.deepEqual(docs, JSON.parse(JSON.stringify(r.objects)));
        }
      }
    }
  });

  it("the manifests are the committed snapshots", async () => {
    const update = process.env.SKIFF_UPDATE_SNAPSHOTS === "1";
    for (const ex of examples()) {
      const file = join(ROOT, "examples", ex, "skiff.yml");
      for (const environment of environmentsOf(file)) {
        // GIVEN the example (in this environment) and a fixed image tag, WHEN it is exported, THEN the YAML is the snapshot.
        const skiff = await Skiff.open({ config: file, environment, env: {} });
        const r = await skiff.exportK8s({ imageTag: "v1", registry: "registry.example.com/acme", images: PROCESS_IMAGES[ex] ?? {} });
        const snap = join(SNAPSHOTS, `${ex}${environment ? `-${environment}` : ""}.yaml`);
        if (update) {
          mkdirSync(SNAPSHOTS, { recursive: true });
          writeFileSync(snap, r.yaml);
        }
        assert.ok(existsSync(snap), `${snap} is missing: run with SKIFF_UPDATE_SNAPSHOTS=1 and review it`);
        assert.equal(r.yaml, readFileSync(snap, "utf8"), `${snap} differs`);
      }
    }
  });
});

// A config that says what the generated ones rarely do: the coverage test below checks that these and the
// generated ones together use every key the schema has.
function everyFeature(): SkiffConfig {
  return {
    project: "every-feature-project-with-a-rather-long-name-to-cut",
    machines: {
      m1: { host: "10.0.0.1", port: 2222, user: "deploy", labels: ["web", "db"], private_address: "10.1.0.1", http_port: 8080, https_port: 8443, firewall: false, ssh: { identity_file: "~/.ssh/k", proxy_jump: "bastion", options: { ConnectTimeout: 5 } } },
      m2: { host: "local", labels: ["web"] },
    },
    env: { GLOBAL: "1" },
    secrets: { recipients: ["age1qy8u04udgssc8wssu6fas3c0mhspuy4ttpc42xl7xahywx2dnc8qtta4np"] },
    metrics: { listen: true, port: 9100, allow: ["10.0.0.9"] },
    alerts: { to: [{ webhook: "https://hooks.example.com/x" }], rules: { error_rate: false }, interval: "30s", enabled: true },
    acme: { directory: "https://acme.example.com/dir", email: "ops@example.com" },
    accessories: {
      pg: { machine: "m1", image: "postgres:16", port: 5432, protocol: "tcp", internal_port: 15432, resources: { cpu: 2, memory: "2G" }, health: { interval: "5s", timeout: "3s", healthy_threshold: 1, deadline: "5m" }, env: { PGDATA: "/var/lib/postgresql/data/pg" }, secrets: { POSTGRES_PASSWORD: "PG_PASSWORD" }, files: { "/docker-entrypoint-initdb.d/init.sql": "init.sql" }, volumes: { data: "/var/lib/postgresql/data" }, stop_timeout: "2m", stop_signal: "SIGINT", keep_releases: 3, logs: { max_size: "100M" }, backups: { kind: "postgres", schedule: "0 4 * * *", keep: { last: 3, daily: 7, weekly: 4, monthly: 12 }, to: "s3:https://s3.example.com/b/p", password_secret: "BK" } },
      kv: { machine: "m1", run: "redis-server --port $PORT", artifact: "redis", user: "redis", protocol: "http" },
      built: { machine: "m2", build: { context: "db", dockerfile: "Dockerfile", args: { V: "2" } } },
    },
    apps: {
      "a-very-long-application-name-that-reaches-the-limit-of-sixty-th": {
        image: "ghcr.io/acme/long:1",
        instances: 3,
        machines: ["m1", "m2"],
        labels: ["web"],
        strategy: "spread",
        routes: [{ host: "long.example.com", path: "/x", tls: { cert: "certs/long.pem", key: "LONG_KEY", hsts: 600 } }, { path: "/y" }, { host: "auto.example.com", tls: { auto: true } }],
        volumes: { "a-volume-name-that-is-also-rather-long-to-push-the-claim-name": "/data" },
        hooks: { pre_deploy: "migrate --all", timeout: "1h" },
        files: { "/etc/a.conf": { source: "a.conf", mode: "0640" }, "/etc/a_conf": "a.conf" },
      },
      tcpapp: { image: "ghcr.io/acme/tcp:1", protocol: "tcp", internal_port: 7000, port: 7001, health: { interval: "250ms", timeout: "100ms" }, deploy: { keep_warm: true, canary: 0, canary_wait: "1m", max_parallel: 2, probation: "1m" }, logs: { max_size: "10M" }, volumes: { state: "/state" }, backups: { to: "/srv/b" } },
      proc: { run: "node server.js", artifact: { build: "npm run build", dir: "dist" }, user: "app", files: { "config/app.ini": "a.conf" }, volumes: { cache: "var/cache" }, env: { CALL: "http://tcpapp.internal:7000 and tcpapp.every-feature-project-with-a-rather-long-name-to-cut.internal" } },
      placed: { image: "nginx:1.27", strategy: "binpack", place: ({ machines, instances }) => ({ [machines[0]!.name]: instances }), secrets: ["LONG_KEY"], resources: { cpu: 0.01, memory: 6291457 } },
    },
    environments: {
      prod: { machines: { p1: { host: "10.2.0.1", labels: ["web", "db"] } }, accessories: { pg: { machine: "p1" }, kv: { machine: "p1" }, built: { machine: "p1" } }, apps: { "a-very-long-application-name-that-reaches-the-limit-of-sixty-th": { machines: ["p1"] }, tcpapp: { instances: 0 } }, env: { GLOBAL: "2" }, metrics: { listen: false }, alerts: { enabled: false } },
    },
  };
}

/** A project from a config object, checked as skiff checks one. */
function projectOf(data: object, environment?: string): Project {
  const { project, diagnostics } = checkData(data, new NoPositions(), join(DIR, "skiff.yml"), environment);
  assert.ok(project, `config does not load: ${diagnostics.map((d) => d.message).join("; ")}`);
  return project;
}

/** The pure export over a project, with made-up images (process apps get one when `processImages`), files and certificates. */
function exportOf(project: Project, o: { processImages: boolean; secretValues?: Record<string, string> }) {
  const images: Record<string, string> = {};
  const files: Record<string, ExportFile[]> = {};
  const certificates: Record<string, string> = {};
  for (const a of Object.values(project.apps)) {
    if (!a.run || o.processImages) images[a.name] = a.image ?? `registry.example.com/${a.name}:v1`;
    files[a.name] = a.files.map((f, i) => ({ path: f.path, mode: f.mode, content: `file ${i} of ${a.name}: http://${a.name}.internal/\n`, secret: f.template && i % 2 === 0 }));
    for (const r of a.routes) if (r.tls && !r.tls.auto) certificates[r.tls.cert] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  }
  return exportK8s({ project, namespace: dnsLabel(project.name, project.environment ?? ""), images, files, certificates, ...(o.secretValues ? { secretValues: o.secretValues } : {}) });
}

describe("skiff export k8s: generated configs", () => {
  const COUNT = Number(process.env.SKIFF_EXPORT_CONFIGS ?? 150);

  it(`${COUNT} generated configs and one with every feature export, in every environment, to objects that validate`, () => {
    const r = rng(16);
    const configs: object[] = [everyFeature(), ...Array.from({ length: COUNT }, () => validConfig(r))];
    let objects = 0;
    configs.forEach((c, i) => {
      // The TS config's place function is no data: strip it for checkData, then put it back as skiff.config.ts does.
      const data = JSON.parse(JSON.stringify(c)) as object;
      for (const environment of [undefined, ...Object.keys((c as { environments?: object }).environments ?? {})]) {
        const project = projectOf(data, environment);
        if (project.apps.placed) project.apps.placed.place = () => ({});
        for (const processImages of [false, true]) {
          const out = exportOf(project, { processImages, secretValues: i % 2 ? { LONG_KEY: "k", PG_PASSWORD: "p" } : undefined });
          assertValid(out.objects, `config ${i} ${environment ?? "(base)"}`);
          objects += out.objects.length;
        }
      }
    });
    assert.ok(objects > COUNT * 4, `only ${objects} objects`);
  });

  it("the configs above use every key of skiff.yml at least once", () => {
    const r = rng(16);
    const configs: object[] = [everyFeature(), ...Array.from({ length: COUNT }, () => validConfig(r))];
    const used = new Set<string>();
    const walk = (o: unknown, at: string) => {
      if (!o || typeof o !== "object") return;
      if (Array.isArray(o)) return o.forEach((x) => walk(x, `${at}[]`));
      for (const [k, v] of Object.entries(o)) {
        used.add(`${at}.${k}`);
        walk(v, `${at}.${k}`);
      }
    };
    for (const c of configs) {
      const x = c as { apps?: Record<string, object>; accessories?: Record<string, object>; machines: Record<string, object>; environments?: Record<string, object> };
      for (const a of Object.values(x.apps ?? {})) walk(a, "app");
      for (const a of Object.values(x.accessories ?? {})) walk(a, "accessory");
      for (const m of Object.values(x.machines)) walk(m, "machine");
      for (const e of Object.values(x.environments ?? {})) walk(e, "environment");
      walk({ ...c, apps: undefined, accessories: undefined, machines: undefined, environments: undefined }, "config");
    }
    const keys = (prefix: string, shape: Record<string, unknown>) => Object.keys(shape).map((k) => `${prefix}.${k}`);
    const wanted = [
      ...keys("config", S.Config.shape),
      ...keys("machine", S.Machine.shape),
      ...keys("app", S.App.shape),
      ...keys("accessory", S.Accessory.shape),
      ...keys("environment", S.Environment.shape),
      ...keys("app.health", S.Health.shape),
      ...keys("app.routes[]", S.Route.shape),
      ...keys("app.routes[].tls", S.RouteTls.shape),
      ...keys("app.deploy", S.DeploySettings.shape),
      ...keys("app.hooks", S.Hooks.shape),
      ...keys("app.resources", S.Resources.shape),
      ...keys("app.build", S.Build.shape),
      ...keys("accessory.backups", S.Backups.shape),
      "app.place",
    ];
    assert.deepEqual(wanted.filter((k) => !used.has(k)), []);
  });
});

describe("skiff export k8s: what maps to what", () => {
  const project = () => projectOf(JSON.parse(JSON.stringify(everyFeature())));

  it("a process app without an image is not exported, and says so", () => {
    const out = exportOf(project(), { processImages: false });
    assert.ok(!out.objects.some((o) => o.metadata.name === "proc" || o.metadata.name === "kv"));
    assert.ok(out.notes.some((n) => n.app === "proc" && /process app .* not exported/.test(n.text)));
    assert.ok(out.notes.some((n) => n.app === "kv" && /not exported/.test(n.text)));
    // tcpapp is exported, proc is not: nothing answers at proc's name, and the apps that call it are told.
    const p = project();
    p.apps.placed!.env.CALL = "http://proc.internal/";
    assert.ok(exportOf(p, { processImages: false }).notes.some((n) => n.app === "placed" && n.text === "env CALL calls proc.internal, which is not exported: nothing answers there in the cluster"));
  });

  it("secret values are in the output only when given; otherwise the keys with empty values", () => {
    const without = exportOf(project(), { processImages: true });
    const secrets = without.objects.filter((o) => o.kind === "Secret");
    // Every value empty, but a certificate's (public) tls.crt.
    for (const s of secrets) for (const [k, v] of Object.entries((s.data as Record<string, string>) ?? {})) assert.ok(v === "" || k === "tls.crt", `${s.metadata.name}.${k} has a value`);
    const main = secrets.find((s) => s.metadata.name.endsWith("-secrets"))!;
    assert.deepEqual(main.data, { LONG_KEY: "", PG_PASSWORD: "" });
    assert.ok(without.notes.some((n) => /empty values/.test(n.text)));
    const tls = secrets.find((s) => s.type === "kubernetes.io/tls")!;
    assert.equal((tls.data as Record<string, string>)["tls.key"], "");
    const withValues = exportOf(project(), { processImages: true, secretValues: { LONG_KEY: "-----KEY-----", PG_PASSWORD: "pw http://pg.internal" } });
    const main2 = withValues.objects.find((s) => s.kind === "Secret" && s.metadata.name.endsWith("-secrets"))!;
    const decoded = Object.fromEntries(Object.entries(main2.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    assert.deepEqual(decoded, { LONG_KEY: "-----KEY-----", PG_PASSWORD: `pw http://pg.${withValues.namespace}.svc` });
  });

  it("a Deployment rolls start-first, its probes come from health, its grace period from drain and stop", () => {
    const out = exportOf(project(), { processImages: true });
    const d = out.objects.find((o) => o.kind === "Deployment" && o.metadata.name === "tcpapp")!;
    const spec = d.spec as { strategy: { rollingUpdate: { maxUnavailable: number; maxSurge: number } }; template: { spec: { terminationGracePeriodSeconds: number; containers: { readinessProbe: object; livenessProbe: { failureThreshold: number }; startupProbe: { failureThreshold: number }; lifecycle: object }[] } } };
    assert.deepEqual(spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 2 });
    assert.equal(spec.template.spec.terminationGracePeriodSeconds, 30 + 10);
    const c = spec.template.spec.containers[0]!;
    assert.deepEqual(c.readinessProbe, { tcpSocket: { port: "tcp" }, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 2, failureThreshold: 2 });
    assert.equal(c.livenessProbe.failureThreshold, 11);
    assert.equal(c.startupProbe.failureThreshold, 60);
    assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
    const svc = out.objects.find((o) => o.kind === "Service" && o.metadata.name === "tcpapp")!;
    assert.deepEqual((svc.spec as { ports: object[] }).ports, [{ name: "tcp", port: 7000, targetPort: "tcp", protocol: "TCP" }]);
    assert.ok(out.notes.some((n) => n.app === "tcpapp" && /keep_warm/.test(n.text)));
  });

  it("an accessory is a StatefulSet of one with claim templates, and its Service serves its internal port", () => {
    const out = exportOf(project(), { processImages: true });
    const s = out.objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "pg")!;
    const spec = s.spec as { replicas: number; serviceName: string; volumeClaimTemplates: { metadata: { name: string } }[]; template: { spec: { terminationGracePeriodSeconds: number; containers: { lifecycle?: object }[] } } };
    assert.equal(spec.replicas, 1);
    assert.equal(spec.serviceName, "pg");
    assert.deepEqual(spec.volumeClaimTemplates.map((t) => t.metadata.name), ["vol-data"]);
    assert.equal(spec.template.spec.terminationGracePeriodSeconds, 120);
    assert.equal(spec.template.spec.containers[0]!.lifecycle, undefined);
    const svc = out.objects.find((o) => o.kind === "Service" && o.metadata.name === "pg")!;
    assert.deepEqual((svc.spec as { ports: object[] }).ports, [{ name: "tcp", port: 15432, targetPort: "tcp", protocol: "TCP" }]);
    assert.ok(!out.objects.some((o) => o.kind === "PersistentVolumeClaim" && o.metadata.name.startsWith("pg-")));
  });

  it("placement: labels → nodeSelector, machines → node affinity, spread → topology spread; binpack and place functions are noted", () => {
    const out = exportOf(project(), { processImages: true });
    const long = out.objects.find((o) => o.kind === "Deployment" && o.metadata.name.startsWith("a-very-long"))!;
    const pod = (long.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    assert.deepEqual(pod.nodeSelector, { "skiff/label-web": "true" });
    assert.deepEqual(pod.affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "skiff/machine", operator: "In", values: ["m1", "m2"] }] }] } } });
    assert.equal((pod.topologySpreadConstraints as object[]).length, 1);
    const p = project();
    p.apps.placed!.place = () => ({});
    const placed = exportOf(p, { processImages: true });
    assert.ok(placed.notes.some((n) => n.app === "placed" && /custom placement function/.test(n.text)));
    const placedPod = (placed.objects.find((o) => o.kind === "Deployment" && o.metadata.name === "placed")!.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    assert.equal(placedPod.topologySpreadConstraints, undefined);
  });

  it("the pre-deploy hook is a Job of the same image, labelled to run first, named after image and command", () => {
    const out = exportOf(project(), { processImages: true });
    const job = out.objects.find((o) => o.kind === "Job")!;
    assert.equal(job.metadata.labels!["skiff/step"], "pre-deploy");
    const spec = job.spec as { activeDeadlineSeconds: number; backoffLimit: number; template: { metadata: { labels: Record<string, string> }; spec: { containers: { image: string; command: string[]; volumeMounts?: { name: string }[] }[] } } };
    assert.equal(spec.activeDeadlineSeconds, 3600);
    assert.equal(spec.backoffLimit, 0);
    assert.deepEqual(spec.template.spec.containers[0]!.command, ["/bin/sh", "-c", "migrate --all"]);
    assert.equal(spec.template.metadata.labels["app.kubernetes.io/component"], "pre-deploy");
    assert.ok(spec.template.spec.containers[0]!.volumeMounts!.every((m) => m.name === "files" || m.name === "secret-files"));
    const again = exportOf(project(), { processImages: true }).objects.find((o) => o.kind === "Job")!;
    assert.equal(again.metadata.name, job.metadata.name);
  });
});

describe("names and internal names", () => {
  it("a name is a DNS label: at most 63 characters, cut with a stable hash of the whole", () => {
    assert.equal(dnsLabel("web", "files", "abcd1234"), "web-files-abcd1234");
    const long = dnsLabel("a".repeat(60), "pre-deploy", "12345678");
    assert.equal(long.length, MAX_LABEL);
    assert.ok(isDnsLabel(long));
    assert.equal(long, dnsLabel("a".repeat(60), "pre-deploy", "12345678"), "stable");
    assert.notEqual(long, dnsLabel("a".repeat(60), "pre-deploy", "12345679"), "the hash tells long names apart");
    assert.equal(dnsLabel("x".repeat(63)), "x".repeat(63));
    assert.equal(dnsLabel("x".repeat(64)).length, 63);
    for (const odd of ["Web_App", "a.b", "1abc", "-x-", "ÜBER", "a--b", "", "x".repeat(300)]) assert.ok(isDnsLabel(dnsLabel(odd)), `${odd} → ${dnsLabel(odd)}`);
    assert.notEqual(dnsLabel("a_b"), dnsLabel("a.b"), "names made valid are hashed, so they do not meet");
    for (const bad of ["", "a".repeat(64), "A", "a-", "-a", "1a", "a.b", "a_b"]) assert.ok(!isDnsLabel(bad), bad);
  });

  it("NAME.internal and NAME.PROJECT.internal of exported apps become NAME.NAMESPACE.svc; others stay", () => {
    const rw = internalNameRewriter("shop", "shop-prod", ["db", "api", "db-replica"]);
    assert.equal(rw("postgres://u@db.internal:5432/x"), "postgres://u@db.shop-prod.svc:5432/x");
    assert.equal(rw("http://api.shop.internal/v1 and http://db-replica.internal"), "http://api.shop-prod.svc/v1 and http://db-replica.shop-prod.svc");
    assert.equal(rw("http://web.internal/ xdb.internal db.internalx db.other.internal"), "http://web.internal/ xdb.internal db.internalx db.other.internal");
    assert.equal(internalNameRewriter("shop", "ns", [])("db.internal"), "db.internal");
    assert.deepEqual(unexportedNames("shop", ["worker"], "http://worker.internal/ and worker.shop.internal, web.internal"), ["worker.internal", "worker.shop.internal"]);
  });
});

describe("skiff export k8s through the API: secrets decrypted with your age key only when asked", () => {
  it("includeSecrets puts the value into the Secret; without it the key is there, empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-export-"));
    const env = { XDG_CONFIG_HOME: join(dir, "config") };
    const id = await Skiff.keygen({ env });
    const config: SkiffConfig = { project: "shop", machines: { m1: { host: "10.0.0.1" } }, apps: { web: { image: "nginx:1.27", port: 80, secrets: { DB_URL: "DB_URL" } } }, secrets: { recipients: [id.recipient] } };
    const skiff = await Skiff.open({ config, dir, env });
    await skiff.secrets.set("DB_URL", "postgres://u:Sekr1t@db.internal/x");
    const secretOf = (r: { objects: K8sObject[] }) => r.objects.find((o) => o.kind === "Secret")!.data as Record<string, string>;
    const plain = await skiff.exportK8s();
    assert.deepEqual(secretOf(plain), { DB_URL: "" });
    assert.ok(!plain.yaml.includes("Sekr1t") && !plain.yaml.includes(Buffer.from("postgres://u:Sekr1t@db.internal/x").toString("base64")));
    const full = await skiff.exportK8s({ includeSecrets: true });
    assert.equal(Buffer.from(secretOf(full).DB_URL!, "base64").toString(), "postgres://u:Sekr1t@db.internal/x");
    await assert.rejects(skiff.exportK8s({ namespace: "Not_A_Label" }), /not a DNS label/);
    await assert.rejects(skiff.exportK8s({ images: { nope: "x:1" } }), /no app or accessory nope/);
  });
});

describe("skiff export k8s: the command", () => {
  const project = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-export-cli-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const YML = "project: shop\nmachines:\n  m1: { host: 10.0.0.1 }\napps:\n  web:\n    image: nginx:1.27\n    port: 80\n    routes: [{ host: shop.example.com }]\n  jobs:\n    run: node jobs.js\nenvironments:\n  staging:\n    apps:\n      web: { instances: 3 }\n";

  it("prints one YAML stream on stdout and what is not carried over on stderr; -e picks the environment", () => {
    const dir = project({ "skiff.yml": YML });
    const r = skiff(["export", "k8s", "-e", "staging"], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    const docs = r.stdout.split(/^---$/m).slice(1).map((d) => parseDocument(d).toJS() as K8sObject);
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ["Namespace/shop-staging", "Service/web", "Deployment/web", "Ingress/web"]);
    assert.equal((docs[2]!.spec as { replicas: number }).replicas, 3);
    assert.match(r.stderr, /jobs: a process app \(run: node jobs\.js\) has no container image: not exported/);
    assert.match(r.stdout, /^# {3}- jobs: a process app/m, "the notes end the output as comments");
    assert.deepEqual(stackLines(r.stderr), []);
  });

  it("--out DIR writes one file per object in apply order and NOTES.txt, into a new or empty directory only", () => {
    const dir = project({ "skiff.yml": YML });
    const r = skiff(["export", "k8s", "--out", "k8s", "--namespace", "shop-next", "--image", "jobs=registry.example.com/jobs:1"], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, "k8s")).sort(), ["01-namespace-shop-next.yaml", "02-service-web.yaml", "03-service-jobs.yaml", "04-deployment-web.yaml", "05-deployment-jobs.yaml", "06-ingress-web.yaml", "NOTES.txt"]);
    assert.match(readFileSync(join(dir, "k8s", "NOTES.txt"), "utf8"), /jobs: a process app exported with the image you gave/);
    const again = skiff(["export", "k8s", "--out", "k8s"], { cwd: dir });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /k8s is not empty/);
    const file = skiff(["export", "k8s", "--out", "skiff.yml"], { cwd: dir });
    assert.equal(file.status, 2);
    assert.match(file.stderr, /skiff\.yml is a file, not a directory/);
    assert.deepEqual(stackLines(file.stderr), []);
  });

  it("a config problem is file:line:col with exit 2 and no stack; a bad flag is a clear error", () => {
    const dir = project({ "skiff.yml": YML.replace("port: 80", "port: 80\n    imagee: x") });
    const r = skiff(["export", "k8s"], { cwd: dir });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /skiff\.yml:\d+:\d+: .*imagee/);
    assert.deepEqual(stackLines(r.stderr), []);
    const ok = project({ "skiff.yml": YML });
    for (const [args, says] of [[["--image", "jobs"], /expected APP=IMAGE/], [["--namespace", "Bad_NS"], /not a DNS label/], [["--image-tag", "a b"], /not a Docker tag/], [["--image", "nope=x:1"], /no app or accessory nope/]] as const) {
      const bad = skiff(["export", "k8s", ...args], { cwd: ok });
      assert.equal(bad.status, 2, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(bad.stderr, says);
      assert.deepEqual(stackLines(bad.stderr), []);
    }
  });

  it("skiff.config.ts: a custom placement function is named as not exported", () => {
    const dir = project({ "skiff.config.ts": "export default { project: 'shop', machines: { m1: { host: '10.0.0.1' } }, apps: { web: { image: 'nginx:1.27', place: ({ machines, instances }: { machines: { name: string }[]; instances: number }) => ({ [machines[0]!.name]: instances }) } } };\n" });
    const r = skiff(["export", "k8s"], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /web: custom placement function \(place in skiff\.config\.ts\): not exported/);
  });
});
