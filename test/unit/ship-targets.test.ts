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
