// Which images a machine is sent: only those of the apps placed on it, and every
// image when no placement is passed (as before ship() knew placement).
import assert from "node:assert/strict";
import { it } from "node:test";
import type { AppImage } from "../../src/build/image.ts";
import { imagesFor } from "../../src/ship/ship.ts";

const img = (app: string): AppImage => ({ app, runtime: "process", ref: `artifact ${app}`, id: `artifact:${app}`, built: false });
const images = [img("web"), img("worker"), img("cron")];
const names = (xs: AppImage[]) => xs.map((x) => x.app);

it("a machine gets the images of the apps placed on it; an app the targets do not name goes everywhere", () => {
  const targets = new Map([["web", new Set(["m1", "m2"])], ["worker", new Set(["m3"])]]);
  assert.deepEqual(names(imagesFor("m1", images, targets)), ["web", "cron"]);
  assert.deepEqual(names(imagesFor("m3", images, targets)), ["worker", "cron"]);
  assert.deepEqual(names(imagesFor("m4", images, new Map([["web", new Set<string>()]]))), ["worker", "cron"], "placed nowhere: sent nowhere");
  assert.deepEqual(names(imagesFor("m9", images)), ["web", "worker", "cron"], "no targets: every machine gets every image");
});

it("the ship's gate lets `limit` streams run at once and the rest wait their turn", async () => {
  const { limiter } = await import("../../src/lib/parallel.ts");
  const gate = limiter(3);
  let now = 0;
  let most = 0;
  const done = await Promise.all(Array.from({ length: 10 }, (_, i) => gate(async () => {
    most = Math.max(most, ++now);
    await new Promise((r) => setTimeout(r, 5));
    now--;
    return i;
  })));
  assert.equal(most, 3);
  assert.deepEqual(done, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
