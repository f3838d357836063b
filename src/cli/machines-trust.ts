// skiff machines trust [machine…]: show each machine's host key fingerprint and
// record it in the project's .skiff/known_hosts (committed, so the team shares it).
// A key that differs from the recorded one is refused unless --replace.
import { createInterface } from "node:readline/promises";
import { skiffFor, type Ctx } from "./context.ts";

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function trustCommand(ctx: Ctx, names: string[], opts: { replace?: boolean; yes?: boolean }): Promise<number> {
  // Asked only on a terminal; elsewhere a new key without --yes is an error (the API's, with its hint).
  const results = await skiffFor(ctx).machines.trust({ machines: names, yes: opts.yes, replace: opts.replace, confirm: process.stdin.isTTY ? confirm : undefined });
  let refused = 0;
  for (const r of results) {
    const fp = r.fingerprints.join(", ");
    if (r.result === "local") ctx.out(`${r.machine}: local machine, no host key needed`);
    else if (r.result === "already") ctx.out(`${r.machine}: already trusted (${fp})`);
    else if (r.result === "trusted" || r.result === "replaced") ctx.out(`${r.machine}: ${r.result} ${fp}`);
    else if (r.result === "declined") refused++;
    else {
      refused++;
      process.stderr.write(`${r.machine}: HOST KEY CHANGED for ${r.pattern}: now ${fp}; .skiff/known_hosts has a different key.\n  If the machine was rebuilt, check this fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run \`skiff machines trust ${r.machine} --replace\`.\n`);
    }
  }
  return refused ? 1 : 0;
}
