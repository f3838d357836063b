// Alerts with no CLI connected. Every round (10 s), each machine of a project
// asks its peers over the mesh (mutual TLS, the project's certificates) for
// their copy of the ledger (only when newer than its own). Machines rank by the
// project's machine order, and the first one that answers is the leader: a
// machine asks those ranked above it first (the first of them, then the others
// when it does not answer); one answers: it leads, and this machine is done.
// None answers: this machine leads, asks those below for their facts too,
// evaluates and sends. So an alert goes out once, not once per machine, a round
// costs about two requests per machine rather than one to every other; when the
// leader stops answering, the next machine takes over from the newest ledger it
// copied (what was sent is not sent again; what is firing resolves once).
// A network split that leaves two groups each with a leader sends from both
// (each says which machine sent): better twice than never.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent } from "node:https";
import { join } from "node:path";
import { alertShareSni, emptyLedger, receiverId, type AlertEvent, type AlertsConfig, type AlertsView, type Ledger, type PeerAnswer } from "../contracts/alerts.ts";
import { bound, evaluate } from "../alerts/evaluate.ts";
import type { AlertFacts } from "./alert-facts.ts";
import { sendAlert } from "./alert-send.ts";
import { writeAtomic } from "./atomic-write.ts";
import type { MeshCerts } from "./mesh-certs.ts";
import { meshGet } from "./mesh-get.ts";

const ASK_TIMEOUT_MS = 3000;
/** An undelivered event is retried (10 s, 20 s, … 5 min apart) for a day, then given up (and logged). */
const RETRY_FOR_MS = 24 * 3_600_000;

