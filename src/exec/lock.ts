// The deploy lock: one per project, taken on every target machine (an atomic
// mkdir there, under locks/<project>), recording who, when and what, kept alive
// by a heartbeat. Machines are locked one at a time in name order, so of two
// deploys started together the one that gets the first machine gets them all
// and the other fails naming it (no deadlock of half-held locks). A holder
// that learns its lock is gone (broken, taken, or unconfirmed for too long)
// stops and returns what it switched; every change it asks of an agent names
// the holder, and the agent refuses it once the lock there is not that
// holder's (the fence). A lock whose heartbeat stopped belongs
// to a dead deploy; `skiff lock release` breaks only such a lock (or --force).
import { hostname, userInfo } from "node:os";
import type { LockInfo } from "../contracts/model.ts";
import { UserError } from "../errors.ts";
import type { Project } from "../config/model.ts";
import { AgentRefused, agentClients, type AgentClient } from "../transport/agent-client.ts";
import { allInOrder, settleAll } from "../lib/parallel.ts";
import { hostSettings } from "../settings.ts";

export const STALE_AFTER_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const RETRY_MS = 2_000;

let lastStamp = 0;
/** Milliseconds, never the same twice in this process: the holder must be unique per acquisition (the agents
 *  fence on it, and a lock with the same holder is ours to take again); pid and user tell processes apart. */
function uniqueStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}

/** Who runs this command: the host setting `user` (SKIFF_USER), else user@host. */
export function whoAmI(): string {
  return hostSettings().user || `${userInfo().username}@${hostname()}`;
}

export function describeHolder(h: LockInfo | undefined, now = Date.now()): string {
  if (!h) return "someone (no details recorded)";
  const age = now - Date.parse(h.heartbeat);
  const dead = Number.isFinite(age) && age > STALE_AFTER_MS;
  return `${h.holder} (${h.command}, pid ${h.pid} on ${h.host}, since ${h.since})${dead ? `; its last heartbeat was ${Math.round(age / 1000)}s ago, so that deploy looks dead` : ""}`;
}

export interface HeldLock {
  /** The locked machines, in the project's order. Their mutating calls (activate, hook.run, app.remove) name
   *  this deploy's holder, so an agent refuses them once the lock is no longer this deploy's. */
  clients: AgentClient[];
  unreachable: { machine: string; error: UserError }[];
  /** This deploy's identity in the lock. */
  holder: string;
  /** Heartbeats every machine now: why the lock is no longer this deploy's, or undefined while it holds.
   *  With `final` (after the last wave), a machine that merely did not confirm is a warning, not a loss. */
  check(opts?: CheckOptions): Promise<string | undefined>;
  release(): Promise<void>;
}

export interface CheckOptions {
  final?: boolean;
  warn?: (message: string) => void;
}

export interface LockOptions {
  project: string;
  skipUnreachable?: boolean;
  waitMs?: number;
  heartbeatMs?: number;
  staleAfterMs?: number;
  /** Where a lock left behind is told (default: stderr). */
  warn?: (message: string) => void;
  /** How long a machine may take to answer the first round (a ping, the first machine's lock.acquire) and a
   *  release of the lock on the way out; a hung agent counts as unreachable after it. Default: half of staleAfterMs. */
  reachMs?: number;
}

const byName = (a: AgentClient, b: AgentClient) => (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0);

/** The agent methods that change a machine: they carry the holder, and the agent fences on it. */
const FENCED = new Set(["activate", "hook.run", "app.remove", "history.add"]);

/** The same channel, its mutating calls naming the holder. A wrapper rather than a parameter of every caller
 *  (deploy, scale, rollback, remove): no call made under the lock can forget it. */
