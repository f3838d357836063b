// What HAProxy's access log lines look like: the agent parses them (agent/log-requests.ts) and files them per app.

/** One line a request, for the agent to file per app (agent/log-requests.ts): accept time (unix s.ms), backend,
 *  server, status, bytes, timers TR/Tw/Tc/Tr/Ta (ms), client address, the request line. */
export const REQUEST_LOG_FORMAT = '"%Ts.%ms %b %s %ST %B %TR/%Tw/%Tc/%Tr/%Ta %ci %{+Q}r"';
/** TCP apps: one line a connection (bytes from the server, timers Tw/Tc/Tt). */
export const TCP_LOG_FORMAT = '"%Ts.%ms %b %s - %B %Tw/%Tc/%Tt %ci tcp"';
