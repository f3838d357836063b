// skiff-agent: one long-lived process per machine. Bundled into one file
// (dist/skiff-agent.cjs) that needs only Node ≥ 18 on the machine.
import { agentInfo, AGENT_VERSION, handlers } from "./handlers.ts";
import { call, connect } from "./bridge.ts";
import { SOCKET, SUPERVISOR_PID } from "./paths.ts";
import { listen } from "./server.ts";
import { supervise } from "./supervise.ts";

const log = (s: string) => process.stderr.write(`${new Date().toISOString()} skiff-agent[${process.pid}] ${s}\n`);
const [cmd, ...args] = process.argv.slice(2);
const socket = process.env.SKIFF_AGENT_SOCKET || SOCKET;
const self = process.argv[1]!;

switch (cmd) {
  case "serve": {
    const info = agentInfo(self, new Date());
    listen(socket, handlers(info)).then(
      (server) => {
        log(`agent ${info.version} (${info.sha256.slice(0, 12)}) listening on ${socket}`);
        const stop = () => server.close(() => process.exit(0));
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      },
      (e: Error) => {
        log(`cannot start: ${e.message}`);
        process.exit(1);
      },
    );
    break;
  }
  case "supervise":
    supervise(process.env.SKIFF_AGENT_PIDFILE || SUPERVISOR_PID, [self, "serve"], log);
    break;
  case "connect":
    connect(socket);
    break;
  case "call":
    call(socket, args[0] ?? "ping", args[1] ? JSON.parse(args[1]) : undefined);
    break;
  case "version":
    process.stdout.write(`${AGENT_VERSION}\n`);
    break;
  default:
    process.stderr.write("usage: skiff-agent serve | supervise | connect | call METHOD [JSON] | version\n");
    process.exit(2);
}
