// The project's mesh CA in the repo, per environment, next to its secrets:
// secrets/<env>.mesh-ca.pem (the CA certificate, plain: machines trust it) and
// secrets/<env>.mesh-ca.key.age (its private key, age-encrypted like the
// secrets). Only setup and `skiff certs rotate` decrypt the key; deploys never do.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { createCa, type CaKeyPair } from "./ca.ts";
import { keygen, loadIdentities } from "./identity.ts";
import { age } from "./store.ts";

export function caFiles(project: Project): { cert: string; key: string } {
  const base = join(project.dir, "secrets", `${project.environment ?? "default"}.mesh-ca`);
  return { cert: `${base}.pem`, key: `${base}.key.age` };
}

/** The CA certificate (public), or undefined before the first setup made one. */
export function readCaCert(project: Project): string | undefined {
  const f = caFiles(project).cert;
  return existsSync(f) ? readFileSync(f, "utf8") : undefined;
}

/** Who the CA key is encrypted to: the secrets' recipients; a project that lists none, your own key (made now when
 *  you have none: what `skiff secrets keygen` makes). */
export async function keyRecipients(project: Project, note: (s: string) => void): Promise<string[]> {
  if (project.secrets.recipients.length) return project.secrets.recipients;
  try {
    return (await loadIdentities()).map((i) => i.recipient);
  } catch (e) {
    if (!(e instanceof UserError) || !/no age identity/.test(e.message)) throw e;
    const k = await keygen();
    note(`made your age key ${k.file} (public key ${k.recipient}) to encrypt the mesh CA key to: add it to secrets.recipients so teammates can be added later`);
    return [k.recipient];
  }
}

const write = (file: string, data: string | Uint8Array) => {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, data, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
};

/** Makes the environment's CA (key encrypted, certificate plain) unless it has one; returns it, key included. */
export async function createCaFiles(project: Project, note: (s: string) => void): Promise<CaKeyPair> {
  const f = caFiles(project);
  if (existsSync(f.cert) || existsSync(f.key)) throw new Error(`${f.cert} exists already`);
  const ca = await createCa(project.name);
  const { armor, Encrypter } = await age();
  const e = new Encrypter();
  for (const r of await keyRecipients(project, note)) e.addRecipient(r);
  // Key first: a certificate without its key would look like a CA that someone else holds.
  write(f.key, armor.encode(await e.encrypt(ca.key)));
  write(f.cert, ca.cert);
  note(`made the mesh CA ${relative(project.dir, f.cert)} (its key: ${relative(project.dir, f.key)}, encrypted): commit both`);
  return ca;
}

/** The CA with its key, decrypted with your age identity. */
export async function loadCa(project: Project): Promise<CaKeyPair> {
  const f = caFiles(project);
  const rel = relative(project.dir, f.key);
  if (!existsSync(f.cert) || !existsSync(f.key)) throw new UserError(`no mesh CA for ${project.environment ? `environment ${project.environment}` : "this project"} (${relative(project.dir, f.cert)})`, { hint: "`skiff setup` makes one (commit both files it writes)" });
  const mine = await loadIdentities();
  const { armor, Decrypter } = await age();
  const d = new Decrypter();
  for (const i of mine) d.addIdentity(i.key);
  try {
    const key = await d.decrypt(armor.decode(readFileSync(f.key, "utf8")), "text");
    return { cert: readFileSync(f.cert, "utf8"), key };
  } catch (e) {
    const keys = /no identity matched/i.test((e as Error).message);
    throw new UserError(keys ? `cannot decrypt ${rel}: it is not encrypted to your key (${mine.map((i) => i.recipient).join(", ")})` : `${rel} does not decrypt (${(e as Error).message})`, {
      exitCode: 2,
      hint: keys ? "only those who hold the CA key issue machine certificates (setup of a new machine, `skiff certs rotate`): ask one of them" : `restore it from git (\`git log -- ${rel}\`)`,
    });
  }
}
