// skiff secrets set|unset|list|show|edit|rotate-key|keygen [-e ENV], over the API's
// Skiff.secrets (and Skiff.keygen). Values come from stdin or a hidden prompt,
// never from argv; they are printed only by `show NAME --reveal`.
// `edit` is CLI-only (an editor session): it works on the store's
// readSecrets/checkWriter/writeSecrets directly, so all changes and removals are
// one decrypt and one encrypt.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { checkSecretName } from "../api/secrets.ts";
import { Skiff } from "../api/skiff.ts";
import { UserError } from "../errors.ts";
import { jsonErrorAt } from "../secrets/json-error.ts";
import { checkWriter, isSecretName, readSecrets, writeSecrets, type Secrets } from "../secrets/store.ts";
import { quote } from "../lib/quote.ts";
import { skiffFor, type Ctx } from "./context.ts";

/** The value: piped stdin as is (one trailing newline dropped), or typed at a prompt that does not echo. */
async function readValue(name: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
  }
  process.stderr.write(`value for ${name} (not shown): `);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const onData = (b: Buffer) => {
      for (const ch of b.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          done();
          return resolve(value);
        }
        if (ch === "\u0003") {
          done();
          return reject(new UserError("cancelled"));
        }
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    stdin.on("data", onData);
  });
}

export async function secretsCommand(ctx: Ctx, action: string, name: string | undefined, opts: { reveal?: boolean }): Promise<number> {
  if (action === "keygen") {
    const k = await Skiff.keygen();
    ctx.out(`identity: ${k.file} (keep it private; 0600)\npublic key: ${k.recipient}\nadd the public key to secrets.recipients in skiff.yml, then someone who can read the secrets runs \`skiff secrets rotate-key\``);
    return 0;
  }
  const p = ctx.project;
  const secrets = skiffFor(ctx).secrets;
  const where = relative(process.cwd(), secrets.file()) || secrets.file();
  const needName = () => {
    if (!name) throw new UserError(`skiff secrets ${action} needs a NAME`);
    checkSecretName(name);
    return name;
  };
  switch (action) {
    case "set": {
      const n = needName();
      await secrets.checkWriter(); // before asking for a value that could not be kept
      const r = await secrets.set(n, await readValue(n));
      ctx.out(`${n}: ${r.changed ? "set" : "unchanged"} in ${where} (encrypted to ${r.recipients} recipient${r.recipients === 1 ? "" : "s"}); the next deploy of apps that use it makes a new release`);
      return 0;
    }
    case "unset": {
      const n = needName();
      if (!(await secrets.unset(n)).removed) throw new UserError(`no secret ${n} in ${where}`);
      ctx.out(`${n}: removed from ${where}`);
      return 0;
    }
    case "list": {
      const all = await secrets.list();
      if (ctx.json) ctx.out(JSON.stringify(all));
      else if (!all.length) ctx.out(`no secrets in ${where}`);
      else for (const s of all) ctx.out(`${s.name}${s.apps.length ? `  (${s.apps.join(", ")})` : ""}`);
      return 0;
    }
    case "show": {
      const n = needName();
      const value = await secrets.reveal(n);
      if (value === undefined) throw new UserError(`no secret ${n} in ${where}`);
      // Without --reveal only its size is shown: the value stays in this process.
      if (!opts.reveal) throw new UserError(`${n} is set (${Buffer.byteLength(value)} bytes); the value is printed only with --reveal`, { hint: `skiff secrets show ${n} --reveal` });
      process.stdout.write(value + (process.stdout.isTTY ? "\n" : ""));
      return 0;
    }
    case "edit": {
      const all = await readSecrets(p);
      await checkWriter(p);
      // Plaintext on disk only for the editor: a private directory (0700), removed afterwards, unless the
      // edit cannot be used: then it is kept (like git's COMMIT_EDITMSG), so the user's work is not lost.
      const dir = mkdtempSync(join(process.env.XDG_RUNTIME_DIR || tmpdir(), "skiff-secrets-"));
      const file = join(dir, "secrets.env.json");
      let keep = false;
      const badEdit = (what: string) => {
        keep = true;
        return new UserError(`${what}; nothing changed, and your edit is kept in ${file}`, {
          exitCode: 2,
          // The kept file is the editor's input next time: `cp` is the "editor" that puts it back.
          hint: `it holds secrets in plaintext (0600): fix it, then apply it with VISUAL=${quote(`cp ${quote(file)}`)} skiff secrets edit, and delete it (rm -r ${quote(dir)}); or delete it to drop the edit`,
        });
      };
      try {
        writeFileSync(file, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
        const editor = process.env.VISUAL || process.env.EDITOR || "vi";
        const r = spawnSync("sh", ["-c", `${editor} "$1"`, "sh", file], { stdio: "inherit" });
        if (r.status !== 0) throw new UserError(`${editor} exited with ${r.status}; nothing changed`);
        const text = readFileSync(file, "utf8");
        let next: Secrets;
        try {
          next = JSON.parse(text) as Secrets;
        } catch {
          // Not JSON.parse's message: it quotes the text around the mistake, which is a secret here.
          const at = jsonErrorAt(text);
          throw badEdit(`the edited file is not valid JSON${at ? ` at line ${at.line}, column ${at.col}` : ""}`);
        }
        if (!next || typeof next !== "object" || Array.isArray(next)) throw badEdit('the edited file is not a JSON object of secrets ({"NAME": "value", …})');
        for (const [k, v] of Object.entries(next)) {
          if (!isSecretName(k)) throw badEdit(`"${k}" is not a valid secret name (letters, digits and _, not starting with a digit)`);
          if (typeof v !== "string") throw badEdit(`secret ${k} must be a string`);
        }
        await writeSecrets(p, next);
        const before = new Set(Object.keys(all));
        const changed = Object.keys(next).filter((k) => all[k] !== next[k]);
        const removed = [...before].filter((k) => !Object.hasOwn(next, k));
        ctx.out(`${where}: ${changed.length} changed or added${changed.length ? ` (${changed.join(", ")})` : ""}, ${removed.length} removed${removed.length ? ` (${removed.join(", ")})` : ""}`);
      } finally {
        if (!keep) rmSync(dir, { recursive: true, force: true });
      }
      return 0;
    }
    case "rotate-key": {
      // A new file key, encrypted to exactly the recipients listed now (a removed teammate loses access to new versions).
      const r = await secrets.rotateKey();
      ctx.out(`${where}: re-encrypted to ${r.recipients} recipient${r.recipients === 1 ? "" : "s"}; also rotate the values a removed teammate knew`);
      return 0;
    }
    default:
      throw new UserError(`unknown secrets action "${action}"`, { hint: "set, unset, list, show, edit, rotate-key, keygen" });
  }
}
