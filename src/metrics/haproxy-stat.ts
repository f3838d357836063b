// Per app, from HAProxy's `show stat` (CSV over the Runtime API socket the agent
// already drives): one backend per app, so its BACKEND line and its servers'
// lines say everything about the app's traffic through this machine. Pure.
import type { Series } from "./catalogue.ts";

export type StatRow = Record<string, string>;

const TIMES = ["qtime", "ctime", "rtime", "ttime"];
const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"].map((c) => `hrsp_${c}`);
/** The columns of a server's line: its state and checks, and what a peer slot handed on (appSeries). */
const SERVER_COLUMNS = ["pxname", "svname", "status", "chkfail", "stot", ...CLASSES];
/** The columns of a BACKEND line: those the app's series are made of. The others (about 90 more) are not split out. */
const COLUMNS = [...SERVER_COLUMNS, "req_tot", "scur", "qcur", "wretr", "wredis", "econ", "eresp", ...TIMES, ...TIMES.map((t) => `${t}_max`)];

/** The columns found in the header, with the fields a line is split into to reach them all. */
const columnsAt = (header: string[], names: string[]) => {
  const at = names.map((c) => [c, header.indexOf(c)] as const).filter(([, i]) => i >= 0);
  return { at, fields: Math.max(0, ...at.map(([, i]) => i)) + 1 };
};

/** The CSV as rows keyed by column name (the header line starts with "# "), the used columns only; with `only`,
 *  just the rows of those proxies (HAProxy's own frontends and the internal ones are skipped before splitting).
 *  A line is split only as far as its last used column: a server's line (most lines: 8 slots, 16 peer slots of
 *  each kind per app) up to the 45th of HAProxy 2.6's 128, a BACKEND line up to the 94th. The sampler parses this
 *  every 10 s on an idle machine too, and the split of every field was most of the garbage it made. */
export function parseShowStat(csv: string, only?: (pxname: string) => boolean): StatRow[] {
  const lines = csv.split("\n");
  if (!lines[0]?.startsWith("# ")) throw new Error("HAProxy's `show stat` answer has no header line");
  const header = lines[0].slice(2).split(",");
  const backend = columnsAt(header, COLUMNS);
  const server = columnsAt(header, SERVER_COLUMNS);
  const rows: StatRow[] = [];
  for (let n = 1; n < lines.length; n++) {
    const l = lines[n]!;
    const comma = l.indexOf(",");
    if (comma < 0 || (only && !only(l.slice(0, comma)))) continue;
    const { at, fields } = l.startsWith("BACKEND,", comma + 1) ? backend : server;
    const f = l.split(",", fields);
    const row: StatRow = {};
    for (const [c, i] of at) row[c] = f[i] ?? "";
    rows.push(row);
  }
  return rows;
}

const num = (v: string | undefined): number | undefined => (v === undefined || v === "" ? undefined : Number.isFinite(Number(v)) ? Number(v) : undefined);

/** Peer slots (pN, qN: other machines, reached over the mesh) as against this machine's own instances. */
const PEER = /^[pq]\d+$/;
const isPeer = (svname: string | undefined) => PEER.test(svname ?? "");

/** The app's series from its backend's rows. `apps` maps a backend name to whose it is; other backends are skipped. */
export function appSeries(rows: StatRow[], apps: Map<string, { project: string; app: string }>, machine: string): Series[] {
  const out: Series[] = [];
  const servers = new Map<string, StatRow[]>();
  for (const r of rows) {
    if (r.svname === "BACKEND" || r.svname === "FRONTEND") continue;
    const list = servers.get(r.pxname!);
    if (list) list.push(r);
    else servers.set(r.pxname!, [r]);
  }
  for (const r of rows) {
    if (r.svname !== "BACKEND") continue;
    const who = apps.get(r.pxname!);
    if (!who) continue;
    const labels = { project: who.project, app: who.app, machine };
    const push = (name: Series["name"], v: number | undefined, extra: Record<string, string> = {}) => {
      if (v !== undefined) out.push({ name, labels: { ...labels, ...extra }, value: v });
    };
    const own = servers.get(r.pxname!) ?? [];
    // What this machine handed to another machine's HAProxy (its peer slots, over the mesh) is counted there too,
    // where that machine's backend serves it: left out here, so the sum over machines counts each request once.
    const peers = own.filter((s) => isPeer(s.svname));
    const minusPeers = (col: string) => {
      const v = num(r[col]);
      return v === undefined ? undefined : Math.max(0, v - peers.reduce((n, s) => n + (num(s[col]) ?? 0), 0));
    };
    const responses = CLASSES.map((c) => [c.slice(5), minusPeers(c)] as const);
    for (const [c, n] of responses) push("skiff_app_http_responses_total", n, { code: c });
    // A TCP app's backend has no HTTP counters: its requests are left out rather than counted as 0.
    const answered = responses.reduce<number | undefined>((sum, [, n]) => (n === undefined ? sum : (sum ?? 0) + n), undefined);
    const forwarded = peers.reduce((n, s) => n + (num(s.stot) ?? 0), 0);
    const total = num(r.req_tot);
    push("skiff_app_http_requests_total", total === undefined ? answered : Math.max(0, total - forwarded));
    push("skiff_app_forwarded_requests_total", peers.length ? forwarded : undefined);
    push("skiff_app_connections", num(r.scur));
    push("skiff_app_queue", num(r.qcur));
    push("skiff_app_retries_total", num(r.wretr));
    push("skiff_app_redispatches_total", num(r.wredis));
    push("skiff_app_connection_errors_total", num(r.econ));
    push("skiff_app_response_errors_total", num(r.eresp));
    push("skiff_app_check_failures_total", own.reduce((n, s) => n + (num(s.chkfail) ?? 0), 0));
    push("skiff_app_servers_up", own.filter((s) => /^UP/.test(s.status ?? "")).length);
    for (const [kind, col] of [["queue", "qtime"], ["connect", "ctime"], ["response", "rtime"], ["total", "ttime"]] as const) {
      const avg = num(r[col]);
      const max = num(r[`${col}_max`]);
      if (avg !== undefined) push("skiff_app_response_time_seconds", avg / 1000, { kind });
      if (max !== undefined) push("skiff_app_response_time_max_seconds", max / 1000, { kind });
    }
  }
  return out;
}
