// The Docker runtime's status with the Engine's event stream (docker-watch.ts),
// against a stand-in Engine API on a real unix socket: a running container is
// inspected once while the stream is quiet; an event, or the agent's own stop,
// makes the next status ask again; without a stream every status asks, and the
// stream is tried again a few seconds later.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DockerApi } from "../../src/runtime/docker-api.ts";
import { DockerRuntime } from "../../src/runtime/docker.ts";
import { DockerWatch } from "../../src/runtime/docker-watch.ts";

const dir = mkdtempSync(join(tmpdir(), "skiff-docker-watch-"));
const sock = join(dir, "docker.sock");
const engine = { running: true, inspects: 0, streams: [] as ServerResponse[], eventPaths: [] as string[] };
const server = createServer((req, res) => {
  const url = req.url ?? "";
  if (url.startsWith("/events")) {
    engine.eventPaths.push(decodeURIComponent(url));
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    engine.streams.push(res);
    return;
  }
  if (req.method === "GET" && url === "/containers/c1/json") {
    engine.inspects++;
    const State = { Running: engine.running, ExitCode: engine.running ? 0 : 3, OOMKilled: false, StartedAt: "2026-01-01T00:00:00Z", FinishedAt: "2026-01-01T00:01:00Z", Status: engine.running ? "running" : "exited" };
    return void res.end(JSON.stringify({ State }));
  }
  if (req.method === "POST" && url.startsWith("/containers/c1/stop")) {
    engine.running = false;
    res.writeHead(204);
    return void res.end();
  }
  res.writeHead(404);
  res.end(JSON.stringify({ message: "no such thing" }));
});
before(() => new Promise<void>((r) => server.listen(sock, r)));
after(() => {
  for (const s of engine.streams) s.destroy();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await sleep(10);
  assert.ok(f(), what);
}
let clock = 0;
const fresh = async () => {
  engine.running = true;
  engine.inspects = 0;
  const rt = new DockerRuntime(new DockerApi(sock), new DockerWatch(sock, () => clock));
  assert.equal((await rt.status("c1")).running, true);
  await until("the event stream open", () => rt.watch.watching);
  return rt;
};

describe("docker status with the event stream", () => {
  it("a running container is inspected once while the stream is quiet; an event makes the next status ask again", async () => {
    const rt = await fresh();
    assert.match(engine.eventPaths.at(-1)!, /"type":\["container"\]/);
    assert.match(engine.eventPaths.at(-1)!, /"die"/);
    for (let i = 0; i < 5; i++) assert.equal((await rt.status("c1")).running, true);
    assert.equal(engine.inspects, 2, "the first answer (before the stream was open) and one after");
    engine.running = false;
    engine.streams.at(-1)!.write(`${JSON.stringify({ Type: "container", Action: "die", Actor: { Attributes: { name: "c1" } } })}\n`);
    await sleep(50);
    const s = await rt.status("c1");
    assert.deepEqual([s.running, s.exitCode], [false, 3]);
    assert.equal(engine.inspects, 3);
    rt.watch.close();
  });

  it("exits as events: a container seen running is watched while the stream is open; an event tells the supervisor its name", async () => {
    const rt = await fresh();
    const told: string[] = [];
    rt.watchExits((name) => told.push(name));
    await rt.status("c1"); // seen running with the stream open
    assert.equal(rt.exitsWatched("c1"), true);
    assert.equal(rt.exitsWatched("c2"), false, "never seen running: looked at as before");
    engine.running = false;
    engine.streams.at(-1)!.write(`${JSON.stringify({ Type: "container", Action: "die", Actor: { Attributes: { name: "c1" } } })}\n`);
    await until("the event told", () => told.length > 0);
    assert.deepEqual(told, ["c1"]);
    assert.equal(rt.exitsWatched("c1"), false, "after the event it is looked at again");
    assert.equal((await rt.status("c1")).running, false);
    // The stream lost: nothing is watched any more, and what was known is told again.
    engine.running = true;
    await rt.status("c1");
    await until("seen running again", () => rt.exitsWatched("c1"));
    engine.streams.at(-1)!.destroy();
    await until("the loss told", () => told.length === 2);
    assert.equal(rt.exitsWatched("c1"), false);
    rt.watch.close();
  });

  it("the agent's own stop is seen by the next status, before any event", async () => {
    const rt = await fresh();
    await rt.status("c1");
    await rt.stop("c1", 1);
    assert.equal((await rt.status("c1")).running, false);
    rt.watch.close();
  });

  it("without the stream every status asks; the stream is tried again 5 s later", async () => {
    const rt = await fresh();
    engine.streams.at(-1)!.end();
    await until("the stream closed", () => !rt.watch.watching);
    const before = engine.inspects;
    for (let i = 0; i < 3; i++) await rt.status("c1");
    assert.equal(engine.inspects, before + 3);
    const streams = engine.streams.length;
    clock += 5000;
    await rt.status("c1");
    await until("a new stream", () => rt.watch.watching && engine.streams.length === streams + 1);
    rt.watch.close();
  });
});
