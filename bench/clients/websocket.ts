// A tiny WebSocket client (RFC 6455 by hand: Node 20 has no WebSocket built in)
// for the app's /ws: reads the greeting ("hello from VERSION"), sends a text
// message every 200 ms and counts the echoes, and tells how the session ended.
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import type { Socket } from "node:net";
import { sessionRecord, type SessionOutcome } from "./sessions.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A client frame: always masked (RFC 6455 §5.3), short payloads only. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error("the bench's WebSocket client sends short frames only");
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | body.length]), mask, body]);
}

/** Server frames out of a buffer: [complete frames, rest]. */
function serverFrames(buf: Buffer): [{ opcode: number; payload: Buffer }[], Buffer] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  for (;;) {
    if (buf.length < 2) break;
    let len = buf[1]! & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    if (buf.length < at + len) break;
    frames.push({ opcode: buf[0]! & 0x0f, payload: buf.subarray(at, at + len) });
    buf = buf.subarray(at + len);
  }
  return [frames, buf];
}

export function openWebSocket(baseUrl: string, signal: AbortSignal): Promise<SessionOutcome> {
  return new Promise((resolve) => {
    const s = sessionRecord(resolve);
    const key = randomBytes(16).toString("base64");
    const req = request(new URL("ws", baseUrl), { agent: false, headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13" } });
    req.on("response", (res) => {
      res.resume();
      s.finish("refused", `HTTP ${res.statusCode} instead of 101`);
    });
    req.on("error", (e: NodeJS.ErrnoException) => s.finish("refused", e.code ?? e.message));
    req.on("upgrade", (res, socket: Socket, head: Buffer) => {
      const want = createHash("sha1").update(key + GUID).digest("base64");
      if (res.headers["sec-websocket-accept"] !== want) {
        socket.destroy();
        return s.finish("refused", "bad Sec-WebSocket-Accept");
      }
      let buf = head;
      let serverClosed = false;
      let weClosed = false;
      let error: string | undefined;
      let n = 0;
      let echoes = 0;
      const tick = setInterval(() => socket.write(clientFrame(0x1, Buffer.from(`ping ${++n}`))), 200);
      const onAbort = () => {
        weClosed = true;
        clearInterval(tick);
        socket.write(clientFrame(0x8, Buffer.from([0x03, 0xe8]))); // 1000 normal closure
        setTimeout(() => socket.destroy(), 1000).unref();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      socket.on("data", (chunk: Buffer) => {
        const [frames, rest] = serverFrames(Buffer.concat([buf, chunk]));
        buf = rest;
        for (const f of frames) {
          if (f.opcode === 0x1) {
            const text = f.payload.toString();
            if (s.version === undefined) s.version = /^hello from (\S+)/.exec(text)?.[1] ?? "?";
            else echoes++;
          } else if (f.opcode === 0x8) {
            serverClosed = true;
            clearInterval(tick);
            // Answer the server's close (unless we started the closing), then the server ends TCP.
            if (!weClosed) socket.write(clientFrame(0x8, f.payload.subarray(0, 2)));
            socket.end();
          }
        }
      });
      socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      socket.on("close", () => {
        clearInterval(tick);
        signal.removeEventListener("abort", onAbort);
        if (weClosed) s.finish("stopped");
        else if (serverClosed) s.finish("clean", `${echoes} echoes`);
        else s.finish("reset", `connection ended without a close frame after ${echoes} echoes${error ? ` (${error})` : ""}`);
      });
    });
    req.end();
  });
}
