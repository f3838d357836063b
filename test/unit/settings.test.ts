// Host settings: SKIFF_AGE_KEY leaves this process's environment when skiff loads (nothing it starts
// inherits it), counts for settings read from process.env, and not for a Skiff given an environment of its own.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("SKIFF_AGE_KEY: out of process.env, kept for process settings only", () => {
  const script = `
    const { settingsFromEnv } = await import(${JSON.stringify(new URL("../../src/settings.ts", import.meta.url).href)});
    console.log(JSON.stringify({
      inEnv: "SKIFF_AGE_KEY" in process.env,
      fromProcess: settingsFromEnv(process.env).ageKey ?? null,
      fromOwn: settingsFromEnv({}).ageKey ?? null,
      fromGiven: settingsFromEnv({ SKIFF_AGE_KEY: " other " }).ageKey ?? null,
    }));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, SKIFF_AGE_KEY: "AGE-SECRET-KEY-TEST" }, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { inEnv: false, fromProcess: "AGE-SECRET-KEY-TEST", fromOwn: null, fromGiven: "other" });
});
