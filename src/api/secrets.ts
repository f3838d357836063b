// The environment's secrets (secrets/<environment>.age, encrypted to the
// recipients in skiff.yml), as calls: names, set, unset, reveal, rotate the
// file key; keygen makes this person's identity (0600). Values go in as
// arguments and come out only from `reveal`: no event, error or log carries
// one (the store's errors name secrets and files, never values).
//
// `skiff secrets edit` (an editor session over all values at once, written in
// one go) stays in the CLI, built on the store's readSecrets/checkWriter/
// writeSecrets rather than on these calls: one decrypt and one encrypt, and
// removals and changes land together.
import type { Project } from "../config/model.ts";
import { UserError } from "../errors.ts";
import { checkWriter, isSecretName, keygen, readSecrets, secretsFile, writeSecrets } from "../secrets/store.ts";

export interface SecretInfo {
  name: string;
  /** Apps of this environment that use it. */
  apps: string[];
}

export interface SecretsWrite {
  /** The encrypted file written (absolute path). */
  file: string;
  /** How many recipients it is encrypted to. */
  recipients: number;
}

export interface SecretSet extends SecretsWrite {
  name: string;
  /** False when the secret already had this value (the file is re-encrypted all the same). */
  changed: boolean;
}

export interface SecretUnset {
  name: string;
  /** False when there was no such secret: nothing was written. */
  removed: boolean;
  file: string;
}

export interface AgeIdentity {
  /** The identity file (0600): keep it private. */
  file: string;
  /** Its public key (age1…), for secrets.recipients. */
  recipient: string;
}

/** A UserError for a name that cannot be a secret (names become environment variables). */
export function checkSecretName(name: string): void {
  if (!isSecretName(name)) throw new UserError(`"${name}" is not a valid secret name`, { hint: "letters, digits and _, not starting with a digit (it becomes an environment variable)" });
}

export function secretsOf(project: Project) {
  return {
    /** The secret names (never values) and the apps using each, sorted by name. */
    list: async (): Promise<SecretInfo[]> => {
      const all = await readSecrets(project);
      const users = (s: string) => Object.values(project.apps).filter((a) => Object.values(a.secrets).includes(s)).map((a) => a.name);
      return Object.keys(all).sort().map((name) => ({ name, apps: users(name) }));
    },
    /** Fails (UserError) unless you could read the file after writing it: call it before asking a person for a value. */
    checkWriter: (): Promise<void> => checkWriter(project),
    /** Sets a secret and re-encrypts the file; the next deploy of apps that use it makes a new release. */
    set: async (name: string, value: string): Promise<SecretSet> => {
      checkSecretName(name);
      if (typeof value !== "string") throw new UserError(`secret ${name}: the value must be a string`);
      await checkWriter(project);
      const all = await readSecrets(project);
      const changed = all[name] !== value;
      all[name] = value;
      return { name, changed, file: await writeSecrets(project, all), recipients: project.secrets.recipients.length };
    },
    /** Removes a secret; `removed: false` (and nothing written) when it was not set. */
    unset: async (name: string): Promise<SecretUnset> => {
      checkSecretName(name);
      const all = await readSecrets(project);
      if (!Object.hasOwn(all, name)) return { name, removed: false, file: secretsFile(project) };
      delete all[name];
      return { name, removed: true, file: await writeSecrets(project, all) };
    },
    /** One secret's value (undefined when not set). The caller asked for it: keep it out of logs. */
    reveal: async (name: string): Promise<string | undefined> => {
      checkSecretName(name);
      const all = await readSecrets(project);
      return Object.hasOwn(all, name) ? all[name] : undefined;
    },
    /** Re-encrypts with a new file key to exactly the recipients listed now (a removed teammate loses access to new versions; rotate the values they knew too). */
    rotateKey: async (): Promise<SecretsWrite> => {
      const all = await readSecrets(project);
      return { file: await writeSecrets(project, all), recipients: project.secrets.recipients.length };
    },
    /** The encrypted file of this environment (absolute path; it may not exist yet). */
    file: (): string => secretsFile(project),
  };
}

export type SecretsCalls = ReturnType<typeof secretsOf>;

/** Creates this person's age identity (the identity file, 0600) unless there is one; either way its public key. */
export const makeIdentity = (): Promise<AgeIdentity> => keygen();
