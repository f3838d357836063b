// Pure: the internal names a plan adds, changes or takes away, so `skiff plan`
// shows network changes like any other: "+ name users.internal:5432 (tcp)".
// A name is the app's (APP.internal and APP.PROJECT.internal on every machine of
// the project); for a TCP app, with the port it serves on.
import type { AppSpec } from "../config/model.ts";
import { internalHosts } from "../contracts/internal-names.ts";
import type { ReleaseSpec } from "../contracts/model.ts";

export interface NameChange {
  change: "add" | "change" | "remove";
  /** The short name as called (`users.internal:5432`, `users.internal`); the project's full name is `also`. */
  name: string;
  also: string;
  protocol: "http" | "tcp";
  /** For a change: the name as it was (another port, or the other protocol). */
  from?: { name: string; protocol: "http" | "tcp" };
}

type Served = Pick<ReleaseSpec, "project" | "app" | "protocol" | "internalPort">;

const protocolOf = (s: Served) => (s.protocol === "tcp" ? "tcp" : "http");
const at = (host: string, s: Served) => (s.protocol === "tcp" ? `${host}:${s.internalPort}` : host);
const names = (s: Served) => internalHosts(s.project, s.app).map((h) => at(h, s)) as [string, string];

/** What a deploy of `want` does to the app's names, given the release active now (null: none anywhere). */
export function nameChanges(now: Served | null, want: Served): NameChange[] {
  const [name, also] = names(want);
  if (!now) return [{ change: "add", name, also, protocol: protocolOf(want) }];
  if (protocolOf(now) === protocolOf(want) && now.internalPort === want.internalPort) return [];
  return [{ change: "change", name, also, protocol: protocolOf(want), from: { name: names(now)[0], protocol: protocolOf(now) } }];
}

/** The names a removed app takes away: as its active release serves them, or (when the machines were not asked for
 *  its spec, as `skiff remove` does not) as the config says. */
export function namesRemoved(now: Served | null, project: string, app: Pick<AppSpec, "name" | "protocol" | "internalPort">): NameChange[] {
  const s: Served = now ?? { project, app: app.name, ...(app.protocol === "tcp" ? { protocol: "tcp", internalPort: app.internalPort } : {}) };
  const [name, also] = names(s);
  return [{ change: "remove", name, also, protocol: protocolOf(s) }];
}

export function formatNameChange(c: NameChange): string {
  const sign = c.change === "add" ? "+" : c.change === "remove" ? "-" : "~";
  const what = c.from ? `${c.from.name} (${c.from.protocol}) → ${c.name}` : c.name;
  return `${sign} name ${what} (${c.protocol}; also ${c.also})`;
}
