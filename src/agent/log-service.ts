// The agent's logs part, built once in serve.ts: the kept files (log-store),
// the collector of instances' and the agent's output, HAProxy's access log
// receiver, and the reader behind `logs.read`.
import { join } from "node:path";
import { AGENT_LOG } from "../contracts/paths.ts";
import { DEFAULT_LOG_MAX_BYTES, type LogPage, type LogQuery } from "../contracts/logs.ts";
import { RequestDurations } from "../metrics/request-durations.ts";
import type { Runtime, RuntimeKind } from "../runtime/types.ts";
import { collecting, LogCollector } from "./log-collector.ts";
import { readLogs } from "./log-read.ts";
import { RequestLog } from "./log-requests.ts";
import { LogStore } from "./log-store.ts";
import { StateCache } from "./state-cache.ts";
import type { Store } from "./store.ts";

/** The agent's own log: bounded like an app's, at a fixed size. */
const AGENT_LOG_MAX_BYTES = 20 * 1024 * 1024;

export interface Logs {
  wrap(kind: RuntimeKind, rt: Runtime): Runtime;
  read(q: LogQuery): Promise<LogPage>;
  start(requestLogAddr: string | undefined): void;
  stop(): void;
  /** The apps' request-duration histograms, counted from the access log (the metrics sampler reads them). */
  durations: RequestDurations;
}

export function logService(o: { stateDir: string; store: Store; agentFile: string; log: (s: string) => void; agentLog?: string }): Logs {
  const root = join(o.stateDir, "logs");
  const cache = new StateCache(o.store);
  // The bound of the app's active release (skiff.yml `logs.max_size`), else the default.
  const boundOf = (project: string, app: string) => {
    if (project.startsWith("_")) return AGENT_LOG_MAX_BYTES;
    const st = cache.apps().find((a) => a.project === project && a.app === app)?.state;
    const spec = st?.active != null ? cache.release(project, app, st.active) : undefined;
    return spec?.logs?.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  };
  const files = new LogStore(root, boundOf);
  const collector = new LogCollector(files, o.store, { stateDir: o.stateDir, dockerSocket: process.env.DOCKER_SOCKET || "/var/run/docker.sock", agentLog: o.agentLog ?? AGENT_LOG, log: o.log });
  const durations = new RequestDurations();
  const requests = new RequestLog(files, o.store, o.log, durations);
  return {
    durations,
    wrap: (kind, rt) => collecting(kind, rt, collector),
    read: (q) => readLogs(root, o.agentFile, q),
    start(addr) {
      collector.start();
      if (addr) requests.listen(addr);
    },
    stop() {
      collector.stop();
      requests.close();
    },
  };
}
