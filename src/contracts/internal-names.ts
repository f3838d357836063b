// Internal names, as the CLI shows them and the agent serves them (proxy/internal.ts):
// every app is APP.internal and APP.PROJECT.internal on each machine of its project.

/** The loopback address the internal frontend listens on and the hosts file points every name at (all of 127/8
 *  is loopback on Linux: no interface to configure). Its own address, so the frontend never clashes with a public
 *  frontend on *:80 (a listener on a specific address takes that address's connections from the wildcard one). */
export const INTERNAL_ADDR = "127.77.0.1";
/** Internal names are plain HTTP on port 80: `http://users.internal/`. */
export const INTERNAL_PORT = 80;

/** The names an app answers to: the short one and the one that says its project. */
export const internalHosts = (project: string, app: string) => [`${app}.internal`, `${app}.${project}.internal`];
/** The address to call an app at from another app of its project (the one name that two projects on a machine never
 *  share): an HTTP URL, or for a TCP app (its internal port given) `tcp://APP.PROJECT.internal:PORT`. */
export const internalUrl = (project: string, app: string, tcpPort?: number) => (tcpPort === undefined ? `http://${app}.${project}.internal/` : `tcp://${app}.${project}.internal:${tcpPort}`);
