// skiff: parse → call core → render. Each command lives in its own file, imported when it runs: the CLI starts
// for every command, and `skiff status` need not parse the code of deploy, setup or the config checker.
import { Command } from "commander";
import { makeCtx, type Ctx, type GlobalOptions } from "./context.ts";
import { renderError } from "./render-error.ts";
import { wholeOption } from "./numbers.ts";
import type { LogsFlags } from "./logs.ts";

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

/** Every -e/--env value in order (the global option keeps only the last; `skiff diff` needs both). */
function envsInArgv(argv: string[]): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if ((a === "-e" || a === "--env") && argv[i + 1]) out.push(argv[i + 1]!);
    else if (a.startsWith("--env=")) out.push(a.slice(6));
    else if (/^-e./.test(a)) out.push(a.slice(2));
  });
  return out;
}

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
  .action(act(async (o: { force?: boolean }) => (await import("./init.ts")).initCommand(o)));

program
  .command("validate")
  .description("check skiff.yml (every problem at once, with file:line:col)")
  .action(act(async () => (await import("./validate.ts")).validateCommand(globals())));

program
  .command("setup")
  .description("prepare machines: Docker, HAProxy, Node and the skiff agent (idempotent)")
  .argument("[machines...]", "machines to set up (default: all)")
  .option("--dry-run", "print what would change and stop")
  .option("--parallel <n>", "machines at a time", wholeOption("--parallel", 1, 100), 10)
  .action(act(async (names: string[], o: { dryRun?: boolean; parallel: number }) => (await import("./setup.ts")).setupCommand(await makeCtx(globals()), names, o)));

const machines = program.command("machines").description("inspect and trust machines");
machines
  .command("check")
  .description("per machine: reachable, OS, disk, memory, Docker, HAProxy, agent")
  .argument("[machines...]")
  .action(act(async (names: string[]) => (await import("./machines-check.ts")).checkCommand(await makeCtx(globals()), names)));
machines
  .command("trust")
  .description("show machines' SSH host key fingerprints and record them in .skiff/known_hosts")
  .argument("[machines...]")
  .option("--yes", "record without asking")
  .option("--replace", "replace a recorded key that changed (after checking it out of band)")
  .action(act(async (names: string[], o: { yes?: boolean; replace?: boolean }) => (await import("./machines-trust.ts")).trustCommand(await makeCtx(globals()), names, o)));

program
  .command("doctor")
  .description("alias of `machines check`")
  .argument("[machines...]")
  .action(act(async (names: string[]) => (await import("./machines-check.ts")).checkCommand(await makeCtx(globals()), names)));

program
  .command("build")
  .description("build images of apps that have a build section (tag: git commit)")
  .argument("[apps...]")
  .action(act(async (apps: string[]) => (await import("./build.ts")).buildCommand(await makeCtx(globals()), apps)));

program
  .command("deploy")
  .description("build, ship and roll out a new release with zero downtime")
  .argument("[apps...]", "apps to deploy (default: all)")
  .option("--skip-unreachable", "deploy to the machines that answer and leave the others")
  .option("--wait", "wait for another deploy's lock instead of failing")
  .option("--dry-run", "print the plan (as `skiff plan` does) and change nothing")
  .option("--yes", "go ahead when an accessory (a database) would restart or move")
  .action(act(async (apps: string[], o: { skipUnreachable?: boolean; wait?: boolean; dryRun?: boolean; yes?: boolean }) => (await import("./deploy.ts")).deployCommand(await makeCtx(globals()), apps, o)));

program
  .command("rollback")
  .description("activate the previous (or given) release, whole: image and config")
  .argument("[apps...]")
  .option("--to <release>", "release number to activate", wholeOption("--to", 1, Number.MAX_SAFE_INTEGER, "`skiff history` lists the release numbers"))
  .option("--max-parallel <n>", "machines switched at a time (default: all)", wholeOption("--max-parallel", 1, 1000))
  .option("--skip-unreachable", "roll back the machines that answer")
  .option("--dry-run", "print the plan (the target release, what changes where) and change nothing")
  .option("--yes", "go ahead when an accessory (a database) is named: it stops and the older release starts on its volumes")
  .action(act(async (apps: string[], o: { to?: number; maxParallel?: number; skipUnreachable?: boolean; dryRun?: boolean; yes?: boolean }) => (await import("./rollback.ts")).rollbackCommand(await makeCtx(globals()), apps, o)));

