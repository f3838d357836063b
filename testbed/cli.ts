// npm run bed -- up [N] [--fresh] | down | status | restart|stop|start|disconnect|reconnect|fill-disk|free-disk|rekey NAME
import * as bed from "./bed.ts";

const [cmd = "status", ...rest] = process.argv.slice(2);
const log = (s: string) => console.error(`bed: ${s}`);
const pick = async (name: string | undefined) => {
  const b = await bed.up({ count: 3, log });
  // Short name (m2) or container name (skiff-bed-m2): both are what `status` and `docker ps` show.
  const m = b.machines.find((x) => x.name === name || x.container === name);
  if (!m) throw new Error(`no bed machine named ${name ?? "(missing)"} (names: ${b.machines.map((x) => `${x.name} or ${x.container}`).join(", ")})`);
  return m;
};

switch (cmd) {
  case "up": {
    const b = await bed.up({ count: Number(rest.find((a) => /^\d+$/.test(a)) ?? 3), fresh: rest.includes("--fresh"), log });
    for (const m of b.machines) console.log(`${m.name}\tssh -i ${b.identityFile} -p ${m.sshPort} root@127.0.0.1\thttp://127.0.0.1:${m.httpPort}\t${m.address}`);
    console.log(`\n# skiff.yml for this bed:\n${bed.bedConfig(b)}`);
    break;
  }
  case "down":
    await bed.down();
    log("removed");
    break;
  case "restart":
  case "stop":
  case "start":
  case "disconnect":
  case "reconnect":
  case "fill-disk":
  case "free-disk":
  case "rekey": {
    const m = await pick(rest[0]);
    const lever = { restart: bed.faults.restart, stop: bed.faults.stop, start: bed.faults.start, disconnect: bed.faults.disconnect, reconnect: bed.faults.reconnect, "fill-disk": (x: bed.BedMachine) => bed.faults.fillDisk(x), "free-disk": bed.faults.freeDisk, rekey: bed.faults.rekey }[cmd];
    const left = await lever(m);
    log(`${cmd} ${m.name}: done${typeof left === "number" ? ` (${left} KiB left free on /var/lib/skiff)` : ""}`);
    break;
  }
  default:
    console.error("usage: npm run bed -- up [N] [--fresh] | down | restart|stop|start|disconnect|reconnect|fill-disk|free-disk|rekey NAME");
    process.exit(2);
}