export class Alerts {
  private readonly configs = new Map<string, AlertsConfig>();
  private readonly ledgers = new Map<string, Ledger>();
  private readonly missing = new Map<string, Map<string, number>>();
  private readonly leaders = new Map<string, string>();
  private readonly lastRound = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly facts: AlertFacts,
    private readonly mesh: Pick<MeshCerts, "files">,
    private readonly log: (s: string) => void,
    private readonly send = sendAlert,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) {
      const m = /^([a-z][a-z0-9-]*)\.config\.json$/.exec(f);
      if (!m) continue;
      try {
        this.configs.set(m[1]!, JSON.parse(readFileSync(join(dir, f), "utf8")) as AlertsConfig);
        this.ledgers.set(m[1]!, JSON.parse(readFileSync(join(dir, `${m[1]}.ledger.json`), "utf8")) as Ledger);
      } catch {
        // A ledger lost to a crash: the peers have copies, the next round takes the newest.
      }
    }
  }

  /** The CLI's word for a project (at every deploy, rollback and scale). The receivers' URLs may hold tokens: 0600. */
  set(cfg: AlertsConfig): { changed: boolean } {
    const before = JSON.stringify(this.configs.get(cfg.project) ?? null);
    if (before === JSON.stringify(cfg)) return { changed: false };
    writeAtomic(join(this.dir, `${cfg.project}.config.json`), JSON.stringify(cfg), { mode: 0o600 });
    this.configs.set(cfg.project, cfg);
    // A new project or interval: the timer looks again now (it may have been asleep with nothing to do).
    this.schedule();
    return { changed: true };
  }

  /** Whether there was anything to forget. */
  forget(project: string): boolean {
    const had = this.configs.has(project);
    this.agents.get(project)?.agent.destroy();
    this.agents.delete(project);
    this.configs.delete(project);
    this.ledgers.delete(project);
    this.missing.delete(project);
    this.leaders.delete(project);
    this.lastRound.delete(project);
    for (const f of [`${project}.config.json`, `${project}.ledger.json`]) rmSync(join(this.dir, f), { force: true });
    return had;
  }

  ledger(project: string): Ledger {
    return this.ledgers.get(project) ?? emptyLedger();
  }

  /** What `skiff alerts` shows: receivers by kind and host only (a webhook's path may be its secret). */
  view(project: string): AlertsView {
    const cfg = this.configs.get(project);
    const missing = Object.fromEntries([...(this.missing.get(project) ?? [])].map(([m, t]) => [m, new Date(t).toISOString()]));
    const last = this.lastRound.get(project);
    return {
      ...(cfg ? { config: { ...cfg, receivers: cfg.receivers.map((r) => (r.kind === "webhook" ? `webhook ${new URL(r.url).host}${r.format === "slack" ? " (slack)" : ""}` : `command ${r.argv[0]}`)) } } : {}),
      ...(this.leaders.has(project) ? { leader: this.leaders.get(project)! } : {}),
      missing,
      ...(last ? { lastRound: new Date(last).toISOString() } : {}),
      ledger: this.ledger(project),
    };
  }

  /** A peer's question (acme-share.ts serves it to the project's machines only). */
  answer(project: string, have: number, withFacts = true): PeerAnswer | undefined {
    const cfg = this.configs.get(project);
    if (!cfg) return undefined;
    const l = this.ledger(project);
    // A machine ranked below asks only whether this one is up (and for its ledger): no facts to gather.
    const facts = withFacts ? this.facts.facts(project, cfg.rules) : undefined;
    const leader = this.leaders.get(project);
    return { machine: cfg.self, version: l.version, ...(leader ? { leader } : {}), ...(facts ? { facts } : {}), ...(l.version > have ? { ledger: l } : {}) };
  }

  /** Rounds for every project at its interval: the timer sleeps until the next one is due (no idle wake-ups). */
  start(): void {
    this.started = true;
    this.schedule();
  }

  private started = false;

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.started) return;
    const now = Date.now();
    let next = Infinity;
    for (const [project, cfg] of this.configs) {
      const due = (this.lastRound.get(project) ?? 0) + cfg.intervalMs;
      if (due > now || this.running.has(project)) {
        next = Math.min(next, Math.max(due, now + 100));
        continue;
      }
      this.lastRound.set(project, now);
      next = Math.min(next, now + cfg.intervalMs);
      const p = this.round(project)
        .catch((e: Error) => this.log(`alerts: ${project}: ${e.message}`))
        .finally(() => this.running.delete(project));
      this.running.set(project, p);
    }
    if (next === Infinity) return void (this.timer = undefined);
    this.timer = setTimeout(() => this.schedule(), next - now);
    this.timer.unref();
  }

  stop(): void {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const a of this.agents.values()) a.agent.destroy();
    this.agents.clear();
  }

  /** One round for a project: ask the peers, and evaluate and send when this machine leads. */
  async round(project: string, now = Date.now()): Promise<void> {
    const cfg = this.configs.get(project);
    if (!cfg) return;
    const peers = cfg.machines.filter((m) => m.name !== cfg.self && m.addr);
    const files = this.mesh.files(project);
    const creds = existsSync(files.crt) && existsSync(files.ca) ? { crt: readFileSync(files.crt, "utf8"), ca: readFileSync(files.ca, "utf8") } : undefined;
    const have = this.ledger(project).version;
    const via = creds && this.connections(project, creds);
    const one = (p: (typeof peers)[number], withFacts: boolean) =>
      ask({ name: p.name, addr: p.addr! }, project, have, creds!, via!, withFacts)
        // An agent from before `facts=0` does not know the question (404, "none"): asked the old way, it answers.
        .then((a) => (a === "none" && !withFacts ? ask({ name: p.name, addr: p.addr! }, project, have, creds!, via!, true) : a))
        .then((a) => ({ p, a }), () => ({ p, a: undefined }));
    const all = (ps: typeof peers, withFacts: boolean) => Promise.all(ps.map((p) => one(p, withFacts)));
    const answered = (x: { p: { name: string }; a: PeerAnswer | "none" | undefined }) => !!x.a && x.a !== "none" && x.a.machine === x.p.name;
    // Only the leader needs every machine's facts. A machine asks those ranked above it first, for their ledger
    // alone: the leader it heard last round (else the first above), then, when that one does not answer, the
    // others above; the first that answers leads, and this one is done. None answers: this one leads and asks
    // those below for their facts. A round is then about two requests per machine of the project, not one to every
    // other machine (n² at 20 machines: 380 every 10 s); only the round after a leader stops answering costs more.
    const rankOf = (n: string) => cfg.machines.findIndex((m) => m.name === n);
    const above = peers.filter((p) => rankOf(p.name) < rankOf(cfg.self));
    const below = peers.filter((p) => !above.includes(p));
    const answers: { p: (typeof peers)[number]; a: PeerAnswer | "none" | undefined }[] = [];
    if (creds && via) {
      if (above.length) {
        const first = above.find((p) => p.name === this.leaders.get(project)) ?? above[0]!;
        answers.push(await one(first, false));
        if (!answered(answers[0]!)) answers.push(...(await all(above.filter((p) => p !== first), false)));
      }
      if (!answers.some(answered)) answers.push(...(await all(below, true)));
    }
    const missing = this.missing.get(project) ?? new Map<string, number>();
    this.missing.set(project, missing);
    for (const { p, a } of answers) {
      // "none": its agent is up but has no alerts for the project (removed there, or older): not down, not a leader.
      if (a === "none") {
        missing.delete(p.name);
        continue;
      }
      if (!a || a.machine !== p.name) {
        if (!missing.has(p.name)) missing.set(p.name, now);
        continue;
      }
      missing.delete(p.name);
      if (a.ledger && newer(a.ledger, this.ledger(project), cfg)) this.keep(project, a.ledger);
    }
    // Only those asked this round count (a machine that no longer leads stops asking those below it).
    for (const m of missing.keys()) if (!answers.some((x) => x.p.name === m)) missing.delete(m);
    // Without the project's mesh certificate no peer can be asked: then this machine speaks only for itself and
    // does not lead (every machine would, and send each alert once per machine).
    if (!creds && peers.length) return void this.leaders.delete(project);
    const heard = answers.flatMap((x) => (answered(x) ? [{ p: x.p, a: x.a as PeerAnswer }] : []));
    const reached = new Set([cfg.self, ...heard.map((x) => x.p.name)]);
    const leader = cfg.machines.find((m) => reached.has(m.name) && (m.addr || m.name === cfg.self))?.name ?? cfg.self;
    // The machine asked first may itself have found one above it leading (one that came back): that one leads, and
    // is asked first next round.
    const told = heard.find((x) => x.p.name === leader)?.a.leader;
    this.leaders.set(project, leader !== cfg.self && told && rankOf(told) >= 0 && rankOf(told) < rankOf(leader) ? told : leader);
    if (leader !== cfg.self) return;
    const own = this.facts.facts(project, cfg.rules);
    const facts = [...(own ? [own] : []), ...heard.flatMap((x) => (x.a.facts ? [x.a.facts] : []))];
    const { ledger, events } = evaluate({ cfg, facts, missing: Object.fromEntries(missing), now }, this.ledger(project), cfg.self);
    for (const e of events) this.log(`alert ${e.status}: ${project}: ${e.summary}`);
    if (ledger !== this.ledger(project)) this.keep(project, ledger);
    await this.deliver(project, cfg, now);
  }

  /** Kept-alive TLS connections to the peers, per project and certificate (a rotation starts new ones): a round
   *  every 10 s then costs no handshake (HAProxy keeps an idle connection 60 s). */
  private readonly agents = new Map<string, { crt: string; agent: Agent }>();
  private connections(project: string, creds: { crt: string }): Agent {
    const had = this.agents.get(project);
    if (had?.crt === creds.crt) return had.agent;
    had?.agent.destroy();
    const agent = new Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: 30_000 });
    this.agents.set(project, { crt: creds.crt, agent });
    return agent;
  }

  private keep(project: string, l: Ledger): void {
    // Forgotten while a round was out asking: nothing comes back.
    if (!this.configs.has(project)) return;
    this.ledgers.set(project, l);
    writeAtomic(join(this.dir, `${project}.ledger.json`), JSON.stringify(l), { mode: 0o600 });
  }

  /** Sends what is owed and due; the ledger records each outcome (a new version, so peers copy it). */
  private async deliver(project: string, cfg: AlertsConfig, now: number): Promise<void> {
    const l = this.ledger(project);
    const due = l.events.flatMap((e) => e.deliveries.filter((d) => d.deliveredAt === undefined && !d.gaveUp && (d.nextAt ?? 0) <= now).map((d) => ({ e, d })));
    if (!due.length) return;
    const events: AlertEvent[] = l.events.map((e) => ({ ...e, deliveries: e.deliveries.map((d) => ({ ...d })) }));
    const find = (e: AlertEvent, receiver: string) => events.find((x) => x.id === e.id)!.deliveries.find((d) => d.receiver === receiver)!;
    await Promise.all(
      due.map(async ({ e, d }) => {
        const slot = find(e, d.receiver);
        const n = cfg.receivers.findIndex((x) => receiverId(x) === d.receiver);
        const r = cfg.receivers[n];
        slot.attempts++;
        if (!r) return void ((slot.gaveUp = true), (slot.error = "the receiver is no longer in skiff.yml"));
        try {
          await this.send(r, e, { project, ...(cfg.environment ? { environment: cfg.environment } : {}) });
          slot.deliveredAt = Date.now();
          delete slot.error;
          delete slot.nextAt;
        } catch (x) {
          slot.error = (x as Error).message.slice(0, 300);
          if (now - e.at > RETRY_FOR_MS) {
            slot.gaveUp = true;
            this.log(`alerts: ${project}: gave up sending "${e.summary}" to receiver ${n + 1}: ${slot.error}`);
          } else {
            slot.nextAt = now + Math.min(300_000, 10_000 * 2 ** Math.min(5, slot.attempts - 1));
            this.log(`alerts: ${project}: receiver ${n + 1} failed (try ${slot.attempts}): ${slot.error}`);
          }
        }
      }),
    );
    // The round's own ledger may have moved on meanwhile only by this machine: take the newest and add the outcome.
    const cur = this.ledger(project);
    const merged = cur.events.map((e) => events.find((x) => x.id === e.id) ?? e);
    this.keep(project, { ...cur, version: cur.version + 1, by: cfg.self, events: bound(merged) });
  }
}

