// What HAProxy's access log lines look like: the agent parses them (agent/log-requests.ts) and files them per app.

/** One line a request, for the agent to file per app (agent/log-requests.ts): accept time (unix s.ms), backend,
 *  server; frontend and Ta for the duration histogram (the agent counts a request only where it entered, not on
 *  the mesh frontend of the machine it was handed to; Ta up front is read without searching the timers); then what
 *  the app's request log keeps: status, bytes, timers TR/Tw/Tc/Tr/Ta (ms), client address, the request line. */
export const REQUEST_LOG_FORMAT = '"%Ts.%ms %b %s %ft %Ta %ST %B %TR/%Tw/%Tc/%Tr/%Ta %ci %{+Q}r"';
/** TCP apps: one line a connection (bytes from the server, timers Tw/Tc/Tt). */
export const TCP_LOG_FORMAT = '"%Ts.%ms %b %s - %B %Tw/%Tc/%Tt %ci tcp"';

/** The ring HAProxy writes request lines into; it forwards them over TCP to the agent, many lines a write (one UDP
 *  datagram a request woke the agent once per request), and keeps the newest while the agent is away. */
export const REQUEST_RING = "skiff_requests";

/** The ring section, forwarding to `server` (addr:port), a line each ending in a newline. `format raw`: the line as
 *  the log-format writes it, without a syslog header (a fifth of each line's bytes, and a search a line for the
 *  agent, which reads only the line; it still accepts a header, from a HAProxy not yet reloaded). */
export function requestRingLines(server: string): string[] {
  return ["", `ring ${REQUEST_RING}`, "  format raw", "  maxlen 2048", "  size 4194304", "  timeout connect 2s", "  timeout server 30s", `  server agent ${server}`];
}
