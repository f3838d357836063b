// Plans from in-memory state: a project loaded from YAML text, the machines'
// saved state built as plain data (what exec/observe.ts would read), and this
// computer's facts (images, secrets, files) as a deploy would gather them.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadProject } from "../../src/config/load.ts";
import type { Project } from "../../src/config/model.ts";
import type { HistoryEntry, ReleaseSpec } from "../../src/contracts/model.ts";
import type { LocalFacts } from "../../src/exec/plan.ts";
import { wantedSpec } from "../../src/plan/deploy.ts";
import type { Observed, ObservedMachine } from "../../src/plan/observed.ts";
import { specFor } from "../../src/plan/release-spec.ts";

export const RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

export function project(o: { level?: string; instances?: number; image?: string; build?: boolean; memory?: string } = {}): Project {
  const dir = mkdtempSync(join(tmpdir(), "skiff-plan-"));
  const source = o.build ? `build: { context: . }` : `image: ${o.image ?? "nginx:1.27"}`;
  writeFileSync(
    join(dir, "skiff.yml"),
    `project: shop
machines:
  m1: { host: 10.0.0.1 }
  m2: { host: 10.0.0.2 }
secrets: { recipients: [${RECIPIENT}] }
apps:
  web:
    ${source}
    port: 80
    instances: ${o.instances ?? 2}
    env: { LEVEL: ${o.level ?? "info"} }
    secrets: [DB_PASSWORD]
    routes: [{ path: / }]
    hooks: { pre_deploy: "migrate" }
${o.memory ? `    resources: { memory: ${o.memory} }\n` : ""}`,
  );
  return loadProject({ file: join(dir, "skiff.yml") });
}

export const IMAGE_ID = "sha256:" + "a".repeat(64);

export function facts(o: { secret?: string; imageId?: string | null } = {}): LocalFacts {
  const id = o.imageId === null ? undefined : (o.imageId ?? IMAGE_ID);
  return {
    images: [{ app: "web", runtime: "docker", ref: "nginx:1.27", ...(id ? { id } : {}), built: false }],
    secrets: { web: { DB_PASSWORD: o.secret ?? "one" } },
    files: { web: [] },
    by: "ana@laptop",
    createdAt: "2026-01-01T00:00:00.000Z",
  };
}

const CAPACITY = { cpus: 4, memoryBytes: 8 * 2 ** 30, apps: [] };

/** Machines m1 and m2 with nothing of the app. */
export function empty(): Observed {
  const m = (machine: string): ObservedMachine => ({ machine, capacity: { ...CAPACITY, apps: [] }, apps: { web: { releases: [], active: null } }, specs: { web: {} } });
  return { machines: [m("m1"), m("m2")], unreachable: [] };
}

/** Stores `spec` on every machine as a deploy would (withheld where it has no instances) and makes it active. */
export function deployed(o: Observed, spec: ReleaseSpec, history = true): Observed {
  for (const m of o.machines) {
    const app = m.apps[spec.app]!;
    app.releases = [...new Set([...app.releases, spec.release])].sort((a, b) => a - b);
    app.active = spec.release;
    m.specs[spec.app]![spec.release] = specFor(spec, m.machine);
    const running = spec.placement?.[m.machine] ?? 0;
    m.capacity!.apps = [{ project: spec.project, app: spec.app, active: spec.release, instances: running }];
    if (history) m.history = [...(m.history ?? []), entry(m.machine, spec.release)];
  }
  return o;
}

export const entry = (machine: string, release: number, e: Partial<HistoryEntry> = {}): HistoryEntry => ({ at: "2026-01-01T00:00:00.000Z", machine, project: "shop", app: "web", release, action: "deploy", result: "ok", ...e });

/** The release a deploy of `p` with these facts stores, numbered `release`. */
export function release(p: Project, f: LocalFacts, n: number, placement: Record<string, number> = { m1: 1, m2: 1 }): ReleaseSpec {
  return { ...wantedSpec(p, p.apps.web!, f.images[0]!, placement, f), release: n };
}
