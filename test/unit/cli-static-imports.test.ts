// What every command loads before it does anything: the CLI's static import graph (what esbuild puts in front of
// the first dynamic import). Big libraries that only some commands need stay out of it: zod (the config's schema,
// loaded on a checked-project cache miss; the RPC contracts), age, yaml, the ACME and x509 code.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { build } from "esbuild";

async function staticGraph(entry: string): Promise<Map<string, string | null>> {
  const r = await build({
    bundle: true, platform: "node", entryPoints: { cli: entry }, outdir: "/nonexistent", splitting: true, format: "esm", target: "node20",
    external: ["esbuild"], metafile: true, write: false, logLevel: "silent", define: { __SKIFF_VERSION__: '"0"', __SKIFF_BUILD__: '"0"' },
  });
  const inputs = r.metafile.inputs;
  const from = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  while (queue.length) {
    const f = queue.shift()!;
    for (const i of inputs[f]?.imports ?? []) {
      if (i.kind !== "import-statement" || from.has(i.path)) continue;
      from.set(i.path, f);
      queue.push(i.path);
    }
  }
  return from;
}

const chain = (from: Map<string, string | null>, f: string) => {
  const out: string[] = [];
  for (let x: string | null | undefined = f; x; x = from.get(x)) out.unshift(x);
  return out.join(" → ");
};

describe("the CLI's static imports", () => {
  it("hold no zod, age, yaml, acme-client or x509 library: each is imported where a command needs it", async () => {
    const from = await staticGraph("src/cli/main.ts");
    assert.ok(from.size > 20 && from.has("src/cli/context.ts"), `the graph was read: ${from.size} modules`);
    for (const lib of ["zod", "age-encryption", "yaml", "acme-client", "@peculiar/x509"]) {
      const hit = [...from.keys()].find((k) => k.includes(`node_modules/${lib}/`));
      assert.equal(hit, undefined, hit && `${lib} is loaded by every command: ${chain(from, hit)}`);
    }
  });
});
