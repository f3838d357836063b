import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MachineSpec } from "../../src/config/model.ts";
import { sshOptions } from "../../src/transport/ssh-args.ts";
import { SshTransport } from "../../src/transport/ssh.ts";
import { relevantStderr, sshHint } from "../../src/transport/remote-error.ts";

const m: MachineSpec = { name: "web1", host: "10.0.0.1", local: false, port: 2222, user: "deploy", identityFile: "/k", proxyJump: "bastion", sshOptions: { ConnectTimeout: "3" }, labels: [], httpPort: 80 };
const ctx = { knownHosts: "/proj/.skiff/known_hosts", socketDir: "/tmp/skiff-0" };

describe("ssh arguments", () => {
  it("verify host keys, never prompt, share connections, and let the user's options win", () => {
    const a = sshOptions(m, ctx);
    assert.deepEqual(a.slice(0, 2), ["-o", "ConnectTimeout=3"]);
    for (const o of ["BatchMode=yes", "StrictHostKeyChecking=yes", "ControlMaster=auto", "ControlPath=/tmp/skiff-0/%C", "ControlPersist=60s"]) assert.ok(a.includes(o), o);
    assert.ok(a.some((o) => o.startsWith('UserKnownHostsFile="/proj/.skiff/known_hosts" ')));
    assert.deepEqual(a.slice(a.indexOf("-p"), a.indexOf("-p") + 2), ["-p", "2222"]);
    assert.deepEqual(a.slice(a.indexOf("-J"), a.indexOf("-J") + 2), ["-J", "bastion"]);
  });

  it("a non-root user runs commands through sudo -n, quoted once", () => {
    const t = new SshTransport(m, ctx);
    const argv = t.sshArgv(["printf", "%s", "$(id)"]);
    assert.deepEqual(argv.slice(-3), ["10.0.0.1", "--", "sudo -n -- printf %s '$(id)'"]);
  });

  it("explains well-known ssh failures", () => {
    assert.match(sshHint("m1", "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")!, /skiff machines trust m1 --replace/);
    assert.match(sshHint("m1", "Host key verification failed.")!, /skiff machines trust m1/);
    assert.match(sshHint("m1", "root@x: Permission denied (publickey).")!, /authentication failed/);
    assert.equal(sshHint("m1", "something else"), undefined);
    assert.deepEqual(relevantStderr("Warning: Permanently added 'x'\n@@@@@@\nreal error\n\n"), ["real error"]);
  });
});
