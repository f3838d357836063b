// Packet capture for e2e tests: tcpdump on the host, on the bed network's bridge
// (machine-to-machine traffic crosses it), and a reader for the pcap file it
// writes: TCP payloads by port, so a test can look for a string in them.
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Linux bridge behind a Docker network: br- and the first 12 characters of its id. */
export function bridgeOf(network: string): string {
  return `br-${execFileSync("/usr/bin/docker", ["network", "inspect", "--format", "{{.Id}}", network], { encoding: "utf8" }).trim().slice(0, 12)}`;
}

export interface Capture {
  /** Stops tcpdump and reads what it wrote. */
  stop(): Promise<Segment[]>;
}

export interface Segment {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Buffer;
}

/** Starts tcpdump on an interface with a filter; resolves once it listens. */
export async function startCapture(iface: string, filter: string): Promise<Capture> {
  const file = join(mkdtempSync(join(tmpdir(), "skiff-pcap-")), "cap.pcap");
  // Immediate mode: without it, packets still in the kernel ring when tcpdump is stopped are never written. Root
  // (-Z root): the file is in a directory of ours that the tcpdump user could not write to.
  const p = spawn("tcpdump", ["-i", iface, "-n", "-s", "0", "--immediate-mode", "-U", "-Z", "root", "-w", file, filter], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  await new Promise<void>((resolve, reject) => {
    p.stderr.on("data", (b: Buffer) => {
      err += b;
      if (/listening on/.test(err)) resolve();
    });
    p.on("exit", (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)));
  });
  return {
    stop: async () => {
      const done = new Promise((r) => p.on("exit", r));
      p.kill("SIGINT");
      await done;
      return readPcap(readFileSync(file));
    },
  };
}

/** TCP over IPv4 over Ethernet, from a classic pcap file (what tcpdump -w writes). */
export function readPcap(buf: Buffer): Segment[] {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error("not a pcap file");
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error(`link type ${u32(20)}, not Ethernet`);
  const out: Segment[] = [];
  for (let o = 24; o + 16 <= buf.length; ) {
    const len = u32(o + 8);
    const pkt = buf.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    if (pkt.length < 14 || pkt.readUInt16BE(12) !== 0x0800) continue;
    const ip = pkt.subarray(14);
    if (ip[9] !== 6) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const total = ip.readUInt16BE(2);
    const tcp = ip.subarray(ihl, total);
    const off = (tcp[12]! >> 4) * 4;
    out.push({ src: [...ip.subarray(12, 16)].join("."), dst: [...ip.subarray(16, 20)].join("."), sport: tcp.readUInt16BE(0), dport: tcp.readUInt16BE(2), payload: Buffer.from(tcp.subarray(off)) });
  }
  return out;
}