program
  .command("restart")
  .description("new instances of the active release with a deploy's safety (start-first, health-gated, drained, in waves)")
  .argument("[apps...]", "apps to restart (default: all)")
  .option("--machine <name>", "only this machine's instances")
  .option("--dry-run", "print which instances would restart, in which waves, and change nothing")
  .action(act(async (apps: string[], o: { machine?: string; dryRun?: boolean }) => (await import("./restart.ts")).restartCommand(await makeCtx(globals()), apps, o)));

program
  .command("exec")
  .description("run a command in a running instance: skiff exec web -- ls -la (exits with its code)")
  .argument("<app>")
  .argument("[command...]", "the command and its arguments, after --")
  .option("--machine <name>", "the instance's machine (default: where the first healthy one runs)")
  .option("--instance <name>", "the instance (its name or a unique end of it; default: the first healthy one)")
  .option("-i, --interactive", "send stdin to the command")
  .option("-t, --tty", "a terminal on the machine (ssh -t), for shells and consoles; implies -i")
  .action(act(async (app: string, command: string[], o: { machine?: string; instance?: string; interactive?: boolean; tty?: boolean }) => (await import("./exec.ts")).execCommand(await makeCtx(globals()), app, command, o)));

program
  .command("run")
  .description("run a command in a one-off instance of the current release, removed after: skiff run web -- npm run migrate")
  .argument("<app>")
  .argument("[command...]", "the command and its arguments, after --")
  .option("--machine <name>", "where to run it (default: the first machine that runs the app)")
  .option("-i, --interactive", "send stdin to the command")
  .option("-t, --tty", "a terminal on the machine (ssh -t), for consoles; implies -i")
  .action(act(async (app: string, command: string[], o: { machine?: string; interactive?: boolean; tty?: boolean }) => (await import("./run.ts")).runCommand(await makeCtx(globals()), app, command, o)));

program
  .command("history")
  .description("deploys, rollbacks and restarts, merged across machines")
  .argument("[app]")
  .option("-n, --limit <n>", "rows to show", wholeOption("--limit", 1, 1_000_000), 30)
  .action(act(async (app: string | undefined, o: { limit: number }) => (await import("./history.ts")).historyCommand(await makeCtx(globals()), app, o)));

program
  .command("logs")
  .description("what the apps printed, from every machine in time order (filtered on the machines); -f follows")
  .argument("[app]")
  .option("-f, --follow", "keep printing new lines (new instances join as they start)")
  .option("--since <time>", "from this long ago (90s, 15m, 1h, 2d) or this time (2026-11-30T06:00:00Z)")
  .option("--until <time>", "up to this long ago or this time")
  .option("--grep <regex>", "only lines whose text matches (JavaScript regular expression)")
  .option("-n, --lines <n>", "only the last N lines (default: 100, or all with --since/--until/--grep)", wholeOption("--lines", 0, 100_000))
  .option("--machine <name...>", "only these machines")
  .option("--release <n>", "only lines of this release", wholeOption("--release", 1, Number.MAX_SAFE_INTEGER))
  .option("--requests", "HAProxy's access log of the app(s) instead")
  .option("--agent", "the agents' own logs instead")
  .action(act(async (app: string | undefined, o: LogsFlags) => (await import("./logs.ts")).logsCommand(await makeCtx(globals()), app, o)));

program
  .command("status")
  .description("what runs where: release, instances, health, restarts, uptime")
  .argument("[app]")
  .action(act(async (app: string | undefined) => (await import("./status.ts")).statusCommand(await makeCtx(globals()), app)));

program
  .command("metrics")
  .description("each machine's metrics in Prometheus text format (over SSH), or a scrape config for Prometheus")
  .option("--machine <name>", "one machine only")
  .option("--prometheus-config", "print a Prometheus scrape config for the machines' /metrics endpoints (skiff.yml `metrics.listen`)")
  .action(act(async (o: { machine?: string; prometheusConfig?: boolean }) => (await import("./metrics.ts")).metricsCommand(await makeCtx(globals()), o)));

program
  .command("top")
  .description("live numbers per app and machine: requests/s, errors, response time, CPU, memory, disk (refreshing)")
  .option("--machine <name>", "one machine only")
  .option("--once", "print once and exit (also when the output is not a terminal)")
  .action(act(async (o: { machine?: string; once?: boolean }) => (await import("./top.ts")).topCommand(await makeCtx(globals()), o)));

