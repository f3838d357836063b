// skiff.yml's `metrics`: off unless `listen: true`; defaults; an environment
// replaces it whole; addresses that are not addresses, instance ports, a port
// HAProxy takes and machines without a private address are refused with the line.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/errors.ts";

const base = `project: shop
machines:
  web1: { host: 10.0.0.1, private_address: 192.168.1.10 }
apps:
  web:
    image: nginx:1.27
`;
const lines = (text: string, env?: string) => checkConfig(text, "skiff.yml", env).diagnostics.map(formatDiagnostic);

describe("config: metrics", () => {
  it("absent or listen: false → not served over HTTP; listen: true → port 9465 by default", () => {
    assert.equal(checkConfig(base, "skiff.yml").project!.metrics, undefined);
    assert.equal(checkConfig(`${base}metrics: { listen: false, allow: [10.0.0.5] }\n`, "skiff.yml").project!.metrics, undefined);
    assert.deepEqual(checkConfig(`${base}metrics: { listen: true, allow: [10.0.0.5, 10.0.0.5, "fd00::5"] }\n`, "skiff.yml").project!.metrics, { port: 9465, allow: ["10.0.0.5", "fd00::5"] });
  });

  it("an environment's metrics replaces the base one", () => {
    const text = `${base}metrics: { listen: true, allow: [10.0.0.5] }\nenvironments:\n  prod:\n    metrics: { listen: true, port: 9100, allow: [10.9.0.1] }\n  dev:\n    metrics: { listen: false }\n`;
    assert.deepEqual(checkConfig(text, "skiff.yml", "prod").project!.metrics, { port: 9100, allow: ["10.9.0.1"] });
    assert.equal(checkConfig(text, "skiff.yml", "dev").project!.metrics, undefined);
  });

  it("refuses what is not an address, an instance port, the HTTP port, and listen without private addresses", () => {
    assert.match(lines(`${base}metrics: { listen: true, allow: [10.0.0.0/8] }\n`).join("\n"), /skiff\.yml:7:\d+.*must be an IPv4 or IPv6 address/);
    assert.match(lines(`${base}metrics: { listen: true, allow: ["10.0.0.1; flush ruleset"] }\n`).join("\n"), /must be an IPv4 or IPv6 address/);
    assert.match(lines(`${base}metrics: { listen: true, port: 20001 }\n`).join("\n"), /outside 20000–29999/);
    assert.match(lines(`${base}metrics: { listen: true, port: 80 }\n`).join("\n"), /metrics\.port 80 is machine "web1"'s http_port/);
    assert.match(lines(`project: shop\nmachines:\n  web1: { host: 10.0.0.1 }\nmetrics: { listen: true }\n`).join("\n"), /metrics\.listen needs machines with a private_address/);
    assert.match(lines(`${base}metrics: { listen: true, alow: [] }\n`).join("\n"), /alow.*did you mean "allow"|"allow"/);
  });
});
