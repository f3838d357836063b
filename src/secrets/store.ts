// Secrets in git: one age-encrypted file per environment, `secrets/<env>.age`
// next to skiff.yml (armored, so diffs and reviews see a text file; the `age`
// CLI reads it too). Inside: a JSON object NAME → value. Decrypted only in
// memory; encrypted to the recipients listed in skiff.yml.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { armor, Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";

export type Secrets = Record<string, string>;

/** Secret names are environment variable names. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function secretsFile(project: Project): string {
  return join(project.dir, "secrets", `${project.environment ?? "default"}.age`);
}

/** Where this person's age identity (private key) is: $SKIFF_AGE_KEY (the key itself, for CI), $SKIFF_AGE_IDENTITY (a file), or ~/.config/skiff/age-key.txt. */
export function identityPath(): string {
  return process.env.SKIFF_AGE_IDENTITY || join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "skiff", "age-key.txt");
}

function identities(): string[] {
  if (process.env.SKIFF_AGE_KEY) return [process.env.SKIFF_AGE_KEY.trim()];
  const file = identityPath();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new UserError(`no age identity to decrypt secrets with (looked for ${file})`, { hint: "create one with `skiff secrets keygen` and ask a teammate to add its public key to secrets.recipients and run `skiff secrets rotate-key`; or set SKIFF_AGE_IDENTITY / SKIFF_AGE_KEY" });
  }
  const keys = text.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (!keys.length) throw new UserError(`${file} holds no AGE-SECRET-KEY line`);
  return keys;
}

/** The environment's secrets, or {} when it has no file yet. */
export async function readSecrets(project: Project): Promise<Secrets> {
  const file = secretsFile(project);
  if (!existsSync(file)) return {};
  const d = new Decrypter();
  for (const k of identities()) d.addIdentity(k);
  let text: string;
  try {
    const raw = readFileSync(file, "utf8");
    text = await d.decrypt(raw.startsWith("-----BEGIN AGE") ? armor.decode(raw) : readFileSync(file), "text");
  } catch (e) {
    const why = (e as Error).message;
    throw new UserError(`cannot decrypt ${relative(project.dir, file)}: ${/no identity matched/i.test(why) ? "it is not encrypted to your key" : why}`, {
      hint: "your public key must be in secrets.recipients and the file re-encrypted by someone who can read it (`skiff secrets rotate-key`)",
    });
  }
  const parsed = JSON.parse(text) as unknown;
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new UserError(`${relative(project.dir, file)} does not hold a JSON object of secrets`);
  return parsed as Secrets;
}

/** Encrypts to every recipient in skiff.yml and replaces the file atomically (0644: it is ciphertext, meant for git). */
export async function writeSecrets(project: Project, secrets: Secrets): Promise<string> {
  const recipients = project.secrets.recipients;
  if (!recipients.length) throw new UserError("skiff.yml lists no secrets.recipients", { hint: "add your public key (`skiff secrets keygen` prints it): secrets: { recipients: [age1…] }" });
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  const sorted = Object.fromEntries(Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b)));
  const out = armor.encode(await e.encrypt(JSON.stringify(sorted, null, 2) + "\n"));
  const file = secretsFile(project);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, out, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return file;
}

/** A new identity in the identity file (0600); returns its public key. Refuses to overwrite. */
export async function keygen(): Promise<{ file: string; recipient: string }> {
  const file = identityPath();
  if (existsSync(file)) {
    const existing = identities()[0]!;
    return { file, recipient: await identityToRecipient(existing) };
  }
  const id = await generateX25519Identity();
  const recipient = await identityToRecipient(id);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `# created by skiff secrets keygen: ${new Date().toISOString()}\n# public key: ${recipient}\n${id}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { file, recipient };
}

/** The secrets an app asks for, as env NAME → value; a missing one is an error that names it (not its value). */
export function appSecrets(project: Project, app: { name: string; secrets: Record<string, string> }, all: Secrets): Record<string, string> {
  const out: Record<string, string> = {};
  const missing: string[] = [];
  for (const [envName, secretName] of Object.entries(app.secrets)) {
    if (all[secretName] === undefined) missing.push(secretName);
    else out[envName] = all[secretName]!;
  }
  if (missing.length) {
    throw new UserError(`app ${app.name} needs secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, not set in ${relative(project.dir, secretsFile(project))}`, { hint: `skiff secrets set ${missing[0]}${project.environment ? ` -e ${project.environment}` : ""}` });
  }
  return out;
}
