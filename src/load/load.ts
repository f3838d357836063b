// A bounded load client for tests and benchmarks: N workers, keep-alive fetch
// (undici) or fresh connections, against loopback URLs only. Records every
// failure with its time, so a test can say what failed and when.
export interface LoadResult {
  requests: number;
  failures: number;
  /** First failures, for messages: seconds since start, status or error, body start. */
  samples: { t: number; what: string }[];
  byStatus: Record<string, number>;
  versions: Record<string, number>;
}

export interface LoadOptions {
  urls: string[];
  concurrency?: number;
  /** Other hosts a caller vouches for (tests: the test bed's own machines). */
  alsoAllow?: (host: string) => boolean;
  /** Stop after this long, or when stop() is called. */
  maxMs?: number;
  /** How one request is made (default: fetch). Tests of HTTPS pass theirs: a test CA and a server name. */
  get?: (url: string) => Promise<{ status: number; body: string; version?: string }>;
}

const fetchGet = async (url: string) => {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text(), version: r.headers.get("x-version") ?? undefined };
};

export function startLoad(opts: LoadOptions): { stop: () => Promise<LoadResult> } {
  for (const u of opts.urls) {
    const host = new URL(u).hostname;
    if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host) && !opts.alsoAllow?.(host)) throw new Error(`load only goes to loopback, not ${host}`);
  }
  const started = Date.now();
  const res: LoadResult = { requests: 0, failures: 0, samples: [], byStatus: {}, versions: {} };
  let running = true;
  const limit = setTimeout(() => (running = false), opts.maxMs ?? 120_000);
  const fail = (what: string) => {
    res.failures++;
    res.byStatus[what.split(":")[0]!] = (res.byStatus[what.split(":")[0]!] ?? 0) + 1;
    if (res.samples.length < 20) res.samples.push({ t: (Date.now() - started) / 1000, what });
  };
  const worker = async (n: number) => {
    let i = n;
    while (running) {
      const url = opts.urls[i++ % opts.urls.length]!;
      try {
        const r = await (opts.get ?? fetchGet)(url);
        res.requests++;
        if (r.status >= 400) fail(`${r.status}: ${r.body.slice(0, 60).replace(/\s+/g, " ")}`);
        else {
          const v = r.version ?? "?";
          res.versions[v] = (res.versions[v] ?? 0) + 1;
        }
      } catch (e) {
        res.requests++;
        fail(`error: ${((e as Error).cause as Error)?.message ?? (e as Error).message}`);
      }
    }
  };
  const workers = Array.from({ length: opts.concurrency ?? 8 }, (_, n) => worker(n));
  return {
    stop: async () => {
      running = false;
      clearTimeout(limit);
      await Promise.all(workers);
      return res;
    },
  };
}
