// Cross-field rules for TCP apps (`protocol: tcp`): what their internal names
// serve on, and what they cannot have. Each returns every problem it sees.
import type { Problem } from "./rules.ts";
import { services } from "./services.ts";
import type { AppInput, ConfigInput } from "./schema.ts";

type App = AppInput;

/** The port a TCP app's names serve on, as normalize.ts computes it. */
const namePort = (a: App) => a.internal_port ?? a.port ?? 3000;

/** A TCP app has no public HTTP routes; internal_port means nothing to an HTTP app (its names are on port 80). */
export const tcpAppShape = (c: ConfigInput): Problem[] =>
  services(c).flatMap(({ kind, word, name, app }): Problem[] => {
    if (app.protocol === "tcp" && app.routes?.length) return [{ path: [kind, name], key: "routes", message: `${word} "${name}" speaks tcp and has public routes; routes are HTTP (host and path)`, hint: `remove "routes": other apps reach it at ${name}.internal:${namePort(app)}` }];
    if (app.protocol !== "tcp" && app.internal_port !== undefined) return [{ path: [kind, name], key: "internal_port", message: `"internal_port" is for TCP ${kind}; ${word} "${name}" speaks http (its name is http://${name}.internal/ on port 80)`, hint: 'add protocol: tcp, or remove "internal_port"' }];
    return [];
  });

/** Every machine of a project serves all its apps' names, so two TCP apps on one port would clash everywhere. */
export const tcpPortsUnique = (c: ConfigInput): Problem[] => {
  const owner = new Map<number, { name: string; word: string }>();
  return services(c).flatMap(({ kind, word, name, app }): Problem[] => {
    if (app.protocol !== "tcp") return [];
    const port = namePort(app);
    const first = owner.get(port);
    if (first === undefined) {
      owner.set(port, { name, word });
      return [];
    }
    const at = app.internal_port !== undefined ? { key: "internal_port" } : kind === "apps" ? { key: "protocol" } : { key: "port" };
    return [{ path: [kind, name], ...at, message: `TCP ${first.word === "app" && word === "app" ? `apps "${first.name}" and "${name}"` : `${first.word} "${first.name}" and ${word} "${name}"`} both serve their internal names on port ${port}`, hint: `give one of them another internal_port: every machine of the project serves each of its TCP apps on a port of its own` }];
  });
};
