// A shell command in a running instance, piped (backups: a database dump out, a restore in): for a process
// instance as `skiff exec` runs it (its user, env, working directory, a cgroup under the instance's; the env
// through descriptor 3, never argv), for a container through the Engine's exec.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Writable } from "node:stream";
import type { InstanceRecord } from "../contracts/model.ts";
import { execCgroups, execEnvScript, execScript, makeExecCgroups, readExecTarget, removeExecCgroups } from "../runtime/process-exec.ts";
import { SYSTEM_ENV, systemBin } from "../runtime/system.ts";

export interface InInstance {
  child: ChildProcess;
  /** Frees what the session made (its cgroups) once the child has exited. */
  cleanup(): Promise<void>;
}

export function spawnInInstance(stateDir: string, inst: InstanceRecord, script: string, stdin: "pipe" | "ignore"): InInstance {
  if ((inst.runtime ?? "docker") === "docker") {
    const child = spawn(systemBin("docker"), ["exec", ...(stdin === "pipe" ? ["-i"] : []), "--", inst.name, "/bin/sh", "-c", script], { stdio: [stdin, "pipe", "pipe"], env: SYSTEM_ENV });
    return { child, cleanup: async () => {} };
  }
  const target = readExecTarget(stateDir, inst.name);
  const cgroups = makeExecCgroups(execCgroups(target, `backup-${randomBytes(4).toString("hex")}`));
  const child = spawn("/bin/sh", ["-c", execScript(target, cgroups), "sh", "/bin/sh", "-c", script], { cwd: "/", env: SYSTEM_ENV, stdio: [stdin, "pipe", "pipe", "pipe"] });
  (child.stdio[3] as Writable).on("error", () => {}).end(execEnvScript(target.env));
  return { child, cleanup: () => removeExecCgroups(cgroups) };
}
