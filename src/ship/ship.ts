// Ship: an image goes only to machines that lack it, streamed
// (`docker save | ssh … docker load`), no temp file on either side.
import { spawn } from "node:child_process";
import { UserError } from "../errors.ts";
import type { AgentClient } from "../transport/agent-client.ts";
import type { Reporter } from "../contracts/events.ts";
import { relevantStderr } from "../transport/remote-error.ts";
import { AGENT_BIN } from "../contracts/paths.ts";
import { tarPackArgs } from "../contracts/artifact.ts";
import { dockerCommand, type AppImage } from "../build/image.ts";

function stream(image: AppImage, client: AgentClient): Promise<number> {
  // Docker: `docker save | docker load`. Process app: `tar | skiff-agent artifact-put`, which checks the content hash.
  const [file, args, remote, what] =
    image.runtime === "process"
      ? ["tar", tarPackArgs(image.dir!), [AGENT_BIN, "artifact-put", image.id!.slice("artifact:".length)], "unpack"]
      : [dockerCommand(), ["save", image.ref], ["docker", "load", "-q"], "docker load"];
  return new Promise((resolve, reject) => {
    const save = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    const load = client.transport.spawn(remote);
    let bytes = 0;
    let saveErr = "";
    let loadErr = "";
    save.stdout.on("data", (b: Buffer) => (bytes += b.length));
    save.stdout.pipe(load.stdin!);
    save.stderr.on("data", (b) => (saveErr += b));
    load.stderr!.on("data", (b) => (loadErr += b));
    load.stdout!.resume();
    load.stdin!.on("error", () => {});
    let saveCode: number | null = null;
    save.on("close", (c) => (saveCode = c));
    load.on("close", (code) => {
      if (saveCode !== 0 && saveCode !== null) return reject(new UserError(`local: ${file} for ${image.ref} failed\n${relevantStderr(saveErr).map((l) => `  │ ${l}`).join("\n")}`));
      if (code !== 0) return reject(new UserError(`${client.machine}: ship ${image.ref} failed (${what} exit ${code}${code === 255 ? ": ssh itself failed" : ""})\n${relevantStderr(loadErr).map((l) => `  │ ${l}`).join("\n")}`, { hint: "check free disk space on the machine (skiff machines check)" }));
      resolve(bytes);
    });
  });
}

/** Makes sure every machine has every image; returns bytes sent per machine. */
export async function ship(images: AppImage[], clients: AgentClient[], reporter: Reporter): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      for (const img of images) {
        if (img.id && (await c.call<boolean>("image.has", { image: img.id, runtime: img.runtime }))) continue;
        if (!img.id) {
          // `image:` apps not present here: the machine must already have it (or pull it itself).
          const id = await c.call<string | null>("image.id", { image: img.ref });
          if (id) {
            img.id ??= id;
            continue;
          }
          throw new UserError(`image ${img.ref} of ${img.app} is neither on this computer nor on ${c.machine}`, { hint: `pull or build it locally (docker pull ${img.ref}), or load it on the machine` });
        }
        const started = Date.now();
        reporter.emit({ type: "step", machine: c.machine, step: `ship ${img.ref}`, status: "start" });
        const bytes = await stream(img, c);
        if (!(await c.call<boolean>("image.has", { image: img.id, runtime: img.runtime }))) throw new UserError(`${c.machine}: ${img.ref} was loaded but its ID does not match ${img.id}`);
        reporter.emit({ type: "step", machine: c.machine, step: `ship ${img.ref}`, status: "ok", ms: Date.now() - started, detail: `${(bytes / 1e6).toFixed(1)} MB` });
      }
    }),
  );
}
