// Secret values and files go only to machines that run the app; the copy without them is the same release.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { putRelease } from "../../src/exec/deploy.ts";
import { fakeMachine, spec } from "./fake-machine.ts";

const root = mkdtempSync(join(tmpdir(), "skiff-secrets-test-"));
after(() => rmSync(root, { recursive: true, force: true }));
const SECRET = "s3cr3t-value-4711";

/** Every file under dir whose content holds the text. */
function holding(dir: string, text: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, f);
    if (statSync(p).isFile() && readFileSync(p, "utf8").includes(text)) out.push(f);
  }
  return out;
}

describe("secrets only where the app runs", () => {
  it("a machine placed to run none of the app gets the release without secret values or files; a later full copy replaces it", async () => {
    const [m1, m2] = [fakeMachine("m1", join(root, "a")), fakeMachine("m2", join(root, "b"))];
    const files = [{ path: "config/app.env", mode: 0o600, content: Buffer.from(`DB=${SECRET}`).toString("base64") }];
    const one = spec("shop", "web", 1, { placement: { m1: 1 }, secrets: { DB: SECRET }, files });
    await putRelease([m1.client, m2.client], one);
    assert.deepEqual(holding(m1.dir, SECRET).length > 0, true);
    assert.deepEqual(holding(m2.dir, SECRET), []);
    assert.ok(m2.store.release("shop", "web", 1)?.withheld, "m2's copy says what it lacks");
    // The same release again (a re-run) changes nothing on either machine.
    await putRelease([m1.client, m2.client], one);
    // A release placed on m2 too: m2 now gets the values.
    const two = { ...one, release: 2, instances: 2, placement: { m1: 1, m2: 1 } };
    await putRelease([m1.client, m2.client], two);
    assert.equal(m2.store.release("shop", "web", 2)?.secrets?.DB, SECRET);
    // A machine holding the withheld copy of release 1 accepts the full one as the same release.
    m2.store.putRelease(one);
    assert.equal(m2.store.release("shop", "web", 1)?.secrets?.DB, SECRET);
    // A different secret under the same number is a different release: refused.
    assert.throws(() => m2.store.putRelease({ ...one, secrets: { DB: "other" } }), /releases are immutable/);
  });

  it("an activation that would start instances from a copy without secrets fails before anything starts", async () => {
    const m = fakeMachine("m2", join(root, "c"));
    const one = spec("shop", "web", 1, { placement: { m1: 1 }, secrets: { DB: SECRET } });
    await putRelease([m.client], one);
    // (A release whose placement puts instances here, but stored without secrets: refused, nothing started.)
    const r = await m.core.activate({ project: "shop", app: "web", release: 1, machine: "m1", action: "deploy", bindAddress: "127.0.0.1" });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /without its secrets/);
    assert.equal(m.runtime.started.length, 0);
  });
});
