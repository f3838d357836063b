// skiff init: a commented starter skiff.yml, plus the JSON Schema beside it for editors.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "../errors.ts";
import { jsonSchemaText } from "../config/json-schema.ts";
import { CONFIG_FILE } from "../config/load.ts";

export function starter(project: string): string {
  return `# yaml-language-server: $schema=.skiff/skiff.schema.json
# skiff.yml: what runs where. Reference: docs/config.md in the skiff repository.
project: ${project}

machines:
  web1:
    host: 203.0.113.10          # address or ~/.ssh/config host; "local" = this machine
    # port: 22
    # user: root                # or a user with passwordless sudo
    # labels: [web]
    # private_address: 10.0.0.10

apps:
  web:
    image: nginx:1.27           # or: build: { context: . }
    port: 80                    # the port the app listens on inside its instance
    instances: 2
    health:
      path: /                   # must answer 2xx/3xx when ready
      deadline: 60s
    routes:
      - host: example.com
    env:
      LOG_LEVEL: info

# environments:
#   staging:
#     machines:
#       stage1: { host: 203.0.113.20 }
#     apps:
#       web: { instances: 1 }
`;
}

export function initCommand(opts: { force?: boolean; dir?: string }): void {
  const dir = resolve(opts.dir ?? ".");
  const file = join(dir, CONFIG_FILE);
  if (existsSync(file) && !opts.force) throw new UserError(`${file} already exists`, { hint: "pass --force to overwrite it" });
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").slice(0, 63) || "app";
  mkdirSync(join(dir, ".skiff"), { recursive: true });
  writeFileSync(join(dir, ".skiff", "skiff.schema.json"), jsonSchemaText());
  writeFileSync(file, starter(name));
  process.stdout.write(`wrote ${file} and .skiff/skiff.schema.json\nnext: edit machines and apps, then run \`skiff validate\` and \`skiff machines trust\`\n`);
}
