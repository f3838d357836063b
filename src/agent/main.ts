// skiff-agent: one long-lived process per machine (`serve`), plus the short
// commands that reach it. Bundled into one file (dist/skiff-agent.cjs) that
// needs only Node ≥ 18 on the machine. Only what a command needs is loaded:
// `connect` starts once per ssh session and needs the socket alone, so the
// agent's own modules (zod schemas, runtimes, proxy) load in `serve`.
import { SOCKET, STATE_DIR } from "../contracts/paths.ts";
import { call, connect } from "./bridge.ts";

const log = (s: string) => process.stderr.write(`${new Date().toISOString()} skiff-agent[${process.pid}] ${s}\n`);
const fail = (e: Error) => {
  process.stderr.write(`skiff-agent: ${e.message}\n`);
  process.exit(1);
};
const [cmd, ...args] = process.argv.slice(2);
const socket = process.env.SKIFF_AGENT_SOCKET || SOCKET;

switch (cmd) {
  case "serve":
    import("./serve.ts").then((m) => m.serve(process.argv[1]!, socket, log), fail);
    break;
  case "artifact-put":
    import("../runtime/process.ts")
      .then((m) => m.artifactPut(process.env.SKIFF_STATE_DIR || STATE_DIR, args[0] ?? ""))
      .then(() => process.exit(0), fail);
    break;
  case "exec":
  case "run":
  case "run-stop":
    import("./reach.ts")
      .then((m) => m.reach(cmd, args, process.env.SKIFF_STATE_DIR || STATE_DIR))
      .then((code) => process.exit(code), fail);
    break;
  case "logs-scan":
    import("./log-read.ts").then((m) => m.scanMain(), fail);
    break;
  case "connect":
    connect(socket);
    break;
  case "call":
    call(socket, args[0] ?? "ping", args[1] ? JSON.parse(args[1]) : undefined);
    break;
  case "version":
    import("./handlers.ts").then((m) => process.stdout.write(`${m.AGENT_VERSION}\n`), fail);
    break;
  default:
    process.stderr.write("usage: skiff-agent serve | connect | call METHOD [JSON] | artifact-put SHA256 < tar.gz | exec | run | run-stop | version\n");
    process.exit(2);
}
