// skiff: parse → call core → render. Each command lives in its own file.
import { Command } from "commander";
import { checkCommand } from "./machines-check.ts";
import { makeCtx, type GlobalOptions } from "./context.ts";
import { initCommand } from "./init.ts";
import { trustCommand } from "./machines-trust.ts";
import { renderError } from "./render-error.ts";
import { setupCommand } from "./setup.ts";
import { validateCommand } from "./validate.ts";

declare const __SKIFF_VERSION__: string;

const program = new Command("skiff")
  .description("Deploy and run apps on your machines over SSH, with zero downtime.")
  .version(typeof __SKIFF_VERSION__ === "string" ? __SKIFF_VERSION__ : "dev")
  .option("-c, --config <file>", "path to skiff.yml (default: found from the current directory up)")
  .option("-e, --env <name>", "environment overlay to use (e.g. staging)")
  .option("--json", "machine-readable output")
  .showSuggestionAfterError(true)
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

/** Runs a handler and turns its result or failure into an exit code. */
function act<A extends unknown[]>(fn: (...args: A) => number | void | Promise<number | void>) {
  return async (...args: A) => {
    try {
      process.exitCode = (await fn(...args)) ?? 0;
    } catch (e) {
      process.exitCode = renderError(e, Boolean(globals().json));
    }
  };
}

program
  .command("init")
  .description("write a commented starter skiff.yml in the current directory")
  .option("--force", "overwrite an existing skiff.yml")
  .action(act((o: { force?: boolean }) => initCommand(o)));

program
  .command("validate")
  .description("check skiff.yml (every problem at once, with file:line:col)")
  .action(act(() => validateCommand(makeCtx(globals()))));

program
  .command("setup")
  .description("prepare machines: Docker, HAProxy, Node and the skiff agent (idempotent)")
  .argument("[machines...]", "machines to set up (default: all)")
  .option("--dry-run", "print what would change and stop")
  .option("--parallel <n>", "machines at a time", (v) => Number(v), 10)
  .action(act((names: string[], o: { dryRun?: boolean; parallel: number }) => setupCommand(makeCtx(globals()), names, o)));

const machines = program.command("machines").description("inspect and trust machines");
machines
  .command("check")
  .description("per machine: reachable, OS, disk, memory, Docker, HAProxy, agent")
  .argument("[machines...]")
  .action(act((names: string[]) => checkCommand(makeCtx(globals()), names)));
machines
  .command("trust")
  .description("show machines' SSH host key fingerprints and record them in .skiff/known_hosts")
  .argument("[machines...]")
  .option("--yes", "record without asking")
  .option("--replace", "replace a recorded key that changed (after checking it out of band)")
  .action(act((names: string[], o: { yes?: boolean; replace?: boolean }) => trustCommand(makeCtx(globals()), names, o)));

program
  .command("doctor")
  .description("alias of `machines check`")
  .argument("[machines...]")
  .action(act((names: string[]) => checkCommand(makeCtx(globals()), names)));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { code?: string; exitCode?: number };
  if (err.code?.startsWith("commander.")) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else process.exitCode = renderError(e, Boolean(globals().json));
}
