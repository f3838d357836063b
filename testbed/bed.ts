// Real machines for tests and benchmarks: Docker containers that run sshd and
// their own dockerd on a private network, each with its own small disk at
// /var/lib/skiff. Everything is named `skiff-bed-*` so cleanup touches nothing else.
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus as hostCpus } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);
const HERE = new URL(".", import.meta.url).pathname;
export const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
export const PREFIX = "skiff-bed";
export const NETWORK = `${PREFIX}-net`;
const SUBNET = "172.30.77.0/24";
/** The host's address on the bed's network: where the host's own connections to the machines come from. Given
 *  when the network is made (Docker 20.10 records no gateway it chose itself, so it could not be asked later). */
export const GATEWAY = "172.30.77.1";
const BASE_IMAGE = "skiff-testbed-base:bookworm";
const STATE = process.env.SKIFF_BED_STATE || "/var/lib/skiff-testbed";
const DISK_MB = 1024;

export interface BedMachine {
  /** Short name used in skiff.yml (m1, m2, …). */
  name: string;
  container: string;
  /** sshd, published on loopback. */
  sshPort: number;
  /** HAProxy's :80, published on loopback. */
  httpPort: number;
  /** Address on the bed's private network. */
  address: string;
}

export interface Bed {
  machines: BedMachine[];
  /** Private key that logs in as root on every machine. */
  identityFile: string;
  image: string;
}

async function docker(args: string[], opts: { allowFailure?: boolean } = {}): Promise<string> {
  try {
    const { stdout } = await run(DOCKER, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (e) {
    if (opts.allowFailure) return "";
    const err = e as { stderr?: string; message: string };
    throw new Error(`docker ${args.slice(0, 3).join(" ")} failed: ${err.stderr?.trim() || err.message}`);
  }
}

async function sh(cmd: string, opts: { allowFailure?: boolean } = {}): Promise<string> {
  try {
    const { stdout } = await run("bash", ["-c", cmd], { maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (e) {
    if (opts.allowFailure) return "";
    throw new Error(`${cmd}: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`);
  }
}

function machineSpec(i: number): BedMachine {
  const name = `m${i}`;
  return { name, container: `${PREFIX}-${name}`, sshPort: 2200 + i, httpPort: 8000 + i, address: `172.30.77.${10 + i}` };
}

/** The machine image's tag changes whenever its Dockerfile or entrypoint does. */
function imageTag(): string {
  const h = createHash("sha256");
  for (const f of ["Dockerfile", "entrypoint.sh"]) h.update(readFileSync(join(HERE, "machine", f)));
  return `${PREFIX}-machine:${h.digest("hex").slice(0, 12)}`;
}

async function imageExists(tag: string): Promise<boolean> {
  return (await docker(["image", "inspect", "--format", "{{.Id}}", tag], { allowFailure: true })) !== "";
}

/** Builds the Debian base (mmdebstrap, no registry needed) and the machine image when missing. */
export async function ensureImage(log: (s: string) => void = () => {}): Promise<string> {
  const tag = imageTag();
  if (await imageExists(tag)) return tag;
  if (!(await imageExists(BASE_IMAGE))) {
    log(`building ${BASE_IMAGE} with mmdebstrap (about 30 s)`);
    await sh(`set -o pipefail; mmdebstrap --quiet --variant=minbase bookworm - http://deb.debian.org/debian | ${DOCKER} import - ${BASE_IMAGE}`);
  }
  log(`building ${tag}`);
  await new Promise<void>((resolve, reject) => {
    const p = spawn(DOCKER, ["build", "-q", "-t", tag, join(HERE, "machine")], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DOCKER_BUILDKIT: "0" } });
    let err = "";
    p.stderr.on("data", (b) => (err += b));
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`docker build failed: ${err.slice(-2000)}`))));
  });
  return tag;
}

function ensureKey(): string {
  mkdirSync(STATE, { recursive: true, mode: 0o700 });
  const key = join(STATE, "id_ed25519");
  if (!existsSync(key)) {
    const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "skiff-testbed", "-f", key], { stdio: "ignore" });
    if (r.status !== 0) throw new Error("ssh-keygen failed");
  }
  return key;
}

/** A private ext4 disk per machine, so "disk full" can be caused without filling the host. */
async function ensureDisk(m: BedMachine): Promise<string> {
  const dir = join(STATE, "disks", m.name);
  const img = `${dir}.img`;
  mkdirSync(dir, { recursive: true });
  const mounted = await sh(`findmnt -n -o TARGET ${dir}`, { allowFailure: true });
  if (mounted) return dir;
  if (!existsSync(img)) await sh(`truncate -s ${DISK_MB}M ${img} && mkfs.ext4 -q -m 0 -F ${img}`);
  const ok = await sh(`mount -o loop ${img} ${dir} && echo ok`, { allowFailure: true });
  if (!ok) writeFileSync(join(dir, ".no-private-disk"), "loop mount unavailable; fill-disk is not supported on this host\n");
  return dir;
}