/** A peer's ledger wins when its version is higher; at a tie, the one written by the higher-ranked machine. */
function newer(a: Ledger, b: Ledger, cfg: AlertsConfig): boolean {
  if (a.version !== b.version) return a.version > b.version;
  const rank = (m: string) => {
    const i = cfg.machines.findIndex((x) => x.name === m);
    return i < 0 ? Infinity : i;
  };
  return rank(a.by) < rank(b.by);
}

/** GET /alerts?have=V from a peer's mesh frontend, as this machine (its mesh certificate). "none": the peer's agent
 *  answered that it has no alerts for the project (404), or its HAProxy predates alerts (403). */
async function ask(peer: { name: string; addr: string }, project: string, have: number, creds: { crt: string; ca: string }, agent: Agent, withFacts: boolean): Promise<PeerAnswer | "none"> {
  const r = await meshGet({ peer: peer.name, addr: peer.addr, sni: alertShareSni(project), path: `/alerts?have=${have}${withFacts ? "" : "&facts=0"}`, ...creds, timeoutMs: ASK_TIMEOUT_MS, agent });
  if (r.status === 404 || r.status === 403) return "none";
  if (r.status !== 200) throw new Error(`${peer.name}: ${r.status}`);
  return JSON.parse(r.body) as PeerAnswer;
}
