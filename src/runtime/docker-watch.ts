// Which skiff containers are known to be running without asking Docker again.
// The supervisor asks for every instance's status once per health interval; an
// inspect through the Engine API is an HTTP request each time. While this
// watch holds the Engine's event stream open, a container inspected as
// running stays running until an event about some skiff container's state
// arrives (start, die, kill, oom, stop, pause, destroy …): then everything
// known is forgotten and the next status inspects again. No stream (no Docker,
// the daemon restarted, the connection dropped): nothing is known, every
// status inspects, and the stream is tried again a few seconds later.
import { request, type ClientRequest } from "node:http";
import type { InstanceStatus } from "./types.ts";

/** Events that can change whether a container runs (not exec_* or health_status, which healthchecks send all the time). */
const STATE_EVENTS = ["create", "start", "restart", "die", "kill", "oom", "stop", "pause", "unpause", "destroy", "rename", "update"];
const RETRY_MS = 5000;

export class DockerWatch {
  private req?: ClientRequest;
  private live = false;
  private triedAt = -Infinity;
  /** Bumped by every event and every (dis)connection: an inspect answered across one is not remembered. */
  private epoch = 0;
  private readonly running = new Map<string, InstanceStatus>();
  /** Told the containers that were known to run whenever that knowledge is dropped (an event, the stream lost):
   *  the supervisor looks at them again (see Runtime.exitsWatched). */
  onForget?: (names: string[]) => void;

  constructor(
    private readonly socketPath: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The status of a container inspected as running, while nothing has happened to any container since. */
  known(name: string): InstanceStatus | undefined {
    this.connect();
    return this.live ? this.running.get(name) : undefined;
  }

  /** Taken before an inspect, handed to `remember` with its answer. */
  mark(): number {
    return this.epoch;
  }

  remember(name: string, s: InstanceStatus, mark: number): void {
    if (this.live && s.running && mark === this.epoch) this.running.set(name, s);
  }

  /** Whether the event stream is open (tests wait for it). */
  get watching(): boolean {
    return this.live;
  }

  /** After the agent's own start, stop, restart or remove: its event may still be on its way. */
  forget(): void {
    this.epoch++;
    this.drop();
  }

  private drop(): void {
    const names = [...this.running.keys()];
    this.running.clear();
    if (names.length) this.onForget?.(names);
  }

  close(): void {
    this.req?.destroy();
    this.lost();
  }

  private lost(): void {
    this.live = false;
    this.req = undefined;
    this.epoch++;
    this.drop();
  }

  private connect(): void {
    if (this.req || this.now() - this.triedAt < RETRY_MS) return;
    this.triedAt = this.now();
    const filters = JSON.stringify({ type: ["container"], event: STATE_EVENTS, label: ["skiff.managed=1"] });
    const req = request({ socketPath: this.socketPath, method: "GET", path: `/events?filters=${encodeURIComponent(filters)}`, agent: false }, (res) => {
      if (res.statusCode !== 200) return void req.destroy();
      this.live = true;
      this.epoch++;
      res.on("data", () => {
        this.epoch++;
        this.drop();
      });
      res.on("error", () => {});
      res.on("close", () => this.req === req && this.lost());
    });
    req.on("error", () => {});
    req.on("close", () => this.req === req && this.lost());
    req.on("socket", (s) => s.unref()); // the agent's stop must not wait for Docker's stream
    req.end();
    this.req = req;
  }
}
