// What CLI and agent say about skiff's firewall on a machine (agent/firewall.ts
// keeps it): each project's machine addresses, and the table's state.
import { isIP } from "node:net";
import * as z from "zod/mini";
import { nameSchema } from "./activate.ts";

/** An IP literal and nothing else: it goes into the nftables file. */
const address = z.string().check(
  z.maxLength(45),
  z.refine((v) => isIP(v) !== 0 && !v.includes("%"), "must be an IPv4 or IPv6 address"),
);

/** One project's (and environment's) word about this machine. */
export const firewallEntry = z.object({
  project: nameSchema,
  environment: z.optional(nameSchema),
  /** The private addresses of the project's machines: they may reach instance and mesh ports here. */
  addresses: z.array(address).check(z.maxLength(1000)),
  /** false: the machine's owner runs another firewall manager; skiff's table comes off. */
  enabled: z.boolean(),
});
export type FirewallEntry = z.infer<typeof firewallEntry>;

/** applied: the table is in the kernel; off: a project turned it off here; none: no project asked for it; failed: nft refused. */
export const firewallState = z.enum(["applied", "off", "none", "failed"]);
export type FirewallState = z.infer<typeof firewallState>;

export const firewallStatus = z.object({
  state: firewallState,
  /** The union the table allows (empty unless applied). */
  addresses: z.array(z.string()),
  entries: z.array(firewallEntry),
  /** nft's exit code and stderr, when it failed. */
  error: z.optional(z.string()),
  at: z.optional(z.string()),
});
export type FirewallStatus = z.infer<typeof firewallStatus>;

export const firewallSetResult = z.object({ changed: z.boolean(), status: firewallStatus });
