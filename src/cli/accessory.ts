// skiff accessory stop|start|restart|status|logs|exec NAME: an accessory's life on its machine. stop and start are
// its own (held stopped, started again); the others are the app commands, for a name that must be an accessory.
import { UserError } from "../errors.ts";
import { skiffFor, type Ctx } from "./context.ts";

const ACTIONS = ["stop", "start", "restart", "status", "logs", "exec"] as const;
export type AccessoryAction = (typeof ACTIONS)[number];

/** Checked before the project is loaded: a typo is named at once. */
export function accessoryAction(action: string): AccessoryAction {
  const a = ACTIONS.find((x) => x === action);
  if (!a) throw new UserError(`unknown accessory action "${action}"`, { hint: `one of: ${ACTIONS.join(", ")}` });
  return a;
}

export interface AccessoryFlags {
  follow?: boolean;
  lines?: number;
  interactive?: boolean;
  tty?: boolean;
}

function mustBeAccessory(ctx: Ctx, name: string): void {
  const all = Object.values(ctx.project.apps);
  const names = all.filter((a) => a.accessory).map((a) => a.name);
  const a = Object.hasOwn(ctx.project.apps, name) ? ctx.project.apps[name] : undefined;
  if (a?.accessory) return;
  const what = a ? `${name} is an app, not an accessory` : `no accessory named "${name}"`;
  throw new UserError(what, { hint: names.length ? `accessories: ${names.join(", ")}` : "add one under accessories: in skiff.yml" });
}

export async function accessoryCommand(makeCtx: () => Promise<Ctx>, action: AccessoryAction, name: string, command: string[], f: AccessoryFlags): Promise<number> {
  const ctx = await makeCtx();
  mustBeAccessory(ctx, name);
  switch (action) {
    case "stop":
    case "start": {
      const skiff = skiffFor(ctx);
      const r = action === "stop" ? await skiff.stopAccessory(name) : await skiff.startAccessory(name);
      if (ctx.json) return ctx.out(JSON.stringify(r)), r.ok ? 0 : 1;
      for (const m of r.machines.filter((x) => x.instances > 0)) {
        const done = action === "stop" ? "stopped (held: not restarted until `skiff accessory start`)" : "started";
        ctx.out(`${name} on ${m.machine}: ${m.changed ? done : `already ${action === "stop" ? "stopped" : "running"}`}${m.reason ? `; ${m.reason}` : ""}`);
      }
      if (!r.machines.some((x) => x.instances > 0)) ctx.out(`${name}: not deployed yet (\`skiff deploy ${name}\` starts it)`);
      return r.ok ? 0 : 1;
    }
    case "restart":
      return (await import("./restart.ts")).restartCommand(ctx, [name], {});
    case "status":
      return (await import("./status.ts")).statusCommand(ctx, name);
    case "logs":
      return (await import("./logs.ts")).logsCommand(ctx, name, { follow: f.follow, lines: f.lines });
    case "exec":
      return (await import("./exec.ts")).execCommand(ctx, name, command, { interactive: f.interactive, tty: f.tty });
  }
}