function fenced(c: AgentClient, holder: string): AgentClient {
  const call = (method: string, params?: unknown) => c.call(method, FENCED.has(method) && typeof params === "object" && params !== null ? { ...params, holder } : params);
  return new Proxy(c, {
    get: (t, k) => {
      if (k === "call") return call;
      const v: unknown = Reflect.get(t, k, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

/** The call's answer, or a rejection after `ms`: an agent channel has no timeout of its own, and a heartbeat
 *  that hangs must count as unconfirmed. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, no) => {
    timer = setTimeout(() => no(new Error(`no answer to ${what} within ${Math.round(ms / 100) / 10}s`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split("\n")[0] ?? "";

export async function acquireLocks(clients: AgentClient[], command: string, opts: LockOptions): Promise<HeldLock> {
  const project = opts.project;
  const info: LockInfo = { holder: `${whoAmI()}#${process.pid}-${uniqueStamp()}`, host: hostname(), pid: process.pid, command, since: new Date().toISOString(), heartbeat: new Date().toISOString() };
  const staleAfterMs = opts.staleAfterMs ?? STALE_AFTER_MS;
  const warn = opts.warn ?? ((m: string) => void process.stderr.write(`warning: ${m}\n`));
  const until = Date.now() + (opts.waitMs ?? 0);
  const reachMs = opts.reachMs ?? staleAfterMs / 2;
  /** A hung agent (its connection open, nothing answered) is unreachable, not a wait without end: the first
   *  machine's lock, taken in the same round, is held without a heartbeat until then. */
  const reached = <T>(c: AgentClient, p: Promise<T>, what: string): Promise<T> =>
    within(p, reachMs, what).catch((e: unknown) => {
      if (e instanceof Error && e.message.startsWith("no answer to "))
        throw new UserError(`${c.machine}: ${e.message} (the machine or its agent does not answer)`, { hint: `\`skiff machines check\` looks at the agent on ${c.machine}` });
      throw e;
    });

  /** Gives this deploy's lock back on one machine, within reachMs. */
  const releaseOn = (c: AgentClient) => within(c.call("lock.release", { project, holder: info.holder }), reachMs, "the lock release");
  const mayStillHold = (where: string) => `the deploy lock of project ${project} may still be held by this deploy on ${where}: \`skiff lock release\` frees it once its heartbeat is ${Math.round(staleAfterMs / 1000)}s old`;

  const held: AgentClient[] = [];
  // A lock.acquire without an answer may have taken the lock there (the reply was lost): released too, which
  // is safe, as a release removes only our own holder's lock.
  const asked: AgentClient[] = [];
  /** Releases what this deploy took; says where the lock may remain (a release that failed). */
  const undo = async (): Promise<string> => {
    const left: string[] = [];
    await Promise.all(
      [...new Set([...held, ...asked])].map((c) =>
        releaseOn(c).catch((e) => {
          left.push(`${c.machine} (${firstLine(e)})`);
        }),
      ),
    );
    held.length = 0;
    asked.length = 0;
    if (!left.length) return "";
    left.sort();
    return mayStillHold(left.join(", "));
  };
  type Busy = { machine: string; holder?: LockInfo } | undefined;
  /** Machines left out as unreachable (--skip-unreachable): a lock.acquire that still gets there and answers late
   *  is given back, not kept (this command does not talk to that machine again). */
  const gaveUp = new Set<AgentClient>();
  const take = async (c: AgentClient): Promise<Busy> => {
    asked.push(c);
    const r = await c.call<{ ok: boolean; holder?: LockInfo }>("lock.acquire", { project, info });
    const i = asked.indexOf(c);
    if (i >= 0) asked.splice(i, 1);
    if (gaveUp.has(c)) {
      if (r.ok) void releaseOn(c).catch((e) => warn(mayStillHold(`${c.machine} (${firstLine(e)})`)));
      return undefined;
    }
    if (!r.ok) return { machine: c.machine, holder: r.holder };
    held.push(c);
    return undefined;
  };
  /** A failure that says the machine cannot be reached (an agent's refusal or a bug is thrown as it is). */
  const unreachable = (e: unknown): e is UserError => e instanceof UserError && !(e instanceof AgentRefused);

  // Every machine is reached before anything is kept, so an unreachable one changes nothing anywhere. In the same
  // round trip the first machine by name is asked for the lock (it decides between deploys started together), the
  // others are only reached: a lock taken there is released when another machine cannot be reached.
  const sorted = [...clients].sort(byName);
  const down: { machine: string; error: UserError }[] = [];
  const first: { answered?: boolean; busy?: Busy } = {};
  const reach = await settleAll(sorted, 20, (c) => (c === sorted[0] ? reached(c, take(c), "the lock request").then((busy) => void Object.assign(first, { answered: true, busy })) : reached(c, c.call("ping"), "a ping")));
  const failure = async (e: unknown): Promise<never> => {
    const left = await undo();
    if (e instanceof UserError) throw new UserError(`${e.message}\nnothing was changed on any machine${left ? `\n${left}` : ""}`, { hint: e.hint });
    if (left) warn(left);
    throw e;
  };
  for (const [i, r] of reach.entries()) {
    if (r.ok) continue;
    if (!unreachable(r.error)) await failure(r.error);
    down.push({ machine: sorted[i]!.machine, error: r.error as UserError });
    // Left out: its acquire either never got there (no connection) or is still on its way (no answer in time); a
    // late answer gives the lock back rather than keeping it.
    gaveUp.add(sorted[i]!);
  }
  const order = new Map(clients.map((c, i) => [c.machine, i]));
  down.sort((a, b) => order.get(a.machine)! - order.get(b.machine)!);
  if (down.length && !opts.skipUnreachable) {
    const left = await undo();
    const names = down.map((d) => d.machine).join(", ");
    const firstDown = down[0]!.error;
    throw new UserError(`${names} unreachable; nothing was changed on any machine\n${firstDown.message}${left ? `\n${left}` : ""}`, { hint: firstDown.hint ? `${firstDown.hint}; or pass --skip-unreachable to go on without ${names}` : `pass --skip-unreachable to go on without ${names}` });
  }
  const reachable = sorted.filter((c) => !down.some((d) => d.machine === c.machine));
  // The first machine skipped as unreachable: nothing of it to release here (see gaveUp).
  if (!first.answered && asked.includes(sorted[0]!)) asked.splice(asked.indexOf(sorted[0]!), 1);
  if (!reachable.length) throw new UserError("no machine could be reached");

  // The first try at the first machine is made above (unless it was unreachable and skipped: then the first
  // reachable one is asked now); a later try (--wait) asks again.
  let tried: Busy | null = first.answered ? first.busy : null;
  for (;;) {
    let busy: Busy;
    try {
      const [head, ...rest] = reachable;
      busy = tried !== null ? tried : await take(head!);
      tried = null;
      // All settled before anything is undone, so no acquire lands after the undo.
      if (!busy) busy = (await allInOrder(rest.map(take))).find(Boolean);
    } catch (e) {
      return failure(e);
    }
    if (!busy) break;
    const left = await undo();
    if (Date.now() < until) {
      // Our own lock left behind is no obstacle: the next try takes it again (same holder).
      if (left) warn(left);
      await new Promise((r) => setTimeout(r, RETRY_MS));
      continue;
    }
    throw new UserError(`another deploy holds the lock of project ${project} on ${busy.machine}: ${describeHolder(busy.holder)}${left ? `\n${left}` : ""}`, {
      hint: "wait for it (skiff deploy --wait), or if it is dead, run `skiff lock release`",
    });
  }

  // Two different things. Taken: a machine answered that the lock is not ours (broken, or another deploy's) —
  // final. Unconfirmed: a machine has not confirmed it for half the time after which another deploy may call it
  // stale — perhaps only a slow link, so it is asked once more before it counts.
  const confirmed = new Map(held.map((c) => [c.machine, Date.now()]));
  const lastError = new Map<string, string>();
  const inflight = new Map<string, Promise<void>>();
  let taken: string | undefined;
  const timeoutMs = Math.max(1, staleAfterMs / 4);
  const beatOne = (c: AgentClient): Promise<void> => {
    let p = inflight.get(c.machine);
    if (!p) {
      p = within(c.call<boolean>("lock.heartbeat", { project, holder: info.holder }), timeoutMs, "the lock heartbeat")
        .then(
          (ours) => {
            if (ours) confirmed.set(c.machine, Date.now());
            else taken ??= `the deploy lock on ${c.machine} was broken or taken by another deploy`;
          },
          (e) => void lastError.set(c.machine, firstLine(e)),
        )
        .finally(() => inflight.delete(c.machine));
      inflight.set(c.machine, p);
    }
    return p;
  };
  const beat = () => Promise.all(held.map(beatOne));
  const unconfirmed = () =>
    held
      .map((c) => ({ machine: c.machine, since: Date.now() - confirmed.get(c.machine)! }))
      .filter((x) => x.since > staleAfterMs / 2)
      .map((x) => `${x.machine} has not confirmed the deploy lock for ${Math.round(x.since / 1000)}s${lastError.has(x.machine) ? ` (${lastError.get(x.machine)})` : ""}`);
  let lost: string | undefined;
  const check = async (o: CheckOptions = {}): Promise<string | undefined> => {
    if (taken || lost) return taken ?? lost;
    await beat();
    if (!taken && unconfirmed().length) await beat();
    if (taken) return taken;
    const late = unconfirmed();
    if (!late.length) return undefined;
    const why = late.join("; ");
    if (o.final) {
      // Every switch of this deploy was made while the agent saw our lock (it fences on the holder), so the
      // finished deploy is consistent: reverting it over a blip would only cause an outage.
      o.warn?.(`${why}; the deploy finished (each machine checked the lock before it switched)`);
      return undefined;
    }
    lost = why;
    return lost;
  };
  const timer = setInterval(() => void beat(), opts.heartbeatMs ?? HEARTBEAT_MS);
  timer.unref();
  return {
    clients: clients.filter((c) => held.includes(c)).map((c) => fenced(c, info.holder)),
    unreachable: down,
    holder: info.holder,
    check,
    release: async () => {
      clearInterval(timer);
      const left = await undo();
      if (left) warn(left);
    },
  };
}

/** Opens a channel to every machine, takes the deploy lock, runs `work`, then releases the lock and
 *  closes every channel whatever happened (a failed lock included). */
export async function withDeployLock<T>(project: Project, command: string, opts: Omit<LockOptions, "project">, work: (lock: HeldLock) => Promise<T>): Promise<T> {
  const clients = agentClients(project);
  try {
    const lock = await acquireLocks(clients, command, { ...opts, project: project.name });
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  } finally {
    for (const c of clients) c.close();
  }
}