program
  .command("dashboard")
  .description("the project in a web page on this computer: machines, apps, releases, traffic, logs and alerts, live; rollback")
  .option("--port <port>", "port on 127.0.0.1 (default: any free one)", wholeOption("--port", 1, 65535))
  .option("--no-open", "print the URL only; do not open a browser")
  .addHelpText("after", "\nThe page listens on 127.0.0.1 only; its URL holds a random token, required on every request. It reaches the\nmachines over SSH like the other commands, one poll every 5 s for all its tabs, and none while no tab is open.\nSee docs/dashboard.md.")
  .action(act(async (o: { port?: number; open?: boolean }) => (await import("./dashboard.ts")).dashboardCommand(await makeCtx(globals()), o)));

program
  .command("alerts")
  .description("alerts firing and pending, and the recent notifications with their delivery (exit 3 while one fires)")
  .option("--all", "every kept notification, not the last 20")
  .action(act(async (o: { all?: boolean }) => (await import("./alerts.ts")).alertsCommand(await makeCtx(globals()), o)));

const secrets = program.command("secrets").description("secrets encrypted in git (secrets/<environment>.age, age format)");
secrets.command("set").description("set a secret (value from stdin, or typed without echo)").argument("<name>").action(act(async (n: string) => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "set", n, {})));
secrets.command("unset").description("remove a secret").argument("<name>").action(act(async (n: string) => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "unset", n, {})));
secrets.command("list").description("secret names (never values) and the apps using them").action(act(async () => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "list", undefined, {})));
secrets.command("show").description("print one secret's value (needs --reveal)").argument("<name>").option("--reveal", "really print the value").action(act(async (n: string, o: { reveal?: boolean }) => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "show", n, o)));
secrets.command("edit").description("edit all secrets of the environment in $EDITOR (JSON)").action(act(async () => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "edit", undefined, {})));
secrets.command("rotate-key").description("re-encrypt with a new file key to the recipients listed now").action(act(async () => (await import("./secrets.ts")).secretsCommand(await makeCtx(globals()), "rotate-key", undefined, {})));
secrets.command("keygen").description("create your age identity (~/.config/skiff/age-key.txt) and print its public key").action(act(async () => (await import("./secrets.ts")).secretsCommand({ json: false, out: (l) => void process.stdout.write(l + "\n") } as Ctx, "keygen", undefined, {})));

program
  .command("scale")
  .description("change an app's instance count (APP=N), recorded as a release; placed over its machines")
  .argument("<app=n...>")
  .option("--dry-run", "print the plan (release, placement, instances started and stopped) and change nothing")
  .action(act(async (args: string[], o: { dryRun?: boolean }) => (await import("./scale.ts")).scaleCommand(await makeCtx(globals()), args, o)));

program
  .command("plan")
  .description("what a deploy would change, per app and machine (exit 0: nothing, 2: changes)")
  .argument("[apps...]")
  .option("--skip-unreachable", "plan for the machines that answer")
  .action(act(async (apps: string[], o: { skipUnreachable?: boolean }) => (await import("./plan.ts")).planCommand(await makeCtx(globals()), apps, o)));

program
  .command("diff")
  .description("how two environments differ: skiff diff -e staging -e prod (secret values hidden)")
  .addHelpText("after", "\n  -e is given twice: skiff diff -e staging -e prod (`default` is the base config)")
  .action(act(async () => (await import("./env-diff.ts")).envDiffCommand(globals().config, envsInArgv(process.argv), { json: Boolean(globals().json), out: (l) => void process.stdout.write(l + "\n") })));

const exporting = program.command("export").description("the project as another tool's configuration: `export k8s` writes Kubernetes manifests (docs/moving-to-kubernetes.md)");
exporting
  .command("k8s")
  .description("the project (-e: an environment) as Kubernetes manifests: Deployments, Services, Ingresses, StatefulSets, … (docs/moving-to-kubernetes.md)")
  .option("--out <dir>", "a directory for one file per object, or - for one YAML stream on stdout", "-")
  .option("--namespace <ns>", "namespace of every object (default: the project, -ENV with -e)")
  .option("--image-tag <tag>", "tag of every built app's image (default: this tree's build, or the newest one here)")
  .option("--registry <host/path>", "where the cluster pulls built images from (default: skiff's local names)")
  .option("--image <app=image...>", "the image of an app (the only way a process app is exported)")
  .option("--include-secrets", "put the secret values (decrypted with your age key) into the Secrets; default: keys with empty values")
  .addHelpText("after", "\n  Not everything carries over (canary waves, backups, alerts, the mesh…): stderr and the end of the output list it.\n  Guide: docs/moving-to-kubernetes.md")
  .action(act(async (o: import("./export.ts").ExportFlags) => (await import("./export.ts")).exportK8sCommand(await makeCtx(globals()), o)));

