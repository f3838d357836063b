// When a machine is short of room for releases: bytes or inodes. Either one
// running out fails a deploy with "No space left on device" (a release of
// ~12,000 small files ran out of inodes at 573 MB free).
import type { MachineFacts } from "./probe.ts";

/** Below either, free space is "low": a share of the disk, and a floor for small disks. */
export const LOW = { share: 0.1, bytesKb: 200 * 1024, inodes: 10_000 };

const pct = (free: number, total: number) => `${Math.round((free / total) * 100)} %`;

/** Warnings for `machines check`, empty when there is room. */
export function lowSpace(f: Pick<MachineFacts, "disk">): string[] {
  const { freeKb, totalKb, inodesFree, inodesTotal } = f.disk;
  const out: string[] = [];
  if (totalKb && (freeKb < totalKb * LOW.share || freeKb < LOW.bytesKb)) out.push(`low on disk space: ${(freeKb / 1024).toFixed(0)} MB of ${(totalKb / 1024).toFixed(0)} MB free (${pct(freeKb, totalKb)})`);
  // A filesystem without a fixed inode count (btrfs) reports 0 of 0: nothing to run out of.
  if (inodesTotal && (inodesFree < inodesTotal * LOW.share || inodesFree < LOW.inodes)) out.push(`low on inodes (files): ${inodesFree.toLocaleString("en")} of ${inodesTotal.toLocaleString("en")} free (${pct(inodesFree, inodesTotal)})`);
  return out;
}
