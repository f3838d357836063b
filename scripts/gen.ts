// Writes the files generated from the schema. A unit test fails when they are stale.
import { writeFileSync } from "node:fs";
import { jsonSchema, jsonSchemaText } from "../src/config/json-schema.ts";
import { configReference } from "../src/config/reference.ts";

const root = new URL("..", import.meta.url).pathname;
writeFileSync(`${root}schema/skiff.schema.json`, jsonSchemaText());
writeFileSync(`${root}docs/config.md`, configReference(jsonSchema() as never));
console.log("wrote schema/skiff.schema.json and docs/config.md");
