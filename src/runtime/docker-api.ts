// A small client for the Docker Engine API over its unix socket. Env values go
// in the JSON body: never in argv, and no clash with the docker CLI's own env.
import { request } from "node:http";

export class DockerError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class DockerApi {
  constructor(readonly socketPath = process.env.DOCKER_SOCKET || "/var/run/docker.sock") {}

  raw(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; data: Buffer }> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({ socketPath: this.socketPath, method, path, headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`docker API ${method} ${path} timed out`)));
      req.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" || e.code === "ECONNREFUSED" ? new DockerError(`Docker Engine is not running (${this.socketPath}: ${e.code})`, 0) : e));
      req.end(payload);
    });
  }

  async json<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const { status, data } = await this.raw(method, path, body, timeoutMs);
    if (status >= 400) {
      let msg = data.toString();
      try {
        msg = (JSON.parse(msg) as { message: string }).message;
      } catch {}
      throw new DockerError(`docker: ${msg.trim()}`, status);
    }
    return (data.length ? JSON.parse(data.toString()) : undefined) as T;
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.json<{ Id: string }>("GET", `/images/${encodeURIComponent(ref)}/json`)).Id;
    } catch (e) {
      if (e instanceof DockerError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** Demultiplexed stdout+stderr, last `tail` lines. */
  async logs(id: string, tail = 50): Promise<string> {
    const { status, data } = await this.raw("GET", `/containers/${encodeURIComponent(id)}/logs?stdout=1&stderr=1&tail=${tail}&timestamps=0`);
    if (status >= 400) return "";
    const out: Buffer[] = [];
    let i = 0;
    // Without a TTY each frame is: stream (1 byte), 3 zero bytes, size (uint32 BE), payload.
    while (i + 8 <= data.length && data[i + 1] === 0 && data[i + 2] === 0 && data[i + 3] === 0) {
      const size = data.readUInt32BE(i + 4);
      out.push(data.subarray(i + 8, i + 8 + size));
      i += 8 + size;
    }
    return (i === 0 ? data : Buffer.concat(out)).toString("utf8");
  }
}
