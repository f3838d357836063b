// The Node runtime setup ships for the agent: the one this CLI runs on
// (process.execPath), or SKIFF_AGENT_NODE's. Read once per file: its hash,
// version and ELF needs are cached by path, size and mtime, and its gzip (what
// goes over the wire to each machine that lacks it) by hash, under the user's
// cache folder — so a second setup neither hashes nor compresses 100 MB again.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { UserError } from "../errors.ts";
import { hostSettings } from "../settings.ts";
import { elfNeeds, newestNeeded } from "../machines/elf.ts";
import type { NodeRuntime } from "../plan/setup.ts";

export interface LoadedRuntime {
  facts: NodeRuntime;
  /** The file, gzip-compressed: made on first use (and cached), never for a dry run or when no machine needs it. */
  payload: () => Promise<Buffer>;
}

export function runtimeCacheDir(cacheHome = hostSettings().cacheHome): string {
  return join(cacheHome || join(homedir(), ".cache"), "skiff", "node-runtime");
}

/** Facts about the binary at `path`; `own` when it is the Node running this CLI (its version needs no run). */
function inspect(path: string, own: boolean): Omit<NodeRuntime, "source"> {
  const buf = readFileSync(path);
  const sha256 = createHash("sha256").update(buf).digest("hex");
  let version = own ? process.version : "";
  if (!version) {
    // A binary for another CPU does not run here: its version is then unknown, and only its hash tells runtimes apart.
    const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
    version = r.status === 0 && /^v\d+\.\d+\.\d+/.test(r.stdout) ? r.stdout.trim() : "unknown";
  }
  try {
    const e = elfNeeds(buf);
    const glibc = newestNeeded(e, "GLIBC");
    const musl = /musl/.test(e.interpreter ?? "");
    return { version, sha256, bytes: buf.length, arch: e.arch, glibc, glibcxx: newestNeeded(e, "GLIBCXX"), ...(musl ? { problem: `${path} is a musl build of Node` } : {}) };
  } catch (err) {
    return { version, sha256, bytes: buf.length, arch: "unknown", problem: `the agent's Node runtime ${path} cannot run on a Linux machine: ${(err as Error).message}` };
  }
}

export function loadNodeRuntime(file = hostSettings().agentNode, cacheHome = hostSettings().cacheHome): LoadedRuntime {
  const path = file ?? process.execPath;
  const source = file ? `from ${path}` : `the CLI's own, ${path}`;
  if (!existsSync(path)) throw new UserError(`the Node runtime ${path} for the agent does not exist`, { hint: "set SKIFF_AGENT_NODE to a Linux Node binary (nodejs.org's linux-x64 or linux-arm64 build), or unset it to ship the CLI's own Node" });
  const st = statSync(path);
  const dir = runtimeCacheDir(cacheHome);
  const key = createHash("sha256").update(`${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`).digest("hex").slice(0, 32);
  const metaFile = join(dir, `${key}.json`);
  let facts: Omit<NodeRuntime, "source">;
  try {
    facts = JSON.parse(readFileSync(metaFile, "utf8")) as Omit<NodeRuntime, "source">;
  } catch {
    // Through JSON as the cache keeps it, so a first and a cached load give equal facts.
    facts = JSON.parse(JSON.stringify(inspect(path, !file || path === process.execPath))) as Omit<NodeRuntime, "source">;
    mkdirSync(dir, { recursive: true });
    writeFileSync(metaFile, JSON.stringify(facts));
  }
  let made: Promise<Buffer> | undefined;
  const payload = () => (made ??= gzipped(path, facts.sha256, dir));
  return { facts: { source, ...facts, ...(file ? { chosen: true } : {}) }, payload };
}

async function gzipped(path: string, sha256: string, dir: string): Promise<Buffer> {
  const gz = join(dir, `${sha256}.gz`);
  if (!existsSync(gz)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${gz}.${process.pid}.tmp`;
    await pipeline(createReadStream(path), createGzip({ level: 6 }), createWriteStream(tmp));
    renameSync(tmp, gz);
  }
  // The machine checks the unpacked file against sha256, so a damaged cache entry fails there, loudly.
  return readFile(gz);
}
