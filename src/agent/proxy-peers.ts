// Peer slots in a backend: the app's instances on other machines. New peers come
// in (and, when active, are seen UP) before gone ones go out, so the backend is
// never empty; backup peer slots mirror the primary ones.
import { MIN_PEER_SLOTS, type ProxyBackend, type Slot } from "../proxy/model.ts";
import { backupPeerInterval, backupPeerPace } from "../proxy/config.ts";
import { addPeerSlots, peerSlots } from "../proxy/peer-slots.ts";
import { peerBackendName } from "../proxy/tcp.ts";
import type { RuntimeApi, SlotOp } from "../proxy/runtime-api.ts";

export type SlotApi = Pick<RuntimeApi, "setState" | "setAddr" | "serverStates" | "sessions" | "info" | "healthUp"> & Partial<Pick<RuntimeApi, "apply">>;

/** Runs slot changes in order: in as few Runtime API requests as the API takes (RuntimeApi.apply), else one by one.
 *  A peer update changes a few slots per peer; on a machine of a large fleet, one request each was most of it. */
async function run(api: SlotApi, backend: string, ops: SlotOp[]): Promise<void> {
  if (!ops.length) return;
  if (api.apply) return api.apply(backend, ops);
  for (const op of ops) {
    if ("state" in op) await api.setState(backend, op.server, op.state);
    else await api.setAddr(backend, op.server, op.addr, op.port);
  }
}

export interface Peer {
  name: string;
  addr: string;
  port: number;
}

interface PeerDeps {
  api: SlotApi;
  reload(): Promise<void>;
  waitUp(backend: string, names: string[], timeoutMs: number): Promise<boolean>;
  log(s: string): void;
}

/** Places the peers in primary peer slots, taking traffic (`active`) while this machine runs none of its own. */
/** How often each backup peer is checked follows their number; it changes by a reload, so only when it would
 *  change twofold (a handful of reloads as a fleet grows from 2 to 60 machines). True when `count` peers call for it. */
export function paceIsOff(b: ProxyBackend, count: number): boolean {
  const pace = backupPeerInterval(count);
  const paced = backupPeerPace(b);
  return pace >= 2 * paced || pace * 2 <= paced;
}

export async function placePeers(d: PeerDeps, b: ProxyBackend, peers: Peer[], active: boolean): Promise<void> {
  // Where HAProxy has the peer slots (a TCP app's are in a backend of their own).
  const backend = peerBackendName(b);
  const wanted = new Map(peers.map((p) => [p.name, p]));
  const keep = (s: Slot) => s.instance !== undefined && wanted.has(s.instance) && wanted.get(s.instance)!.addr === s.addr && wanted.get(s.instance)!.port === s.port;
  const have = peerSlots(b, "primary");
  // Sets and a moving cursor, not a scan per peer: a machine of a large fleet has a peer slot per other machine.
  const kept = new Set(have.filter(keep).map((s) => s.instance!));
  const incoming = peers.filter((p) => !kept.has(p.name));
  const free = have.filter((s) => !s.instance).length;
  // How often each backup peer is checked follows their number; it changes by a reload, so only when it would
  // change twofold (a handful of reloads as a fleet grows from 2 to 60 machines).
  const pace = backupPeerInterval(peers.length);
  const repace = paceIsOff(b, peers.length);
  if (free < incoming.length || peerSlots(b, "backup").length < have.length) {
    // Rare (more than MIN_PEER_SLOTS remote instances): grow with room to spare, so it stays rare.
    const want = Math.max(MIN_PEER_SLOTS, have.length, 2 * (have.length + incoming.length - free));
    addPeerSlots(b, "primary", want);
    addPeerSlots(b, "backup", want);
    if (repace) b.peerCheckMs = pace;
    d.log(`proxy: backend ${backend} gets peer slots, reloading HAProxy`);
    await d.reload();
  } else if (repace) {
    const before = b.peerCheckMs;
    b.peerCheckMs = pace;
    d.log(`proxy: backend ${backend} checks its ${peers.length} backup peers every ${pace / 1000} s, reloading HAProxy`);
    try {
      await d.reload();
    } catch (e) {
      // Not applied: the state says what HAProxy runs (the next change tries again).
      b.peerCheckMs = before;
      throw e;
    }
  }
  const slots = peerSlots(b, "primary");
  const state = active ? "ready" : "maint";
  const added: Slot[] = [];
  let cursor = 0;
  const ops: SlotOp[] = [];
  for (const p of incoming) {
    while (slots[cursor]!.instance) cursor++;
    const s = slots[cursor]!;
    ops.push({ server: s.name, state: "maint" }, { server: s.name, addr: p.addr, port: p.port });
    Object.assign(s, { instance: p.name, addr: p.addr, port: p.port, state: "maint" });
    added.push(s);
  }
  for (const s of slots.filter((x) => x.instance && keep(x) && x.state !== state)) {
    ops.push({ server: s.name, state });
    s.state = state;
  }
  await run(d.api, backend, ops);
  if (active && added.length) {
    await run(d.api, backend, added.filter((s) => s.state !== "ready").map((s) => ({ server: s.name, state: "ready" as const })));
    for (const s of added) s.state = "ready";
    await d.waitUp(backend, added.map((s) => s.name), 3000);
  }
  // Only now the peers that went away leave (open sessions to them finish: maint takes no new ones).
  const fresh = new Set(added);
  const leaving = slots.filter((x) => x.instance && !keep(x) && !fresh.has(x));
  await run(d.api, backend, leaving.map((s) => ({ server: s.name, state: "maint" as const })));
  for (const s of leaving) Object.assign(s, { instance: undefined, state: "maint", addr: "127.0.0.1", port: 1 });
  await mirrorBackupPeers(d.api, b, active);
}

