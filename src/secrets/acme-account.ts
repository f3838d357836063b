// The project's ACME account for `tls: auto` (issue 12 part 4, memo §1–4): one
// ECDSA P-256 key per project environment, made by the CLI the first time a
// route asks for it, kept age-encrypted in the repo next to the secrets
// (secrets/<env>.acme-account.key.age) and sent at deploy, like secrets, to
// the agents that order. Its RFC 7638 JWK thumbprint is public: it goes into
// haproxy.cfg, which answers every HTTP-01 challenge statelessly with
// `<token>.<thumbprint>` (only the holder of the key can use such an answer).
import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { loadIdentities } from "./identity.ts";
import { age } from "./store.ts";

export const accountKeyFile = (project: Project) => join(project.dir, "secrets", `${project.environment ?? "default"}.acme-account.key.age`);

/** A new account key, PKCS#8 PEM (what acme-client and HAProxy-free code alike read). */
export function newAccountKey(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** RFC 7638: SHA-256 of the public JWK's required members in lexical order, base64url (from the key or its public half). */
export function thumbprint(keyPem: string): string {
  const j = createPublicKey(keyPem).export({ format: "jwk" });
  if (j.kty !== "EC" || j.crv !== "P-256") throw new Error("the ACME account key must be an ECDSA P-256 key");
  return createHash("sha256").update(JSON.stringify({ crv: j.crv, kty: j.kty, x: j.x, y: j.y })).digest("base64url");
}

/** Makes the environment's account key, encrypted to these age recipients; refuses to overwrite one. */
export async function createAccountKeyFile(project: Project, recipients: string[], note: (s: string) => void): Promise<string> {
  const file = accountKeyFile(project);
  if (existsSync(file)) throw new Error(`${file} exists already`);
  if (!recipients.length) throw new UserError("no age recipients to encrypt the ACME account key to", { hint: "list them in secrets.recipients (skiff secrets keygen prints yours)" });
  const key = newAccountKey();
  const { armor, Encrypter } = await age();
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, armor.encode(await e.encrypt(key)), { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  note(`made the ACME account key ${relative(project.dir, file)} (encrypted): commit it`);
  return key;
}

/** The account key, decrypted with your age identity; undefined before one was made. */
export async function loadAccountKey(project: Project): Promise<string | undefined> {
  const file = accountKeyFile(project);
  if (!existsSync(file)) return undefined;
  const { armor, Decrypter } = await age();
  const d = new Decrypter();
  for (const i of await loadIdentities()) d.addIdentity(i.key);
  try {
    return await d.decrypt(armor.decode(readFileSync(file, "utf8")), "text");
  } catch (e) {
    throw new UserError(`${relative(project.dir, file)} does not decrypt with your age key (${(e as Error).message})`, { exitCode: 2, hint: "ask a teammate whose key it is encrypted to, or restore it from git" });
  }
}