async function runningImage(container: string): Promise<{ image: string | undefined; capped: boolean }> {
  const out = await docker(["inspect", "--format", "{{.State.Running}} {{.Config.Image}} {{.HostConfig.NanoCpus}}", container], { allowFailure: true });
  if (!out) return { image: undefined, capped: false };
  const [running, image, nano] = out.split(" ");
  return { image: running === "true" ? image : "stopped", capped: Number(nano) > 0 && Number(nano) < hostCpus().length * 1e9 };
}

async function startMachine(m: BedMachine, image: string, key: string): Promise<void> {
  const disk = await ensureDisk(m);
  await docker(["rm", "-f", m.container], { allowFailure: true });
  await docker([
    "run", "-d", "--init", "--name", m.container, "--hostname", m.name, "--label", "skiff.testbed=1",
    "--network", NETWORK, "--ip", m.address,
    "-p", `127.0.0.1:${m.sshPort}:22`, "-p", `127.0.0.1:${m.httpPort}:80`,
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
    "-v", `${m.container}-docker:/var/lib/docker`,
    "-v", `${disk}:/var/lib/skiff`,
    "-v", `${key}.pub:/root/.ssh/authorized_keys:ro`,
    image,
  ]);
}

/** Waits until sshd accepts our key and dockerd answers. */
async function waitReady(m: BedMachine, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await docker(["exec", m.container, "sh", "-c", "test -S /var/run/docker.sock && test -f /etc/ssh/ssh_host_ed25519_key.pub && pgrep -x sshd >/dev/null && echo ok"], { allowFailure: true });
    if (ok === "ok") return;
    if (Date.now() > deadline) throw new Error(`${m.container} did not become ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface UpOptions {
  count?: number;
  /** Recreate the machines from the image, as if new (nothing installed by setup). */
  fresh?: boolean;
  log?: (s: string) => void;
}

/** Starts (or reuses) a bed of `count` machines. */
export async function up(opts: UpOptions = {}): Promise<Bed> {
  const count = opts.count ?? 3;
  const log = opts.log ?? (() => {});
  const image = await ensureImage(log);
  const key = ensureKey();
  if (!(await docker(["network", "inspect", "--format", "{{.Name}}", NETWORK], { allowFailure: true }))) {
    await docker(["network", "create", "--subnet", SUBNET, "--gateway", GATEWAY, "--label", "skiff.testbed=1", NETWORK]);
  }
  const machines = Array.from({ length: count }, (_, i) => machineSpec(i + 1));
  await Promise.all(
    machines.map(async (m) => {
      const current = await runningImage(m.container);
      if (opts.fresh || current.image !== image) {
        if (opts.fresh) await resetDisk(m);
        log(`starting ${m.container}`);
        await startMachine(m, image, key);
      } else if (current.capped) {
        // A bench left it capped (faults.cpus): a reused machine has the host's cores again.
        await faults.cpus(m);
      }
      // Every machine boots at once on this host's cores: a large bed needs longer (20 machines took up to 4 min).
      await waitReady(m, 30_000 + count * 5_000);
    }),
  );
  return { machines, identityFile: key, image };
}

async function resetDisk(m: BedMachine): Promise<void> {
  await docker(["rm", "-f", m.container], { allowFailure: true });
  await docker(["volume", "rm", `${m.container}-docker`], { allowFailure: true });
  const dir = join(STATE, "disks", m.name);
  await sh(`umount ${dir} 2>/dev/null; rm -f ${dir}.img; rm -rf ${dir}`, { allowFailure: true });
}

/** Removes every bed machine, its volumes, disks and the network. */
export async function down(): Promise<void> {
  const names = (await docker(["ps", "-a", "--filter", "label=skiff.testbed=1", "--format", "{{.Names}}"], { allowFailure: true })).split("\n").filter((n) => n.startsWith(PREFIX));
  if (names.length) await docker(["rm", "-f", ...names], { allowFailure: true });
  const vols = (await docker(["volume", "ls", "--format", "{{.Name}}"], { allowFailure: true })).split("\n").filter((v) => v.startsWith(`${PREFIX}-m`) && v.endsWith("-docker"));
  if (vols.length) await docker(["volume", "rm", ...vols], { allowFailure: true });
  await docker(["network", "rm", NETWORK], { allowFailure: true });
  await sh(`for d in ${STATE}/disks/*/; do umount "$d" 2>/dev/null; done; rm -rf ${STATE}/disks`, { allowFailure: true });
}

// ---- fault levers -------------------------------------------------------

export const faults = {
  /** Restarts the machine as a power cycle would (its containers and disk survive). */
  async restart(m: BedMachine): Promise<void> {
    await docker(["restart", "-t", "1", m.container]);
    await waitReady(m);
  },
  /** Powers the machine off (its disk and containers stay); `start` powers it on again. */
  async stop(m: BedMachine): Promise<void> {
    await docker(["stop", "-t", "1", m.container]);
  },
  async start(m: BedMachine): Promise<void> {
    await docker(["start", m.container]);
    await waitReady(m);
  },
  /** Cuts the machine off the network: ssh then fails with 255. */
  async disconnect(m: BedMachine): Promise<void> {
    await docker(["network", "disconnect", NETWORK, m.container]);
  },
  async reconnect(m: BedMachine): Promise<void> {
    await docker(["network", "connect", "--ip", m.address, NETWORK, m.container]);
  },
  /** Fills the machine's /var/lib/skiff disk, leaving about `leaveKb` free; returns the KiB left. fallocate of all
   *  that df calls free fails with ENOSPC (the file's own extent metadata needs room too), so it takes a little
   *  less and tops up with appends until the disk refuses more. */
  async fillDisk(m: BedMachine, leaveKb = 0): Promise<number> {
    if (!Number.isInteger(leaveKb) || leaveKb < 0) throw new Error(`leaveKb must be a whole number of KiB, not ${leaveKb}`);
    const f = "/var/lib/skiff/.testbed-fill";
    const avail = await docker(["exec", m.container, "sh", "-c", [
      "test ! -e /var/lib/skiff/.no-private-disk || { echo 'no private disk on this host' >&2; exit 1; }",
      "free() { df -k --output=avail /var/lib/skiff | tail -1 | tr -d ' '; }",
      `want=$(( $(free) - ${leaveKb} - 1024 ))`,
      `[ "$want" -le 0 ] || fallocate -l $(( want * 1024 )) ${f}-$$ || exit 1`,
      // Top up 64 KiB at a time while more than leaveKb is free; ENOSPC here is the goal, not a failure.
      `n=0; while [ "$(free)" -gt ${leaveKb} ] && [ $n -lt 4096 ]; do n=$((n + 1)); left=$(( $(free) - ${leaveKb} )); head -c $(( left < 64 ? left * 1024 : 65536 )) /dev/zero >> ${f}-top-$$ 2>/dev/null || break; done`,
      "free",
    ].join("\n")]);
    return Number(avail);
  },
  /** Grows the machine's private disk (/var/lib/skiff) to `mb` MiB. Offline: the machine is powered off, its disk
   *  unmounted, checked and grown, mounted again and the machine powered on (its agent comes back through its init
   *  script). Growing ext4 online needs CAP_SYS_RESOURCE, which hosts like this one refuse. */
  async growDisk(m: BedMachine, mb: number): Promise<void> {
    const dir = join(STATE, "disks", m.name);
    const img = `${dir}.img`;
    if (!existsSync(img)) throw new Error(`${m.name} has no private disk on this host`);
    const want = Math.floor(mb) * 1048576;
    if (Number((await sh(`stat -c %s ${img}`)).trim()) >= want) return;
    await docker(["stop", "-t", "5", m.container]);
    try {
      await sh(`umount ${dir} && truncate -s ${want} ${img} && { e2fsck -f -y ${img} >/dev/null; [ $? -le 1 ]; } && resize2fs ${img} >/dev/null 2>&1`);
    } finally {
      await sh(`findmnt -n ${dir} >/dev/null || mount -o loop ${img} ${dir}`);
      await docker(["start", m.container]);
      await waitReady(m);
    }
  },
  async freeDisk(m: BedMachine): Promise<void> {
    await docker(["exec", m.container, "sh", "-c", "rm -f /var/lib/skiff/.testbed-fill*"]);
  },
  /** Gives the machine a new ssh host key, as a rebuilt (or impersonated) machine would have. */
  async rekey(m: BedMachine): Promise<void> {
    await docker(["exec", m.container, "sh", "-c", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && pkill -HUP -x sshd"]);
  },
  /** Caps the machine's CPU at `cpus` cores (everything in it: agent, HAProxy, apps, sshd), as a small machine of
   *  its own would be; undefined lifts the cap (to all of this host's cores: docker takes no "none" here). Live
   *  (`docker update`), nothing restarts. */
  async cpus(m: BedMachine, cpus?: number): Promise<void> {
    const host = hostCpus().length;
    if (cpus !== undefined && !(cpus >= 0.01 && cpus <= host)) throw new Error(`cpus must be between 0.01 and this host's ${host} cores, not ${cpus}`);
    await docker(["update", "--cpus", String(cpus ?? host), m.container]);
  },
  /** Runs a shell command inside the machine (test assertions look at real state). */
  async exec(m: BedMachine, cmd: string): Promise<string> {
    return docker(["exec", m.container, "sh", "-c", cmd]);
  },
};

/** A skiff.yml for the bed's machines. */
export function bedConfig(bed: Bed, opts: { project?: string; extra?: string; httpPort?: number } = {}): string {
  const lines = [`project: ${opts.project ?? "bedtest"}`, "machines:"];
  for (const m of bed.machines) {
    lines.push(`  ${m.name}:`, `    host: 127.0.0.1`, `    port: ${m.sshPort}`, `    private_address: ${m.address}`, `    ssh: { identity_file: ${bed.identityFile} }`);
    if (opts.httpPort !== undefined) lines.push(`    http_port: ${opts.httpPort}`);
  }
  return lines.join("\n") + "\n" + (opts.extra ?? "");
}
