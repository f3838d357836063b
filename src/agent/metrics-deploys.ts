// Per deploy, from this machine's history: each activation (deploy, rollback,
// scale) with its result and time. history.jsonl only grows, so the file is
// read from where the last look ended: a sample costs one stat when nothing
// was deployed.
import { join } from "node:path";
import type { HistoryEntry } from "../contracts/model.ts";
import type { Series } from "../metrics/catalogue.ts";
import { LineTail } from "./line-tail.ts";

const ACTIONS = new Set(["deploy", "rollback", "scale"]);

interface Tally {
  count: number;
  seconds: number;
}

export class DeployTally {
  private readonly tail: LineTail;
  private readonly byKey = new Map<string, { labels: Record<string, string>; tally: Tally }>();
  private readonly last = new Map<string, { labels: Record<string, string>; at: number }>();

  constructor(
    stateDir: string,
    private readonly onEntry?: (e: HistoryEntry) => void,
  ) {
    this.tail = new LineTail(join(stateDir, "history.jsonl"));
  }

  /** One history record (the tests feed these directly). */
  add(e: HistoryEntry): void {
    this.onEntry?.(e);
    // The CLI's whole-command summary repeats what each machine recorded for its own part.
    if (e.summary || !ACTIONS.has(e.action)) return;
    const labels = { project: e.project, app: e.app, action: e.action, result: e.result };
    const key = JSON.stringify(labels);
    const t = this.byKey.get(key) ?? { labels, tally: { count: 0, seconds: 0 } };
    t.tally.count++;
    t.tally.seconds += (e.durationMs ?? 0) / 1000;
    this.byKey.set(key, t);
    const at = Date.parse(e.at);
    if (Number.isFinite(at)) this.last.set(`${e.project}/${e.app}`, { labels: { project: e.project, app: e.app }, at: at / 1000 + (e.durationMs ?? 0) / 1000 });
  }

  /** Reads what history gained since the last call. */
  catchUp(): void {
    this.tail.catchUp((l) => {
      try {
        const e = JSON.parse(l) as HistoryEntry;
        if (e && typeof e.project === "string" && typeof e.app === "string") this.add(e);
      } catch {}
    });
  }

  /** The series of the apps in `present` ("project/app"; all without it): an app removed from this machine keeps
   *  its history file lines, but its series would only grow the exposition and the ring forever. */
  series(machine: string, present?: Set<string>): Series[] {
    const out: Series[] = [];
    const here = (l: Record<string, string>) => !present || present.has(`${l.project}/${l.app}`);
    for (const { labels, tally } of this.byKey.values()) {
      if (!here(labels)) continue;
      const l = { ...labels, machine };
      out.push({ name: "skiff_deploys_total", labels: l, value: tally.count });
      out.push({ name: "skiff_deploy_duration_seconds_count", labels: l, value: tally.count }, { name: "skiff_deploy_duration_seconds_sum", labels: l, value: tally.seconds });
    }
    for (const { labels, at } of this.last.values()) if (here(labels)) out.push({ name: "skiff_deploy_last_timestamp_seconds", labels: { ...labels, machine }, value: at });
    return out;
  }
}
