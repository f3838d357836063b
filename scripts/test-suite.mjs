// The whole suite in two runs of node's test runner at once: the unit tests (two files at a time; they need no
// test bed) beside the end-to-end tests (one file at a time: they share the bed). The unit run's report is printed
// after the e2e run's, then one summary of both in the runner's own words (its closing `ℹ` lines, added up), so a
// reader of the last lines sees every test. Exit code: non-zero when either run failed.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";

const files = (dir) => readdirSync(dir).filter((f) => f.endsWith(".test.ts")).sort().map((f) => `${dir}/${f}`);

function run(args, live) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const take = (stream, to) =>
      child[stream].on("data", (b) => {
        out += b;
        if (live) to.write(b);
      });
    take("stdout", process.stdout);
    take("stderr", process.stderr);
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

const KEYS = ["tests", "suites", "pass", "fail", "cancelled", "skipped", "todo", "duration_ms"];
/** The runner's closing lines (`ℹ pass 12`), as numbers. */
function summary(out) {
  const s = {};
  for (const line of out.split("\n")) {
    const m = /^ℹ (\w+) ([\d.]+)$/.exec(line.trim());
    if (m && KEYS.includes(m[1])) s[m[1]] = Number(m[2]);
  }
  return s;
}

const started = Date.now();
const [e2e, unit] = await Promise.all([run(["--test-concurrency=1", ...files("test/e2e")], true), run(["--test-concurrency=2", ...files("test/unit")], false)]);
process.stdout.write("\n# unit tests (run beside the end-to-end tests)\n" + unit.out);
const a = summary(e2e.out);
const b = summary(unit.out);
process.stdout.write("\n# the whole suite: end-to-end and unit tests together\n");
for (const k of KEYS) {
  const v = k === "duration_ms" ? Date.now() - started : (a[k] ?? 0) + (b[k] ?? 0);
  process.stdout.write(`ℹ ${k} ${v}\n`);
}
process.exit(e2e.code !== 0 || unit.code !== 0 ? 1 : 0);
