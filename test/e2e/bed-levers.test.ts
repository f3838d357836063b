// The test bed's own levers, as `npm run bed -- LEVER NAME` runs them: a machine
// is named as in skiff.yml (m2) or as Docker shows it (skiff-bed-m2); fill-disk
// fills the disk and says so.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { before, describe, it } from "node:test";
import { faults, up, type Bed } from "../../testbed/bed.ts";

const CLI = new URL("../../testbed/cli.ts", import.meta.url).pathname;
let bed: Bed;

const lever = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8", timeout: 120_000 });
const freeKb = async () => Number(await faults.exec(bed.machines[1]!, "df -k --output=avail /var/lib/skiff | tail -1"));

describe("test bed levers", { timeout: 300_000 }, () => {
  before(async () => {
    bed = await up({ count: 3 });
  });

  it("restart takes the container name too", async () => {
    const r = lever("restart", "skiff-bed-m2");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /restart m2: done/);
    assert.equal(await faults.exec(bed.machines[1]!, "echo up"), "up");
  });

  it("fill-disk fills the disk and reports success; free-disk frees it", async () => {
    let failure: unknown;
    try {
      const r = lever("fill-disk", "m2");
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /fill-disk m2: done \(\d+ KiB left free/);
      assert.ok((await freeKb()) < 64, `${await freeKb()} KiB still free`);
      // The disk is really full: a write fails.
      assert.match(await faults.exec(bed.machines[1]!, "head -c 1048576 /dev/zero 2>&1 >/var/lib/skiff/.probe; rm -f /var/lib/skiff/.probe; true"), /No space left on device/);
    } catch (e) {
      failure = e;
    }
    // Freed whatever happened above; that failure, if any, is the one reported.
    const f = lever("free-disk", "skiff-bed-m2");
    if (failure) throw failure;
    assert.equal(f.status, 0, f.stderr);
    assert.ok((await freeKb()) > 500_000, "the disk has room again");
  });
});
