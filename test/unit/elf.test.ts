// Reading what a Linux binary needs from its ELF headers: checked on real files of this machine.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { compareVersions, elfNeeds, newestNeeded } from "../../src/machines/elf.ts";

const UNAME = spawnSync("uname", ["-m"], { encoding: "utf8" }).stdout.trim();

describe("elfNeeds", () => {
  it("reads this Node's CPU, loader and newest glibc/libstdc++ needs", () => {
    const e = elfNeeds(readFileSync(process.execPath));
    assert.equal(e.arch, UNAME);
    assert.match(e.interpreter ?? "", /^\/lib(64)?\/ld-linux/);
    // Node's own minimum for Linux builds since 18 is glibc 2.28; a distribution build may need a newer one.
    assert.ok(compareVersions(newestNeeded(e, "GLIBC")!, "2.17") >= 0, JSON.stringify(e.versions));
    assert.ok(e.versions["libc.so.6"]?.GLIBC);
    const glibc = spawnSync("getconf", ["GNU_LIBC_VERSION"], { encoding: "utf8" }).stdout.trim().replace(/^glibc /, "");
    assert.ok(compareVersions(newestNeeded(e, "GLIBC")!, glibc) <= 0, "it runs here, so it needs no newer glibc than this machine's");
  });

  it("a shell needs glibc and no libstdc++", () => {
    const e = elfNeeds(readFileSync("/bin/sh"));
    assert.equal(e.arch, UNAME);
    assert.equal(newestNeeded(e, "GLIBCXX"), undefined);
    assert.ok(newestNeeded(e, "GLIBC"));
  });

  it("refuses what is not a 64-bit little-endian ELF file, saying why", () => {
    const macho = Buffer.alloc(64);
    macho.writeUInt32BE(0xcffaedfe, 0);
    assert.throws(() => elfNeeds(macho), /not an ELF executable \(not built for Linux\)/);
    assert.throws(() => elfNeeds(Buffer.from("#!/bin/sh\necho hi\n")), /not an ELF executable/);
    const elf32 = Buffer.from(readFileSync("/bin/sh").subarray(0, 64));
    elf32[4] = 1;
    assert.throws(() => elfNeeds(elf32), /not a 64-bit little-endian ELF executable/);
  });

  it("compares versions by number, not by text", () => {
    assert.equal(compareVersions("2.28", "2.3"), 1);
    assert.equal(compareVersions("3.4.9", "3.4.25"), -1);
    assert.equal(compareVersions("2.36", "2.36.0"), 0);
  });
});
