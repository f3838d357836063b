// Ship: an image goes only to machines its app is placed on and that lack it,
// streamed (`docker save | ssh … docker load`), no temp file on either side. A
// process app's artifact packed at build time streams from that one file.
import { spawn, type ChildProcess } from "node:child_process";
import { createReadStream, rmSync } from "node:fs";
import type { Readable } from "node:stream";
import { UserError } from "../errors.ts";
import type { AgentClient } from "../transport/agent-client.ts";
import type { Reporter } from "../contracts/events.ts";
import { relevantStderr } from "../transport/remote-error.ts";
import { AGENT_BIN, STATE_DIR } from "../contracts/paths.ts";
import { tarPackArgs } from "../contracts/artifact.ts";
import { dockerCommand, type AppImage } from "../build/image.ts";
import { limiter } from "../lib/parallel.ts";

/** An image or artifact to ship; `relayFrom`: not on this computer, streamed from this machine of the project,
 *  which has it (`skiff scale`). */
export type ShipImage = AppImage & { relayFrom?: AgentClient };

/** Where the bytes come from: a packed file here (read, no process), a local command, or (relayed) a command on
 *  the machine that has it. `code` is set once it ended (0: all sent). */
interface Source {
  what: string;
  where: string;
  out: Readable;
  err: () => string;
  code?: number | null;
}

function fromProcess(what: string, where: string, p: ChildProcess): Source {
  let err = "";
  p.stderr!.on("data", (b) => (err += b));
  const src: Source = { what, where, out: p.stdout!, err: () => err };
  p.on("close", (c) => (src.code = c));
  return src;
}

function source(image: ShipImage): Source {
  const hash = image.id!.slice("artifact:".length);
  const from = image.relayFrom;
  if (from) {
    // The machine packs its own unpacked copy (checked against its hash when it arrived, and again where it lands).
    const argv = image.runtime === "process" ? ["tar", ...tarPackArgs(`${STATE_DIR}/artifacts/${hash}`)] : ["docker", "save", image.id!];
    const p = from.transport.spawn(argv);
    p.stdin?.end();
    return fromProcess(argv[0]!, from.machine, p);
  }
  if (image.runtime === "process" && image.tarball) {
    // A file read in this process: no `cat` per machine (a thousand machines were a thousand processes here).
    let err = "";
    const out = createReadStream(image.tarball);
    const src: Source = { what: "read", where: "local", out, err: () => err };
    out.on("error", (e) => ((err = e.message), (src.code = 1)));
    out.on("end", () => (src.code ??= 0));
    return src;
  }
  const [file, args] = image.runtime === "process" ? ["tar", tarPackArgs(image.dir!)] : [dockerCommand(), ["save", image.ref]];
  return fromProcess(file, "local", spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] }));
}

function stream(image: ShipImage, client: AgentClient): Promise<number> {
  // Docker: `docker save | docker load`. Process app: `tar | skiff-agent artifact-put`, which checks the content hash.
  const put = [AGENT_BIN, "artifact-put", image.id!.slice("artifact:".length)];
  const [remote, what] = image.runtime === "process" ? [put, "unpack"] : [["docker", "load", "-q"], "docker load"];
  return new Promise((resolve, reject) => {
    const src = source(image);
    const load = client.transport.spawn(remote);
    let bytes = 0;
    let loadErr = "";
    src.out.on("data", (b: Buffer) => (bytes += b.length));
    src.out.pipe(load.stdin!);
    // pipe() leaves the other end open when the source fails: the machine would wait for the rest forever.
    src.out.on("error", () => load.stdin!.end());
    load.stderr!.on("data", (b) => (loadErr += b));
    load.stdout!.resume();
    load.stdin!.on("error", () => {});
    load.on("close", (code) => {
      if (src.code !== 0 && src.code !== undefined && src.code !== null) return reject(new UserError(`${src.where}: ${src.what} for ${image.ref} failed (exit ${src.code})\n${relevantStderr(src.err()).map((l) => `  │ ${l}`).join("\n")}`));
      // A packed artifact whose content is not what its name says: packed again at the next deploy.
      if (code !== 0 && image.tarball && /arrived with content hash/.test(loadErr)) rmSync(image.tarball, { force: true });
      if (code !== 0) return reject(new UserError(`${client.machine}: ship ${image.ref} failed (${what} exit ${code}${code === 255 ? ": ssh itself failed" : ""})\n${relevantStderr(loadErr).map((l) => `  │ ${l}`).join("\n")}`, { hint: "check free disk space on the machine (skiff machines check)" }));
      resolve(bytes);
    });
  });
}

/** Where each app runs instances: app → machine names. */
export type ShipTargets = ReadonlyMap<string, ReadonlySet<string>>;

/** The images `machine` needs: those of the apps placed on it; an app `targets` does not name goes everywhere. */
export function imagesFor<T extends AppImage>(machine: string, images: T[], targets?: ShipTargets): T[] {
  return images.filter((img) => !targets?.has(img.app) || targets.get(img.app)!.has(machine));
}

/**
 * Makes sure every machine has the images of the apps placed on it (`targets`; without it, or for an app it does
 * not name, every machine gets the image, as before placement was passed).
 */
/** Streams at once from this computer: each is a local process and an ssh channel; a thousand at once cost more CPU
 *  than they save (bench/fleet-sim). The checks before them are not limited. */
const SHIP_PARALLEL = 8;

export async function ship(images: ShipImage[], clients: AgentClient[], reporter: Reporter, targets?: ShipTargets): Promise<void> {
  const streams = limiter(SHIP_PARALLEL);
  await Promise.all(
    clients.map(async (c) => {
      for (const img of imagesFor(c.machine, images, targets)) {
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
        const step = `ship ${img.ref}${img.relayFrom ? ` from ${img.relayFrom.machine}` : ""}`;
        reporter.emit({ type: "step", machine: c.machine, step, status: "start" });
        const bytes = await streams(() => stream(img, c));
        if (!(await c.call<boolean>("image.has", { image: img.id, runtime: img.runtime }))) throw new UserError(`${c.machine}: ${img.ref} was loaded but its ID does not match ${img.id}`);
        reporter.emit({ type: "step", machine: c.machine, step, status: "ok", ms: Date.now() - started, detail: `${(bytes / 1e6).toFixed(1)} MB` });
      }
    }),
  );
}
