// Secrets in git: one age-encrypted file per environment, `secrets/<env>.age`
// next to skiff.yml (armored, so diffs and reviews see a text file; the `age`
// CLI reads it too). Inside: a JSON object NAME → value. Decrypted only in
// memory; encrypted to the recipients listed in skiff.yml.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { identityPath, loadIdentities, type Identity } from "./identity.ts";
import { recipientProblem } from "../config/recipients.ts";

/** age, loaded when a secret is read or written (the CLI's other commands never parse it). */
export const age = () => import("age-encryption");

export { identityPath, keygen } from "./identity.ts";

export type Secrets = Record<string, string>;

/** Secret names are environment variable names. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `__proto__` fits the pattern but is no name to keep in an object. */
export const isSecretName = (name: string) => SECRET_NAME.test(name) && name !== "__proto__";

export function secretsFile(project: Project): string {
  return join(project.dir, "secrets", `${project.environment ?? "default"}.age`);
}

const shown = (project: Project) => relative(project.dir, secretsFile(project));

function notMine(project: Project, mine: Identity[]): UserError {
  const listed = mine.some((i) => project.secrets.recipients.includes(i.recipient));
  return new UserError(`cannot decrypt ${shown(project)}: it is not encrypted to your key (${mine.map((i) => i.recipient).join(", ")})`, {
    exitCode: 2,
    hint: listed
      ? "your key is in secrets.recipients, but the file was last encrypted without it: someone who can read it runs `skiff secrets rotate-key`"
      : "add your public key to secrets.recipients in skiff.yml; then someone who can read the file runs `skiff secrets rotate-key`",
  });
}

function damaged(project: Project, why: string): UserError {
  const rel = shown(project);
  return new UserError(`${rel} is damaged: it does not decrypt as an age file (${why})`, {
    exitCode: 2,
    hint: `it was truncated, edited or badly merged; restore it from git (\`git log -- ${rel}\`, then \`git checkout <commit> -- ${rel}\`)`,
  });
}

/** The decrypted JSON, checked: an object of NAME → string, nothing else. */
function parseSecrets(project: Project, text: string): Secrets {
  const rel = shown(project);
  const fix = `decrypt it (\`age -d -i ${identityPath()} ${rel}\`), make it {"NAME": "value", …} and encrypt it again to secrets.recipients (\`age -a -e -r age1… -o ${rel}\`)`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new UserError(`${rel} decrypts, but not to a JSON object of secrets`, { exitCode: 2, hint: fix });
  // No prototype: a name such as "constructor" is only ever a secret.
  const out: Secrets = Object.create(null);
  for (const [k, v] of Object.entries(parsed)) {
    if (!isSecretName(k)) throw new UserError(`${rel}: ${k} is not a valid secret name`, { exitCode: 2, hint: fix });
    if (typeof v !== "string") throw new UserError(`${rel}: ${k} is ${v === null ? "null" : `a ${Array.isArray(v) ? "list" : typeof v}`}, not a string`, { exitCode: 2, hint: fix });
    out[k] = v;
  }
  return out;
}

/** The environment's secrets, or {} when it has no file yet. */
export async function readSecrets(project: Project): Promise<Secrets> {
  const file = secretsFile(project);
  if (!existsSync(file)) return Object.create(null) as Secrets;
  const mine = await loadIdentities();
  const { armor, Decrypter } = await age();
  const d = new Decrypter();
  for (const i of mine) d.addIdentity(i.key);
  const raw = readFileSync(file);
  let text: string;
  try {
    const armored = raw.subarray(0, 14).toString("latin1") === "-----BEGIN AGE";
    text = await d.decrypt(armored ? armor.decode(raw.toString("utf8")) : raw, "text");
  } catch (e) {
    const why = (e as Error).message;
    // The only failure that is about keys; all others are about the bytes.
    // (A damaged key stanza also reads as "no identity matched": age cannot tell.)
    throw /no identity matched/i.test(why) ? notMine(project, mine) : damaged(project, why);
  }
  return parseSecrets(project, text);
}

/**
 * Refuses a write the writer could not read back: encrypting only to others
 * would lock them out of the secrets they just set.
 */
export async function checkWriter(project: Project): Promise<void> {
  const mine = await loadIdentities();
  if (mine.some((i) => project.secrets.recipients.includes(i.recipient))) return;
  throw new UserError(`your public key ${mine.map((i) => i.recipient).join(", ")} is not in secrets.recipients, so you could not read ${shown(project)} after this; nothing was written`, {
    exitCode: 2,
    hint: "add it to secrets.recipients in skiff.yml (the public key `skiff secrets keygen` prints)",
  });
}

/** Encrypts to every recipient in skiff.yml and replaces the file atomically (0644: it is ciphertext, meant for git). */
export async function writeSecrets(project: Project, secrets: Secrets): Promise<string> {
  const recipients = project.secrets.recipients;
  if (!recipients.length) throw new UserError("skiff.yml lists no secrets.recipients", { hint: "add your public key (`skiff secrets keygen` prints it): secrets: { recipients: [age1…] }" });
  const { armor, Encrypter } = await age();
  const e = new Encrypter();
  for (const r of recipients) {
    // `validate` checked these already (the same function); a project built another way is checked here.
    const problem = recipientProblem(r);
    if (problem) throw new UserError(`secrets.recipients: ${r} ${problem}`, { exitCode: 2, hint: "the public key `skiff secrets keygen` prints, whole" });
    e.addRecipient(r);
  }
  await checkWriter(project);
  const sorted = Object.fromEntries(Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b)));
  const out = armor.encode(await e.encrypt(JSON.stringify(sorted, null, 2) + "\n"));
  const file = secretsFile(project);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, out, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return file;
}

/** The secrets an app asks for, as env NAME → value; a missing one is an error that names it (not its value). */
export function appSecrets(project: Project, app: { name: string; secrets: Record<string, string> }, all: Secrets): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  const missing: string[] = [];
  for (const [envName, secretName] of Object.entries(app.secrets)) {
    if (!Object.hasOwn(all, secretName)) missing.push(secretName);
    else out[envName] = all[secretName]!;
  }
  if (missing.length) {
    throw new UserError(`app ${app.name} needs secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, not set in ${relative(project.dir, secretsFile(project))}`, { hint: `skiff secrets set ${missing[0]}${project.environment ? ` -e ${project.environment}` : ""}` });
  }
  return out;
}
