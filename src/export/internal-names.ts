// skiff's internal names (`web.internal`, `web.shop.internal`, docs/networking.md) become the cluster's: every
// exported app and accessory has a Service of its own name in the namespace, on the port its internal name serves
// on (80 for HTTP apps, `internal_port` for TCP ones), so `NAME.NAMESPACE.svc` answers where `NAME.internal` did.
// The export writes that name into env values, files and (when included) secret values, and says where it did.

/** `NAME.internal` / `NAME.PROJECT.internal` → `NAME.NAMESPACE.svc` (the pods' DNS search path completes it
 *  with the cluster's domain, `cluster.local` unless the cluster says otherwise). */
export const clusterName = (name: string, namespace: string): string => `${name}.${namespace}.svc`;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The internal names of `services` as a pattern (group 1: the name); none when there are no services. */
function namesPattern(project: string, services: string[]): RegExp | undefined {
  if (!services.length) return undefined;
  const names = [...services].sort((a, b) => b.length - a.length).map(escape).join("|");
  return new RegExp(`(?<![A-Za-z0-9.-])(${names})(?:\\.${escape(project)})?\\.internal(?![A-Za-z0-9-])`, "g");
}

/** A function that rewrites the internal names of `services` in a text; it returns the text unchanged when none
 *  is in it. Names of other apps (not exported, or not of this project) stay as they are. */
export function internalNameRewriter(project: string, namespace: string, services: string[]): (text: string) => string {
  const re = namesPattern(project, services);
  return (text) => (re ? text.replace(re, (_whole, name: string) => clusterName(name, namespace)) : text);
}

/** The internal names in a text of apps that are not exported (a process app without an image): nothing answers
 *  there in the cluster, and the export says so. */
export function unexportedNames(project: string, left: string[], text: string): string[] {
  const re = namesPattern(project, left);
  return re ? [...new Set([...text.matchAll(re)].map((m) => m[0]))] : [];
}
