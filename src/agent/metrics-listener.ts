// /metrics over HTTP on the machine's private address, for a Prometheus the
// project names (skiff.yml `metrics: { listen: true, allow: [...] }`). Off
// unless a project asks; the firewall (firewall-rules.ts) lets only the listed
// addresses reach the port. GET /metrics only: the last sample's exposition.
import { createServer, type Server } from "node:http";
import { CONTENT_TYPE, exposition } from "../metrics/exposition.ts";
import type { MetricsSampler } from "./metrics-sampler.ts";

export interface Endpoint {
  address: string;
  port: number;
}

const key = (e: Endpoint) => `${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}`;

export class MetricsListener {
  private readonly servers = new Map<string, Server>();

  constructor(
    private readonly sampler: MetricsSampler,
    private readonly log: (s: string) => void,
  ) {}

  /** Listens on exactly these endpoints (opens the new, closes the gone). A port that cannot be bound is logged
   *  and reported; the others still serve. */
  async set(endpoints: Endpoint[]): Promise<string[]> {
    const want = new Map(endpoints.map((e) => [key(e), e]));
    for (const [k, s] of this.servers) if (!want.has(k)) (s.close(), this.servers.delete(k), this.log(`metrics: stopped listening on ${k}`));
    const problems: string[] = [];
    for (const [k, e] of want) {
      if (this.servers.has(k)) continue;
      try {
        this.servers.set(k, await this.open(e));
        this.log(`metrics: /metrics on http://${k}`);
      } catch (err) {
        problems.push(`cannot listen on ${k}: ${(err as Error).message}`);
        this.log(`metrics: cannot listen on ${k}: ${(err as Error).message}`);
      }
    }
    return problems;
  }

  listening(): string[] {
    return [...this.servers.keys()];
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }

  private open(e: Endpoint): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
        return;
      }
      this.sampler.current().then(
        (s) => res.writeHead(200, { "content-type": CONTENT_TYPE }).end(exposition(s)),
        (err: Error) => res.writeHead(503, { "content-type": "text/plain" }).end(`no sample: ${err.message}\n`),
      );
    });
    // A scraper holds its connection open between scrapes; short timeouts keep idle sockets from piling up.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(e.port, e.address, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }
}
