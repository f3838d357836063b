// Peer slots of a backend: the app's instances on other machines. Primary peer
// slots (pN) take traffic while this machine runs none of the app; backup peer
// slots (qN) mirror them and take traffic only while every local instance is down.
import type { ProxyBackend } from "./model.ts";

/** Peer slots of one kind: primary (pN) or backup (qN). */
export const peerSlots = (b: ProxyBackend, kind: "primary" | "backup") => b.slots.filter((s) => s.peer && Boolean(s.backup) === (kind === "backup"));

/** Adds peer slots of a kind up to `count`; returns how many were added. */
export function addPeerSlots(b: ProxyBackend, kind: "primary" | "backup", count: number): number {
  const have = peerSlots(b, kind).length;
  for (let i = have; i < count; i++) b.slots.push({ name: `${kind === "backup" ? "q" : "p"}${i + 1}`, addr: "127.0.0.1", port: 1, state: "maint", peer: true, backup: kind === "backup" || undefined });
  return Math.max(0, count - have);
}
