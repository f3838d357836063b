// The project bench/fleet deploys (and bench/rollback-profile profiles): a process
// app (examples/hello-node), one instance per machine.
import { NODE_BIN } from "../src/contracts/paths.ts";
import { bedConfig, type Bed } from "../testbed/bed.ts";

export const HELLO_NODE = new URL("../examples/hello-node", import.meta.url).pathname;

/** skiff.yml for the bed: `version` makes a new release; `warm` keeps the previous release's instances running
 *  (probation 10m, keep_warm); else `probation` sets how long they run after a switch (default: skiff's, 30 s).
 *  Fresh machines have no Node of their own (setup ships one for the agent, not apt's nodejs): the app runs with
 *  that one, as root, who may run it. */
export const fleetConfig = (bed: Bed, version: string, warm = false, probation?: string) =>
  bedConfig(bed, {
    project: "benchfleet",
    extra: `apps:
  web:
    run: ${NODE_BIN} server.js
    user: root
    artifact: ${HELLO_NODE}
    instances: ${bed.machines.length}
    env: { VERSION: ${version} }
    routes: [{ path: / }]
    health: { interval: 200ms, deadline: 20s }
    deploy: { drain_timeout: 2s, stop_timeout: 5s${warm ? ", probation: 10m, keep_warm: true" : probation ? `, probation: ${probation}` : ""} }
`,
  });
