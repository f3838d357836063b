// Whose age key decrypts the secrets: $SKIFF_AGE_KEY (the key itself, for CI),
// else the file $SKIFF_AGE_IDENTITY, else ~/.config/skiff/age-key.txt.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UserError } from "../errors.ts";
import { hostSettings } from "../settings.ts";


export interface Identity {
  key: string;
  /** Its public key (age1…). */
  recipient: string;
}

export function identityPath(): string {
  const s = hostSettings();
  return s.ageIdentityFile || join(s.configHome || join(homedir(), ".config"), "skiff", "age-key.txt");
}

const KEY_HINT = "an age identity is one line AGE-SECRET-KEY-1… as `skiff secrets keygen` writes it (`age-keygen` makes the same)";

// The library's messages can quote the key, so they are never shown.
async function withRecipients(keys: string[], where: string): Promise<Identity[]> {
  return Promise.all(
    keys.map(async (key) => {
      try {
        return { key, recipient: await (await import("age-encryption")).identityToRecipient(key) };
      } catch {
        throw new UserError(`${where} is not an age identity`, { exitCode: 2, hint: KEY_HINT });
      }
    }),
  );
}

async function fromFile(file: string): Promise<Identity[]> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`cannot read the age identity ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 2, hint: "SKIFF_AGE_IDENTITY (or ~/.config/skiff/age-key.txt) must be a readable file" });
  }
  const keys = text.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (!keys.length) throw new UserError(`${file} holds no AGE-SECRET-KEY line`, { exitCode: 2, hint: KEY_HINT });
  return withRecipients(keys, `${file} holds a line that`);
}

/** This person's identities, each checked (a broken one is a UserError that never shows the key). */
export async function loadIdentities(): Promise<Identity[]> {
  const key = hostSettings().ageKey;
  if (key) {
    const lines = key.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    return withRecipients(lines, "SKIFF_AGE_KEY");
  }
  const file = identityPath();
  if (!existsSync(file)) {
    throw new UserError(`no age identity to decrypt secrets with (looked for ${file})`, {
      hint: "create one with `skiff secrets keygen` and ask a teammate to add its public key to secrets.recipients and run `skiff secrets rotate-key`; or set SKIFF_AGE_IDENTITY / SKIFF_AGE_KEY",
    });
  }
  return fromFile(file);
}

/** A new identity in the identity file (0600); returns its public key. Refuses to overwrite. */
export async function keygen(): Promise<{ file: string; recipient: string }> {
  const file = identityPath();
  if (existsSync(file)) return { file, recipient: (await fromFile(file))[0]!.recipient };
  const { generateX25519Identity, identityToRecipient } = await import("age-encryption");
  const id = await generateX25519Identity();
  const recipient = await identityToRecipient(id);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `# created by skiff secrets keygen: ${new Date().toISOString()}\n# public key: ${recipient}\n${id}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { file, recipient };
}
