// Writes docs/api.md from the API's declarations. A unit test fails when it is stale.
import { writeFileSync } from "node:fs";
import { apiReference } from "./api-reference.ts";

writeFileSync(new URL("../docs/api.md", import.meta.url), apiReference());
console.log("wrote docs/api.md");
