// Shared by the end-to-end suites: a project directory aimed at the bed, and the
// built CLI run as a user would run it.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bedConfig, type Bed } from "../../testbed/bed.ts";

const BIN = new URL("../../bin/skiff.js", import.meta.url).pathname;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Project {
  dir: string;
  /** ControlMaster sockets for this project only, so tests do not share connections by accident. */
  socketDir: string;
  /** `stdin`: what the command reads (`secrets set`); otherwise it reads nothing. */
  skiff(args: string[], opts?: { socketDir?: string; stdin?: string }): Promise<Run>;
  /** Starts the CLI and returns at once: its pid, its output so far, and its result later. */
  start(args: string[]): { pid: number; done: Promise<Run>; stdout: () => string; stderr: () => string };
}

/** A project directory; without a bed, the test writes its own skiff.yml. */
export function makeProject(bed?: Bed, extra = ""): Project {
  const dir = mkdtempSync(join(tmpdir(), "skiff-e2e-"));
  if (bed) writeFileSync(join(dir, "skiff.yml"), bedConfig(bed, { extra }));
  const socketDir = mkdtempSync(join(tmpdir(), "skiff-sock-"));
  // setup of a project without secrets.recipients encrypts its mesh CA key to your own age key, made when you have
  // none: the test's own, in its project directory, never the user's.
  const start = (args: string[], opts: { socketDir?: string; stdin?: string } = {}) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, SKIFF_SOCKET_DIR: opts.socketDir ?? socketDir, NO_COLOR: "1", SKIFF_AGE_IDENTITY: process.env.SKIFF_AGE_IDENTITY ?? join(dir, ".age-key.txt") }, stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    if (opts.stdin !== undefined) p.stdin!.end(opts.stdin);
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (b) => (stdout += b));
    p.stderr!.on("data", (b) => (stderr += b));
    const done = new Promise<Run>((resolve) => p.on("close", (code) => resolve({ code, stdout, stderr })));
    return { pid: p.pid!, done, stdout: () => stdout, stderr: () => stderr };
  };
  return { dir, socketDir, start, skiff: (args, opts) => start(args, opts).done };
}

export const freshSocketDir = () => mkdtempSync(join(tmpdir(), "skiff-sock-"));
