// Long operations (activations) run as jobs inside the agent, so a dropped SSH
// connection or a killed CLI never stops one half-way.
import { randomUUID } from "node:crypto";

interface Job {
  /** What started it (method and parameters): the same start again is a replay, not another job. */
  what?: string;
  done: boolean;
  result?: unknown;
  error?: string;
  waiters: (() => void)[];
}

export class Jobs {
  private jobs = new Map<string, Job>();

  /** Starts fn as a job; `id`, when the caller chose it (its first wait then goes with the start, in one round
   *  trip), must be new, unless `what` (the method and its parameters) is the same as the job's of that id: a
   *  start sent again after its connection dropped (the caller never heard that it arrived) is that job, and
   *  fn does not run twice. Another start under a job's id is refused. */
  start(fn: () => Promise<unknown>, id: string = randomUUID(), what?: string): string {
    const had = this.jobs.get(id);
    if (had && (what === undefined || had.what !== what)) throw new Error(`job ${id} exists already`);
    if (had) return id;
    const job: Job = { what, done: false, waiters: [] };
    this.jobs.set(id, job);
    fn().then(
      (r) => (job.result = r),
      (e: Error) => (job.error = e.message),
    ).finally(() => {
      job.done = true;
      job.waiters.splice(0).forEach((w) => w());
      setTimeout(() => this.jobs.delete(id), 3_600_000).unref();
    });
    return id;
  }

  /** Waits up to timeoutMs; `done: false` means ask again. */
  async wait(id: string, timeoutMs: number): Promise<{ done: boolean; result?: unknown; error?: string }> {
    const job = this.jobs.get(id);
    if (!job) return { done: true, error: `unknown job ${id} (the agent restarted?)` };
    if (!job.done) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        job.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
    return { done: job.done, result: job.result, error: job.error };
  }
}
