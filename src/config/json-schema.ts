// The committed JSON Schema (schema/skiff.schema.json) comes from the zod schema.
import { z } from "zod";
import { Config } from "./schema.ts";

export function jsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(Config, { io: "input", target: "draft-7" }), $id: "https://skiff.dev/schema/skiff.schema.json" } as Record<string, unknown>;
}

export function jsonSchemaText(): string {
  return JSON.stringify(jsonSchema(), null, 2) + "\n";
}