/** Peer slots take traffic, or stop taking it (this machine has its own instances again). Turned on, they are
 *  given a moment to be seen UP before the caller drains the local instances. */
export async function setPeersActive(d: PeerDeps, b: ProxyBackend, active: boolean): Promise<void> {
  const want = active ? "ready" : "maint";
  const changing = peerSlots(b, "primary").filter((x) => x.instance && x.state !== want);
  await run(d.api, peerBackendName(b), changing.map((s) => ({ server: s.name, state: want })));
  for (const s of changing) s.state = want;
  if (active && changing.length) await d.waitUp(peerBackendName(b), changing.map((s) => s.name), 3000);
  await mirrorBackupPeers(d.api, b, active);
}

/** Backup peer slot qN carries what primary peer slot pN carries; it takes traffic only while this machine has
 *  instances of its own (peers are primary otherwise) and HAProxy finds every one of them down, as after a restart
 *  before they are back. Local instances keep all the traffic while any of them is UP. */
async function mirrorBackupPeers(api: SlotApi, b: ProxyBackend, active: boolean): Promise<void> {
  const primary = new Map(peerSlots(b, "primary").map((s) => [s.name.slice(1), s]));
  const backups = peerSlots(b, "backup");
  // New addresses first, gone ones last, as for the primary peer slots.
  const order = [...backups].sort((x, y) => Number(!primary.get(x.name.slice(1))?.instance) - Number(!primary.get(y.name.slice(1))?.instance));
  // Two requests: addresses first, then the states that depend on them. HAProxy runs every command of a request
  // even after one it refused, so a `ready` in the same request would enable a slot at an address it did not take.
  const moves: SlotOp[] = [];
  const states: SlotOp[] = [];
  for (const q of order) {
    const p = primary.get(q.name.slice(1));
    const want = p?.instance ? { instance: p.instance, addr: p.addr, port: p.port } : { instance: undefined, addr: "127.0.0.1", port: 1 };
    const state = want.instance && !active ? "ready" : "maint";
    if (q.instance !== want.instance || q.addr !== want.addr || q.port !== want.port) {
      moves.push({ server: q.name, state: "maint" });
      if (q.addr !== want.addr || q.port !== want.port) moves.push({ server: q.name, addr: want.addr, port: want.port });
      Object.assign(q, want, { state: "maint" });
    }
    if (q.state !== state) {
      states.push({ server: q.name, state });
      q.state = state;
    }
  }
  await run(api, peerBackendName(b), moves);
  await run(api, peerBackendName(b), states);
}
