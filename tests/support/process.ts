// Test support (reference instance as an operator runs it): `bin/smcp.js serve` as a separate process on a fixed
// loopback port, so it can be killed with SIGKILL and restarted from the same data directory.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent } from "undici";
import { sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import type { InstanceConfig } from "../../reference-impl/config.ts";

const BIN = fileURLToPath(new URL("../../bin/smcp.js", import.meta.url));
const pool = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

/** A free loopback port, chosen up front so a restarted instance comes back at the same address. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface ProcSpec {
  name: string;
  port: number;
  dataDir: string;
  /** Server name → base URL of the others. */
  peers: Record<string, string>;
  /** Extra configuration written to the --config file (Naomi tuning, vikunja, limits...). */
  config?: Partial<InstanceConfig>;
}

/** One running `smcp serve` process; restart() brings it back from the same data directory and port. */
export class InstanceProcess {
  child!: ChildProcess;
  token = "";
  readonly url: string;
  private exited!: Promise<number | null>;

  private constructor(readonly spec: ProcSpec) {
    this.url = `http://127.0.0.1:${spec.port}`;
  }

  static async start(spec: ProcSpec): Promise<InstanceProcess> {
    const p = new InstanceProcess(spec);
    await p.launch();
    return p;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get name(): string {
    return this.spec.name;
  }

  private async launch(): Promise<void> {
    const config = join(this.spec.dataDir, "..", `${this.spec.name}.config.json`);
    writeFileSync(config, JSON.stringify({
      includeVikunja: false, logLevel: "silent", pingIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 500, gapDelayMs: 50, acceptAllInvites: true, ...this.spec.config,
    }));
    const args = [BIN, "serve", "--name", this.spec.name, "--listen", `127.0.0.1:${this.spec.port}`, "--data", this.spec.dataDir, "--config", config];
    for (const [name, url] of Object.entries(this.spec.peers)) args.push("--peer", `${name}=${url}`);
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exited = new Promise((r) => child.once("exit", (code) => r(code)));
    let stdout = "";
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-4000)));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        if (stdout.includes("\n")) resolve(stdout.slice(0, stdout.indexOf("\n")));
      });
      child.once("exit", (code) => reject(new Error(`${this.spec.name} exited ${code} before listening: ${stderr}`)));
    });
    const ready = JSON.parse(line) as { event: string; url: string; control_token_file: string };
    if (ready.event !== "listening" || ready.url !== this.url) throw new Error(`unexpected ready line ${line}`);
    this.token = readFileSync(ready.control_token_file, "utf8").trim();
  }

  /** kill -9: no shutdown code runs; whatever was not durable is lost. */
  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.launch();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  control(method: string, path: string, body?: unknown, timeoutMs = 40_000): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return sendRaw(pool, this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(payload ? { "content-type": "application/json" } : {}) },
      body: payload,
      timeoutMs,
    });
  }

  /** Peak resident set (VmHWM) and current RSS of the process, in KiB, from /proc (Linux). */
  memory(): { hwmKiB: number; rssKiB: number } | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
      const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
      return { hwmKiB: field("VmHWM"), rssKiB: field("VmRSS") };
    } catch {
      return undefined;
    }
  }
}

/** Process-level counterparts of the in-process helpers. */
export async function procLocalSeq(p: InstanceProcess, channel: string): Promise<number> {
  const r = await p.control("GET", `/control/v1/channels/${encodeURIComponent(channel)}`);
  if (r.status !== 200) throw new Error(`${p.name}: channel ${channel} answered ${r.status}`);
  return (r.body as { local_seq: number }).local_seq;
}

/** Long-polls until local_seq ≥ seq. */
export async function procAwaitSeq(p: InstanceProcess, channel: string, seq: number, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const local = await procLocalSeq(p, channel);
    if (local >= seq) return;
    if (Date.now() > deadline) throw new Error(`${p.name} local_seq ${local} never reached ${seq}`);
    const wait = Math.min(2000, Math.max(1, deadline - Date.now()));
    await p.control("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events?after=${local}&limit=1&wait_ms=${wait}`);
  }
}

export async function procEvents(p: InstanceProcess, channel: string): Promise<Array<{ seq: number; event_id: string; prev_event: string | null; type: string; sender: string; data: Record<string, unknown> }>> {
  const out: Array<{ seq: number; event_id: string; prev_event: string | null; type: string; sender: string; data: Record<string, unknown> }> = [];
  for (;;) {
    const r = await p.control("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events?after=${out.length}&limit=1000`);
    const page = (r.body as { events: typeof out }).events;
    out.push(...page);
    if (page.length < 1000) return out;
  }
}
