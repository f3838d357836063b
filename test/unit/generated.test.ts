// Files generated from the schema must be current: run `npm run gen` when this fails.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { jsonSchema, jsonSchemaText } from "../../src/config/json-schema.ts";
import { configReference } from "../../src/config/reference.ts";

const root = new URL("../../", import.meta.url);

describe("generated files", () => {
  it("schema/skiff.schema.json is current (npm run gen)", () => {
    assert.equal(readFileSync(new URL("schema/skiff.schema.json", root), "utf8"), jsonSchemaText());
  });
  it("docs/config.md is current (npm run gen)", () => {
    assert.equal(readFileSync(new URL("docs/config.md", root), "utf8"), configReference(jsonSchema() as never));
  });
  it("the JSON Schema rejects unknown keys, like the loader", () => {
    const s = jsonSchema() as { additionalProperties?: boolean; properties: Record<string, unknown> };
    assert.equal(s.additionalProperties, false);
    assert.deepEqual(Object.keys(s.properties), ["project", "machines", "apps", "accessories", "env", "secrets", "metrics", "alerts", "acme", "environments"]);
  });
});