program
  .command("remove")
  .description("stop apps on every machine and delete their releases (history stays)")
  .argument("<apps...>")
  .option("--yes", "really remove")
  .option("--dry-run", "print what would go from each machine and change nothing")
  .action(act(async (apps: string[], o: { yes?: boolean; dryRun?: boolean }) => (await import("./remove.ts")).removeCommand(await makeCtx(globals()), apps, o)));

program
  .command("demo")
  .description("make this machine a skiff machine and show a deploy, a zero-downtime redeploy under load and a rollback (needs root)")
  .option("--port <n>", "public HTTP port for the demo (default: 80)", wholeOption("--port", 1, 65535))
  .option("--down", "remove everything the demo made")
  .action(act(async (o: { port?: number; down?: boolean }) => (await import("./demo.ts")).demoCommand(o, (l) => void process.stdout.write(l + "\n"))));

const certs = program.command("certs").description("machine certificates for mutual TLS between machines (the mesh)");
certs.command("status").description("the CA and each machine's certificate, with expiry").action(act(async () => (await import("./certs.ts")).certsCommand(await makeCtx(globals()), "status", {})));
certs
  .command("rotate")
  .description("new key pair and certificate on every machine, loaded live (needs the CA key)")
  .argument("[machine...]", "only these machines")
  .action(act(async (names: string[]) => (await import("./certs.ts")).certsCommand(await makeCtx(globals()), "rotate", { machines: names })));

program
  .command("accessory")
  .description("an accessory (a database pinned to its machine): stop, start, restart, status, logs, exec")
  .argument("<action>", "stop | start | restart | status | logs | exec")
  .argument("<name>", "the accessory")
  .argument("[command...]", "exec: the command and its arguments, after --")
  .option("-f, --follow", "logs: keep printing new lines")
  .option("-n, --lines <n>", "logs: only the last N lines (default: 100)", wholeOption("--lines", 0, 100_000))
  .option("-i, --interactive", "exec: send stdin to the command")
  .option("-t, --tty", "exec: a terminal on the machine (ssh -t); implies -i")
  .action(
    act(async (action: string, name: string, command: string[], o: { follow?: boolean; lines?: number; interactive?: boolean; tty?: boolean }) => {
      const m = await import("./accessory.ts");
      return m.accessoryCommand(() => makeCtx(globals()), m.accessoryAction(action), name, command, o);
    }),
  );

program
  .command("backup")
  .description("backups of an accessory or an app's volumes: run one now, list, restore (--yes), verify")
  .argument("<action>", "run | list | restore | verify")
  .argument("<name>", "the accessory or app")
  .option("--snapshot <id>", "restore/verify: this snapshot (default: the newest)")
  .option("--into <name>", "restore: into this other service (a scratch copy on the same machine) instead")
  .option("--yes", "restore: replace the live data (a backup of it is made first)")
  .action(
    act(async (action: string, name: string, o: { snapshot?: string; into?: string; yes?: boolean }) => {
      const m = await import("./backup.ts");
      return m.backupCommand(() => makeCtx(globals()), m.backupAction(action), name, o);
    }),
  );

const lock = program.command("lock").description("the deploy lock");
lock.command("status").description("who holds the deploy lock").action(act(async () => (await import("./lock.ts")).lockCommand(await makeCtx(globals()), "status")));
lock
  .command("release")
  .description("break the project's deploy lock after its deploy died (a live lock only with --force)")
  .option("--force", "break it even though its holder still sends heartbeats")
  .action(act(async (o: { force?: boolean }) => (await import("./lock.ts")).lockCommand(await makeCtx(globals()), "release", o)));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const err = e as { code?: string; exitCode?: number };
  if (err.code?.startsWith("commander.")) process.exitCode = err.exitCode === 0 ? 0 : 2;
  else process.exitCode = renderError(e, Boolean(globals().json));
}
// The command is done. A handle left open by mistake (a child process, a socket)
// must not keep the CLI waiting: give output a moment to flush, then exit.
setTimeout(() => {
  if (process.env.SKIFF_DEBUG_HANDLES) process.stderr.write(`skiff: open handles at exit: ${JSON.stringify((process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo())}\n`);
  process.exit();
}, 1000).unref();
