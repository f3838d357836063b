// Delivering one alert event to one receiver: a webhook (HTTP POST of JSON, or
// Slack's {"text"} shape) or a command (argv, the JSON on stdin). Delivered
// means a 2xx answer or exit 0; anything else is retried by the caller later.
// The receiver's URL may hold a token (Slack's does): it is never logged or put
// in an error; errors name the host only.
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AlertEvent, AlertReceiver } from "../contracts/alerts.ts";
import { alertPayload, slackText } from "../alerts/message.ts";

export interface SendContext {
  project: string;
  environment?: string;
}

const TIMEOUT_MS = 10_000;

export async function sendAlert(r: AlertReceiver, e: AlertEvent, ctx: SendContext): Promise<void> {
  const body = JSON.stringify(alertPayload(e, ctx));
  if (r.kind === "command") return runCommand(r.argv, body, e);
  const url = new URL(r.url);
  const data = r.format === "slack" ? JSON.stringify({ text: slackText(e, ctx) }) : body;
  const where = `${url.protocol}//${url.host}`;
  await new Promise<void>((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { method: "POST", timeout: TIMEOUT_MS, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), "user-agent": "skiff-agent" } },
      (res) => {
        let got = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (got.length < 300 ? (got += c) : undefined));
        res.on("end", () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve();
          else reject(new Error(`${where} answered ${code}${got.trim() ? `: ${got.trim().slice(0, 200)}` : ""}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${where} did not answer in ${TIMEOUT_MS / 1000} s`)));
    req.on("error", (err: NodeJS.ErrnoException) => reject(new Error(`${where}: ${err.code ?? err.message}`)));
    req.end(data);
  });
}

function runCommand(argv: string[], body: string, e: AlertEvent): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["pipe", "ignore", "pipe"],
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", SKIFF_ALERT_STATUS: e.status, SKIFF_ALERT_RULE: e.key.split("/")[0]!, SKIFF_ALERT_KEY: e.key, SKIFF_ALERT_SUMMARY: e.summary },
      timeout: 30_000,
    });
    let err = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => (err.length < 500 ? (err += c) : undefined));
    child.on("error", (x: NodeJS.ErrnoException) => reject(new Error(`${argv[0]}: ${x.code ?? x.message}`)));
    child.on("close", (code, signal) => (code === 0 ? resolve() : reject(new Error(`${argv[0]} ${signal ? `killed by ${signal}` : `exited with ${code}`}${err.trim() ? `: ${err.trim().split("\n").slice(-3).join(" | ")}` : ""}`))));
    child.stdin.on("error", () => {});
    child.stdin.end(body);
  });
}
