// Low disk space and low inodes are each a warning of their own.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lowSpace } from "../../src/machines/low-space.ts";

const disk = (freeKb: number, totalKb: number, inodesFree: number, inodesTotal: number) => ({ disk: { freeKb, totalKb, inodesFree, inodesTotal } });

describe("lowSpace", () => {
  it("plenty of both: no warning", () => {
    assert.deepEqual(lowSpace(disk(800 * 1024, 1024 * 1024, 60_000, 65_536)), []);
  });

  it("inodes can run out with bytes to spare (the 573 MB free deploy failure)", () => {
    assert.deepEqual(lowSpace(disk(573 * 1024, 1024 * 1024, 1_200, 65_536)), ["low on inodes (files): 1,200 of 65,536 free (2 %)"]);
  });

  it("bytes low by share or below the floor on a small disk", () => {
    assert.deepEqual(lowSpace(disk(5 * 1024 * 1024, 100 * 1024 * 1024, 6e6, 6.5e6)), ["low on disk space: 5120 MB of 102400 MB free (5 %)"]);
    assert.deepEqual(lowSpace(disk(150 * 1024, 1024 * 1024, 60_000, 65_536)), ["low on disk space: 150 MB of 1024 MB free (15 %)"]);
  });

  it("both low: two warnings; a filesystem without an inode count: none for inodes", () => {
    assert.equal(lowSpace(disk(10 * 1024, 1024 * 1024, 100, 65_536)).length, 2);
    assert.deepEqual(lowSpace(disk(800 * 1024, 1024 * 1024, 0, 0)), []);
  });
});
