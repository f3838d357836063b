// This machine in others' backups. As a source: its own SSH key (made once, 0600) to reach a target. As a target:
// a system user skiff-backup that can do nothing but SFTP (its authorized_keys force sftp-server), owning
// /var/lib/skiff/backup-store, where the sources' restic repositories live; the keys it accepts are the union of
// what each project asked for.
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BACKUP_DATA, BACKUP_STORE, BACKUP_USER } from "../contracts/backups.ts";
import { writeAtomic } from "./atomic-write.ts";
import { runSystem } from "../runtime/system.ts";

/** This machine's public key for reaching backup targets (made on first use). */
export function backupKey(dir: string, machine: string): string {
  const key = join(dir, "id_ed25519");
  if (!existsSync(key)) runSystem(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `skiff-backup@${machine}`, "-f", key], "making the backup key");
  return readFileSync(`${key}.pub`, "utf8").trim();
}

const SFTP_SERVERS = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"];

/** Makes this machine a target for `project`'s sources (these public keys); returns its SSH host keys, which the
 *  sources pin. */
export function prepareStore(dir: string, project: string, keys: string[], merge = false, bases: string[] = []): { hostKeys: string[] } {
  for (const k of keys) if (!/^ssh-ed25519 [A-Za-z0-9+/=]+( [\w@.-]+)?$/.test(k)) throw new Error(`not an ed25519 public key: ${k.slice(0, 40)}`);
  const sftp = SFTP_SERVERS.find((p) => existsSync(p));
  if (!sftp) throw new Error(`no sftp-server on this machine (looked for ${SFTP_SERVERS.join(", ")}): install openssh-server`);
  if (runSystem(["id", "-u", BACKUP_USER], "looking up the backup user", { allowFail: true }).status !== 0) {
    runSystem(["useradd", "--system", "--home-dir", BACKUP_STORE, "--no-create-home", "--shell", "/bin/sh", "--comment", "skiff backups (sftp only)", BACKUP_USER], "making the backup user");
  }
  // "*": no password, yet not locked ("!"), which some sshd setups refuse even for keys.
  runSystem(["usermod", "-p", "*", BACKUP_USER], "unlocking the backup user for keys");
  // Home, .ssh and authorized_keys are root's (sshd accepts that): the user cannot rewrite its own keys to get a
  // shell, nor rename .ssh away (the home is not its). Only the data directory is the user's.
  mkdirSync(BACKUP_STORE, { recursive: true, mode: 0o755 });
  runSystem(["chown", "root:root", BACKUP_STORE], "handing the backup home to root");
  runSystem(["chmod", "0755", BACKUP_STORE], "setting the backup home's mode");
  const sshDir = join(BACKUP_STORE, ".ssh");
  mkdirSync(sshDir, { recursive: true, mode: 0o755 });
  runSystem(["chown", "root:root", sshDir], "handing the backup keys' directory to root");
  const granted = join(dir, "granted");
  mkdirSync(granted, { recursive: true, mode: 0o700 });
  // Some sources did not answer (merge): their keys stay granted, the new ones are added.
  const had = merge && existsSync(join(granted, project)) ? readFileSync(join(granted, project), "utf8").split("\n").filter(Boolean) : [];
  writeAtomic(join(granted, project), [...new Set([...had, ...keys])].join("\n"), { mode: 0o600 });
  const all = [...new Set(readdirSync(granted).flatMap((f) => readFileSync(join(granted, f), "utf8").split("\n").filter(Boolean)))];
  writeAtomic(join(sshDir, "authorized_keys"), all.map((k) => `restrict,command="${sftp}" ${k}\n`).join(""), { mode: 0o644 });
  mkdirSync(BACKUP_DATA, { recursive: true, mode: 0o700 });
  // The directory itself only (restic makes what is inside as the user): no walk over gigabytes at each deploy.
  runSystem(["chown", `${BACKUP_USER}:`, BACKUP_DATA], "handing the backup data to its user");
  runSystem(["chmod", "0700", BACKUP_DATA], "closing the backup data");
  // Other places skiff.yml names (`to: m3:/srv/backups`): made and handed to the user the same way.
  for (const base of bases) {
    if (!base.startsWith("/") || base.split("/").includes("..")) throw new Error(`not an absolute path: ${base}`);
    mkdirSync(base, { recursive: true, mode: 0o700 });
    runSystem(["chown", `${BACKUP_USER}:`, base], `handing ${base} to the backup user`);
    runSystem(["chmod", "0700", base], `closing ${base}`);
  }
  const hostKeys = readdirSync("/etc/ssh")
    .filter((f) => /^ssh_host_.*_key\.pub$/.test(f))
    .map((f) => readFileSync(join("/etc/ssh", f), "utf8").trim().split(/\s+/).slice(0, 2).join(" "));
  return { hostKeys };
}
