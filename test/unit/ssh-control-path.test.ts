// The ControlPath directory holds sockets that act as logged-in ssh sessions to
// every machine: one someone else owns or can write to must not be used.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { MachineSpec } from "../../src/config/model.ts";
import { UserError } from "../../src/errors.ts";
import { SshTransport } from "../../src/transport/ssh.ts";

const m: MachineSpec = { name: "web1", host: "127.0.0.1", local: false, port: 1, user: "root", sshOptions: {}, labels: [], httpPort: 80 };
const bases: string[] = [];
const base = () => {
  const b = mkdtempSync(join(tmpdir(), "skiff-cp-"));
  bases.push(b);
  return b;
};
after(() => bases.forEach((b) => rmSync(b, { recursive: true, force: true })));
const uid = process.getuid!();

async function runWith(socketDir: string): Promise<unknown> {
  const t = new SshTransport(m, { knownHosts: "/dev/null", socketDir });
  return t.run(["true"], { step: "probe" }).then(
    () => assert.fail("ssh to port 1 cannot succeed"),
    (e: unknown) => e,
  );
}

const refusedDir = (dir: string, why: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError && !(e.name === "RemoteError"), `expected a UserError about the socket directory, got ${String(e)}`);
  assert.ok(e.message.includes(dir), e.message);
  assert.match(e.message, why);
  assert.match(e.hint ?? "", /SKIFF_SOCKET_DIR|remove/);
};

describe("ControlPath directory", () => {
  it("is created 0700 when missing (parents too)", async () => {
    const dir = join(base(), "a", "skiff-sock");
    const e = await runWith(dir);
    assert.ok(!(e instanceof UserError) || e.name === "RemoteError", String(e)); // ssh ran and failed to connect
    const st = lstatSync(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, uid);
  });

  it("a world-writable one is refused", async () => {
    const dir = join(base(), "skiff-sock");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    refusedDir(dir, /writable by others/)(await runWith(dir));
  });

  it("a group-writable one is refused", async () => {
    const dir = join(base(), "skiff-sock");
    mkdirSync(dir);
    chmodSync(dir, 0o770);
    refusedDir(dir, /writable by others/)(await runWith(dir));
  });

  it("one owned by someone else is refused", { skip: uid !== 0 ? "needs root to give a directory away" : false }, async () => {
    const dir = join(base(), "skiff-sock");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 12345, 12345);
    refusedDir(dir, /owned by uid 12345/)(await runWith(dir));
  });

  it("a symlink (even to a good directory) is refused", async () => {
    const b = base();
    const real = join(b, "real");
    mkdirSync(real, { mode: 0o700 });
    const dir = join(b, "skiff-sock");
    symlinkSync(real, dir);
    refusedDir(dir, /symbolic link/)(await runWith(dir));
  });

  it("a file in its place is refused", async () => {
    const dir = join(base(), "skiff-sock");
    mkdirSync(join(dir, ".."), { recursive: true });
    writeFileSync(dir, "");
    refusedDir(dir, /not a directory/)(await runWith(dir));
    assert.ok(existsSync(dir));
  });
});
