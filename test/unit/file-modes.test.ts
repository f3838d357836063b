// Templated files may hold secrets: without a mode they are 0600 on the machine
// (owned by the app's user, so the app still reads them); plain files 0644.
import assert from "node:assert/strict";
import { it } from "node:test";
import { checkConfig } from "../../src/config/load.ts";

it("a templated file defaults to 0600, a plain one to 0644, an explicit mode wins", () => {
  const text = `project: shop
machines:
  web1: { host: 10.0.0.1 }
apps:
  web:
    run: node server.js
    files:
      app.env: { source: app.env, template: true }
      plain.txt: plain.txt
      open.env: { source: open.env, template: true, mode: "0640" }
`;
  const { project, diagnostics } = checkConfig(text, "skiff.yml");
  assert.deepEqual(diagnostics, []);
  const modes = Object.fromEntries(project!.apps.web!.files.map((f) => [f.path, f.mode.toString(8)]));
  assert.deepEqual(modes, { "app.env": "600", "plain.txt": "644", "open.env": "640" });
});
