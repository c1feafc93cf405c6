// Benchmarks: reference instances (all SMCP components) run as separate processes through `bin/smcp.js serve`, and a
// control-API client for them — the deployment every bench figure is measured against.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Dispatcher } from "undici";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import type { InstanceConfig } from "../reference-impl/config.ts";

export const REPO = fileURLToPath(new URL("..", import.meta.url));
const STARTUP_TIMEOUT_MS = 60_000;

/** Everything the bench sets beyond the CLI flags goes through `--config` (the CLI has no flag for these). */
export type ConfigFile = Partial<Pick<InstanceConfig, "includeVikunja" | "rateLimit" | "validateResponses" | "pingIntervalMs" | "callAllowList" | "inviteAllowList">>;

export interface RunningInstance {
  name: string;
  url: string;
  token: string;
  dataDir: string;
  logFile: string;
  pid: number;
  /** Control API request with the bearer token, on the bench's own keep-alive pool. */
  control(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<HttpAnswer>;
  /** SIGTERM, then waits for the process to exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/** One scratch directory per bench run; every instance's data and log live under it. */
export function scratchDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `smcp-bench-${label}-`));
}

/** Best effort: a failure to clean up must not hide the error that ended the scenario. */
export function removeScratch(dir: string): void {
  if (process.env.SMCP_BENCH_KEEP) return;
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    process.stderr.write(`bench: could not remove ${dir}: ${(err as Error).message}\n`);
  }
}

/**
 * Spawns several instances at once; every one that started is pushed to `into` (so the caller stops it) even
 * when another fails, then the first failure is thrown.
 */
export async function spawnMany(into: RunningInstance[], starts: Array<() => Promise<RunningInstance>>): Promise<RunningInstance[]> {
  const settled = await Promise.allSettled(starts.map((f) => f()));
  const ok = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  into.push(...ok);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) throw failure.reason;
  return ok;
}

/** CLOCK_MONOTONIC in µs: the clock V8 stamps its CPU profiles with, in every process on this machine. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * With SMCP_BENCH_PROFILE set, records a measured window (start and end from monotonicUs) so that
 * bench/profile-summary.ts counts only the samples inside it — not start-up, set-up or warm-up.
 */
export function recordProfileWindow(section: string, startUs: number, endUs: number): void {
  const dir = process.env.SMCP_BENCH_PROFILE;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, "windows.jsonl"), JSON.stringify({ section, start_us: startUs, end_us: endUs }) + "\n");
}

/** How the instances are run, printed next to the figures. */
export const DEPLOYMENT_NOTE =
  "each instance is a separate `node bin/smcp.js serve --listen 127.0.0.1:0` process (own data dir, SQLite WAL, log level info to a file)";

/**
 * Spawns `node bin/smcp.js serve` and resolves once it prints its `listening` line.
 * `dispatcher` is the bench's client pool for this instance's control API.
 */
export async function spawnInstance(
  root: string,
  name: string,
  config: ConfigFile,
  dispatcher: Dispatcher,
  extraArgs: string[] = [],
): Promise<RunningInstance> {
  const dataDir = join(root, name);
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(root, `${name}.config.json`);
  writeFileSync(configFile, JSON.stringify(config));
  const token = randomBytes(24).toString("base64url");
  const logFile = join(root, `${name}.log`);
  // SMCP_BENCH_PROFILE=DIR writes a V8 CPU profile of every instance there (to find where the time goes).
  const profile = process.env.SMCP_BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SMCP_BENCH_PROFILE}`] : [];
  const args = [
    ...profile, join(REPO, "bin/smcp.js"), "serve", "--name", name, "--listen", "127.0.0.1:0", "--data", dataDir,
    // `=` form: a base64url token may start with '-', which node's parseArgs refuses as a separate argument.
    `--control-token=${token}`, "--config", configFile, "--log-level", "info", "--log-file", logFile, ...extraArgs,
  ];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  // Profile files are named by pid: this index tells bench/profile-summary.ts which instance each one was.
  if (process.env.SMCP_BENCH_PROFILE) mkdirSync(process.env.SMCP_BENCH_PROFILE, { recursive: true });
  if (process.env.SMCP_BENCH_PROFILE) appendFileSync(join(process.env.SMCP_BENCH_PROFILE, "processes.jsonl"), JSON.stringify({ pid: child.pid, name }) + "\n");
  const stderr: string[] = [];
  child.stderr!.on("data", (b: Buffer) => stderr.push(b.toString()));
  const url = await listeningUrl(child, name, stderr);
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  return {
    name, url, token, dataDir, logFile, pid: child.pid!,
    control: (method, path, body, timeoutMs = 40_000) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      return sendRaw(dispatcher, url + path, {
        method, timeoutMs, body: payload,
        headers: { authorization: `Bearer ${token}`, ...(payload ? { "content-type": "application/json" } : {}) },
      });
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/**
 * The hop server (bench/hop-server.ts: the reference's HTTP edge, signed and unsigned routes), a separate process
 * like an instance; `args` are its command line. Resolves with its URL and a stop function.
 */
export async function spawnHopServer(args: string[]): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO, "bench/hop-server.ts"), ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  const stderr: string[] = [];
  child.stderr!.on("data", (b: Buffer) => stderr.push(b.toString()));
  const url = await listeningUrl(child, "hop server", stderr);
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  return {
    url, pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function listeningUrl(child: ChildProcess, name: string, stderr: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no listening line within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout! });
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${name}: ${why}; stderr: ${stderr.join("").slice(-2000)}`));
    };
    child.once("exit", (code) => fail(`exited with ${code} before listening`));
    lines.on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event !== "listening" || typeof msg.url !== "string") return;
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(msg.url);
      } catch {
        // Not the JSON line we wait for; the CLI prints nothing else on stdout.
      }
    });
  });
}

/** A keep-alive client pool for control-API traffic (bench process side). */
export function controlPool(connections = 64): Dispatcher {
  return createDispatcher({ connections });
}

/** Every instance learns every other's address through the control API (spec §6.4 host mapping). */
export async function mapHosts(from: RunningInstance, to: RunningInstance[]): Promise<void> {
  for (const t of to) {
    if (t === from) continue;
    const r = await from.control("PUT", `/control/v1/hosts/${t.name}`, { base_url: t.url });
    if (r.status !== 204) throw new Error(`${from.name}: host mapping of ${t.name} failed: ${r.status} ${r.raw.toString()}`);
  }
}

/** Expects a 2xx answer and returns its body. */
export function expectOk<T>(r: HttpAnswer, what: string): T {
  if (r.status < 200 || r.status > 299) throw new Error(`${what}: ${r.status} ${r.raw.toString().slice(0, 500)}`);
  return r.body as T;
}

/** Counts log lines whose message contains `text` (pino JSON lines: `"msg":"..."`). */
export function countLogLines(logFile: string, text: string): number {
  try {
    return readFileSync(logFile, "utf8").split("\n").filter((l) => l.includes(text)).length;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5), counted from after the command name: utime and stime in clock ticks (USER_HZ = 100).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

export async function stopAll(instances: RunningInstance[]): Promise<void> {
  await Promise.all(instances.map((i) => i.stop().catch(() => undefined)));
}
