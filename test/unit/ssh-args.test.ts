import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MachineSpec } from "../../src/config/model.ts";
import { UserError } from "../../src/errors.ts";
import { sshOptions, trustScanArgv } from "../../src/transport/ssh-args.ts";
import { sshOptionProblem } from "../../src/config/ssh-options.ts";
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
    assert.deepEqual(argv.slice(-3), ["--", "10.0.0.1", "sudo -n -- printf %s '$(id)'"]);
  });

  it("explains well-known ssh failures", () => {
    assert.match(sshHint("m1", "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")!, /skiff machines trust m1 --replace/);
    assert.match(sshHint("m1", "Host key verification failed.")!, /skiff machines trust m1/);
    assert.match(sshHint("m1", "root@x: Permission denied (publickey).")!, /authentication failed/);
    assert.equal(sshHint("m1", "something else"), undefined);
    assert.deepEqual(relevantStderr("Warning: Permanently added 'x'\n@@@@@@\nreal error\n\n"), ["real error"]);
  });

  // The reproduction: `host:` that ssh would read as an option.
  const HOSTILE = "-oProxyCommand=sh -c 'id > /tmp/x'";
  const rejects = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof UserError && re.test(e.message) && e.exitCode === 2);

  it("a host, proxy_jump or identity_file that starts with '-' never reaches ssh", () => {
    const hostile = { ...m, host: HOSTILE };
    rejects(() => sshOptions(hostile, ctx), /web1: host .* starts with "-"/);
    rejects(() => new SshTransport(hostile, ctx).sshArgv(["true"]), /host/);
    rejects(() => trustScanArgv(hostile, ctx, "/tmp/kh"), /host/);
    rejects(() => sshOptions({ ...m, proxyJump: "-oProxyCommand=touch /tmp/x" }, ctx), /proxy_jump/);
    rejects(() => sshOptions({ ...m, identityFile: "-oProxyCommand=touch /tmp/x" }, ctx), /identity_file/);
    rejects(() => sshOptions({ ...m, user: "-oProxyCommand=x" }, ctx), /user/);
    rejects(() => sshOptions({ ...m, host: "a.example\n-oProxyCommand=x" }, ctx), /host/);
    rejects(() => sshOptions({ ...m, host: "a.example b.example" }, ctx), /host/);
  });

  it("the transport checks hosts, users and every jump hop as the schema does (one definition)", () => {
    for (const proxyJump of ["bastion,-Fx", "bastion,-oProxyCommand=touch /tmp/x", "a,b,-J", "user@-x", "-x@bastion", "bastion:-22", "bastion,%x", "a@b@c"]) rejects(() => sshOptions({ ...m, proxyJump }, ctx), /proxy_jump/);
    for (const host of ["a%h", "x@y", "[::1]", "a+b", "a~b"]) rejects(() => sshOptions({ ...m, host }, ctx), /host/);
    for (const user of ["a@b", "a%u", "a:b"]) rejects(() => sshOptions({ ...m, user }, ctx), /user/);
    for (const identityFile of ["-i", "/k\n-oProxyCommand=x"]) rejects(() => sshOptions({ ...m, identityFile }, ctx), /identity_file/);
    for (const ok of [{ proxyJump: "deploy@bastion:2222,[2001:db8::1]:22,jump2" }, { host: "::1" }, { host: "my_alias" }, { user: "svc$" }, { identityFile: "~/keys/my key" }]) assert.ok(sshOptions({ ...m, ...ok }, ctx), JSON.stringify(ok));
  });

  it("the destination always follows `--`, so nothing after it is read as an option", () => {
    const t = new SshTransport(m, ctx);
    const run = t.sshArgv(["true"]);
    assert.equal(run[run.indexOf("10.0.0.1") - 1], "--");
    const scan = trustScanArgv(m, ctx, "/tmp/kh");
    assert.deepEqual(scan.slice(-3), ["--", "10.0.0.1", "true"]);
    assert.ok(scan.includes("StrictHostKeyChecking=accept-new") && scan.includes('UserKnownHostsFile="/tmp/kh"'));
  });

  it("ssh.options is an allow-list: options that run commands or weaken host keys are refused at the transport too", () => {
    for (const k of ["KnownHostsCommand", "LocalCommand", "PermitLocalCommand", "ProxyCommand", "PKCS11Provider", "SecurityKeyProvider", "HostKeyAlias", "StrictHostKeyChecking", "userknownhostsfile", "ControlPath", "BatchMode", "ForwardAgent", "SendEnv", "SetEnv", "Include", "VerifyHostKeyDNS", "NoHostAuthenticationForLocalhost", "XAuthLocation", "RemoteCommand", "Match"]) {
      assert.ok(sshOptionProblem(k, "x"), k);
      rejects(() => sshOptions({ ...m, sshOptions: { [k]: "x" } }, ctx), new RegExp(`web1: ssh option ${k}`));
    }
    for (const [k, v] of [["ConnectTimeout", "5"], ["serveraliveinterval", "10"], ["Ciphers", "-chacha20-poly1305@openssh.com"], ["IPQoS", "lowdelay throughput"]]) {
      assert.equal(sshOptionProblem(k!, v!), undefined, k);
      assert.ok(sshOptions({ ...m, sshOptions: { [k!]: v! } }, ctx).includes(`${k}=${v}`));
    }
    for (const v of ["-x", "a\nProxyCommand=x", "a\rb", '"q"', "a\\b", " padded"]) assert.ok(sshOptionProblem("LogLevel", v), JSON.stringify(v));
    rejects(() => sshOptions({ ...m, sshOptions: { LogLevel: "ERROR\nProxyCommand=x" } }, ctx), /LogLevel/);
  });

  it("names that live on Object.prototype are unknown options, not 'own fields'", () => {
    for (const k of ["constructor", "toString", "__proto__", "hasOwnProperty"]) assert.match(sshOptionProblem(k, "x") ?? "", /cannot be set in skiff.yml/, k);
  });
});
