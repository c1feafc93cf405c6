// Conformance harness: where the two instances under test come from — reference instances started locally, URLs of
// running instances, any implementation started from a command line, or Docker images (testcontainers).
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, createWriteStream, type WriteStream } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { randomId } from "../protocol/random-id.ts";
import type { Dispatcher } from "undici";
import { createDispatcher, sendRaw } from "../protocol/http-client.ts";
import type { Role } from "./context.ts";
import { killGroup, spawnGroup, stopAllGroups, stopGroup } from "./process-group.ts";
import type { InstanceTlsFiles, RunTls } from "./tls-material.ts";

/** One instance under test as the harness reaches it. `name` is learnt from its Control API when not given. */
export interface Endpoint {
  role: Role;
  name?: string;
  baseUrl: string;
  token: string;
  /** The data directory of an instance the harness started as a process (KEY-26 reads its file modes). */
  dataDir?: string;
}

export interface Deployment {
  kind: RoleSpec["kind"] | "mixed";
  alice: Endpoint;
  bob: Endpoint;
  /** Where each started instance's stderr went (for the report). */
  logFiles: string[];
  /**
   * Per role the harness can restart: kill it abruptly (SIGKILL of its whole process group, a container killed,
   * or the user's `--*-restart-cmd`) and bring it back on the same data directory, port and token, resolving once
   * it answers again. A role without one is given by URL without a restart command.
   */
  restart: Partial<Record<Role, () => Promise<void>>>;
  /** Stops what the harness started; instance logs are deleted unless `keepLogs`. */
  close(keepLogs?: boolean): Promise<void>;
}

/** The deployment cannot be brought up: the CLI exits 2 with this message, no checks run. */
export class DeploymentError extends Error {}

const REPO = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_NAMES: Record<Role, string> = { alice: "alice.example", bob: "bob.example" };

/** Hex, so that a token never starts with "-", which argument parsers take for an option. */
export function randomToken(): string {
  return randomId(24, "hex");
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  log: WriteStream;
  logFile: string;
  dataDir: string;
}

/**
 * Stops the instance and everything it spawned (its process group: SIGTERM, then SIGKILL after 5 s), also when the
 * direct child already exited and left others behind, then deletes its temporary data directory.
 */
async function stop(s: Started, keepLogs: boolean): Promise<void> {
  if (s.child.pid !== undefined) await stopGroup(s.child.pid);
  await new Promise<void>((resolve) => s.log.end(() => resolve()));
  rmSync(s.dataDir, { recursive: true, force: true });
  if (!keepLogs) rmSync(s.logFile, { force: true });
}

/** Containers started and not yet stopped, for `stopEverything`. */
const liveContainers = new Set<() => Promise<void>>();

/**
 * Stops every instance this process started, wherever it is in its life (also during startup): the harness's
 * SIGINT/SIGTERM handler. Idempotent.
 */
export async function stopEverything(): Promise<void> {
  await Promise.all([stopAllGroups(), ...[...liveContainers].map((stopContainer) => stopContainer())]);
}

/**
 * Waits until the process prints its `{"event":"listening"}` line or (when `probeUrl` is given) its well-known
 * document answers — whichever comes first — and fails fast if it exits. Bounded by `timeoutMs`.
 */
async function awaitReady(label: string, s: Started, probeUrl: string | undefined, timeoutMs: number, tls?: Dispatcher): Promise<string | undefined> {
  const lines = createInterface({ input: s.child.stdout! });
  let settled = false;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, url?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      lines.close();
      if (err) reject(err);
      else resolve(url);
    };
    const timer = setTimeout(() => done(new DeploymentError(`${label} did not become ready within ${timeoutMs} ms (log: ${s.logFile})`)), timeoutMs);
    lines.on("line", (line) => {
      s.log.write(`[stdout] ${line}\n`);
      try {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        if (msg.event === "listening") done(null, msg.url);
      } catch {
        // not the readiness line
      }
    });
    s.child.once("exit", (code, signal) => done(new DeploymentError(`${label} exited (${code ?? signal}) before it was ready; log: ${s.logFile}`)));
    s.child.once("error", (err) => done(new DeploymentError(`${label} could not be started: ${err.message}`)));
    if (probeUrl) void probe(probeUrl, () => settled, tls).then((ok) => ok && done(null, undefined));
  });
}

/** Polls the well-known URL (each attempt bounded, 100 ms apart) until it answers 200 or `stopped()`; https through `tls`. */
async function probe(url: string, stopped: () => boolean, tls?: Dispatcher): Promise<boolean> {
  while (!stopped()) {
    try {
      const status = tls ? (await sendRaw(tls, url, { method: "GET", headers: {}, timeoutMs: 1_000, deadlineMs: 1_000 })).status : await plainStatus(url);
      if (status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function plainStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Starts one instance process in its own process group and in the caller's working directory (so that a relative
 * `--alice-cmd ./my-smcp` works); its stderr goes to a log file next to its temporary data directory.
 */
function launch(label: string, command: string, args: string[], shell: boolean, verbose: boolean, dataDir: string, append = false): Started {
  const logFile = `${dataDir}.log`;
  // A restarted instance logs on after its first life's lines, so that the kept log tells the whole story.
  const log = createWriteStream(logFile, { flags: append ? "a" : "w" });
  const child = spawnGroup(command, args, shell);
  child.stderr!.on("data", (chunk: Buffer) => {
    // A killed instance's last lines can arrive after its log was closed (restart, stop): they are dropped, not a crash.
    if (!log.writableEnded) log.write(chunk);
    if (verbose) process.stderr.write(`[${label}] ${chunk.toString("utf8")}`);
  });
  return { child, log, logFile, dataDir };
}

export interface LocalOptions {
  startupTimeoutMs: number;
  verbose: boolean;
  /** --tls: started instances get the run's CA, certificate and key (`{ca}` `{cert}` `{key}`) and serve HTTPS. */
  tls?: Pick<RunTls, "instanceFiles" | "caPem">;
}

/** How one role is provided: a reference instance, any command line, a running URL, or a Docker image. */
export type RoleSpec =
  | { kind: "reference"; name?: string }
  | { kind: "cmd"; command: string; name?: string }
  | { kind: "url"; url: string; token: string; restartCmd?: string }
  | { kind: "image"; image: string; name?: string; args?: string };

interface RoleHandle {
  endpoint: Endpoint;
  logFile?: string;
  stop(keepLogs: boolean): Promise<void>;
  restart?: () => Promise<void>;
}

/** Substitutes `{name} {port} {data} {token}` in a user's command line, and under --tls `{ca} {cert} {key}` (file paths). */
export function substitute(template: string, v: { name: string; port: number; data: string; token: string } & Partial<InstanceTlsFiles>): string {
  return template.replace(/\{(name|port|data|token|ca|cert|key)\}/g, (whole, k: keyof typeof v) => (v[k] === undefined ? whole : String(v[k])));
}

const TLS_PLACEHOLDERS = ["{ca}", "{cert}", "{key}"];

/** Brings up both roles (in parallel); if either fails, whatever was started is stopped again. */
export async function deploy(specs: Record<Role, RoleSpec>, opts: LocalOptions): Promise<Deployment> {
  validateSpecs(specs);
  validateTls(specs, opts.tls !== undefined);
  if (specs.alice.kind === "image" || specs.bob.kind === "image") await requireDocker();
  const settled = await Promise.allSettled((["alice", "bob"] as Role[]).map((role) => startRole(role, specs[role], opts)));
  const handles = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const close = async (keepLogs = false): Promise<void> => {
    await Promise.all(handles.map((h) => h.stop(keepLogs)));
  };
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) {
    await close(true);
    const err = failed.reason as Error;
    throw err instanceof DeploymentError ? err : new DeploymentError(err.message);
  }
  const kinds = new Set([specs.alice.kind, specs.bob.kind]);
  return {
    kind: kinds.size === 1 ? [...kinds][0]! : "mixed",
    alice: handles[0]!.endpoint,
    bob: handles[1]!.endpoint,
    logFiles: handles.flatMap((h) => (h.logFile ? [h.logFile] : [])),
    restart: Object.fromEntries(handles.flatMap((h) => (h.restart ? [[h.endpoint.role, h.restart]] : []))),
    close,
  };
}

function validateSpecs(specs: Record<Role, RoleSpec>): void {
  for (const role of ["alice", "bob"] as Role[]) {
    const s = specs[role];
    if (s.kind === "cmd" && !s.command.includes("{port}")) {
      throw new DeploymentError(`--${role}-cmd must contain {port}: the harness picks the port and waits for http://127.0.0.1:{port}/.well-known/smcp/server`);
    }
    if (s.kind === "url") {
      if (!/^https?:\/\/[^\s/?#]+\/?$/.test(s.url)) throw new DeploymentError(`--${role} must be a base URL such as http://127.0.0.1:4100, got ${s.url}`);
      if (!s.token) throw new DeploymentError(`--${role}-token is required with --${role}`);
    }
  }
}

/** --tls hands files to instances the harness starts; without it a TLS placeholder would reach the command unfilled. */
function validateTls(specs: Record<Role, RoleSpec>, tls: boolean): void {
  for (const role of ["alice", "bob"] as Role[]) {
    const s = specs[role];
    if (tls && (s.kind === "url" || s.kind === "image")) {
      throw new DeploymentError(`--tls gives the run's CA, certificate and key to instances the harness starts: use --${role}-cmd with {ca} {cert} {key} (or the reference instance) instead of --${role}${s.kind === "image" ? "-image" : ""}`);
    }
    if (s.kind !== "cmd") continue;
    const missing = TLS_PLACEHOLDERS.filter((p) => !s.command.includes(p));
    if (tls && missing.length > 0) throw new DeploymentError(`--tls: --${role}-cmd must contain ${missing.join(" ")}: the instance serves HTTPS with {cert} and {key} and trusts only {ca} for its peers`);
    if (!tls && missing.length < TLS_PLACEHOLDERS.length) throw new DeploymentError(`--${role}-cmd uses ${TLS_PLACEHOLDERS.filter((p) => !missing.includes(p)).join(" ")}, which only --tls fills in`);
  }
}

function startRole(role: Role, spec: RoleSpec, opts: LocalOptions): Promise<RoleHandle> {
  switch (spec.kind) {
    case "url":
      return urlRole(role, spec, opts);
    case "reference": {
      // Port 0: the reference instance reports its real URL on its readiness line, so no port can be raced for.
      // A restart binds the port its first life got, so that peers and the harness reach it where they did.
      const bin = join(REPO, "bin", "smcp.js");
      return startProcess(role, spec.name ?? DEFAULT_NAMES[role], opts, (v, again) => ({
        command: process.execPath,
        args: [bin, "serve", "--name", v.name, "--listen", `127.0.0.1:${again ? v.port : 0}`, "--data", v.data, `--control-token=${v.token}`, "--accept-all-invites", "--forward-allow=*>*", ...referenceTlsArgs(v)],
        shell: false,
        announcesUrl: true,
      }));
    }
    case "cmd":
      return startProcess(role, spec.name ?? DEFAULT_NAMES[role], opts, (v) => ({ command: substitute(spec.command, v), args: [], shell: true }));
    case "image":
      return startImage(role, spec, opts);
  }
}

/** The reference instance's TLS options, when the run hands it files. */
function referenceTlsArgs(v: Partial<InstanceTlsFiles>): string[] {
  return v.ca && v.cert && v.key ? ["--tls-cert", v.cert, "--tls-key", v.key, "--ca", v.ca] : [];
}

type Spec = (v: { name: string; port: number; data: string; token: string } & Partial<InstanceTlsFiles>, again: boolean) => { command: string; args: string[]; shell: boolean; announcesUrl?: boolean };

/**
 * Starts one instance process. A free port can be taken by someone else between choosing and binding it, so a
 * process that exits before it is ready is started again on another port (three attempts).
 */
async function startProcess(role: Role, name: string, opts: LocalOptions, spec: Spec): Promise<RoleHandle> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const v = { name, port, data: mkdtempSync(join(tmpdir(), `smcp-conformance-${role}-`)), token: randomToken(), ...opts.tls?.instanceFiles[role] };
    // KEY-26: a pre-existing 0755 directory (like a bind mount or a Dockerfile VOLUME); the instance's files must be private anyway.
    chmodSync(v.data, 0o755);
    const { command, args, shell, announcesUrl } = spec(v, false);
    const started = launch(role, command, args, shell, opts.verbose, v.data);
    const base = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
    const tlsProbe = opts.tls && !announcesUrl ? createDispatcher({ ca: opts.tls.caPem, connections: 1 }) : undefined;
    try {
      const url = await awaitReady(`${role} (${name})`, started, announcesUrl ? undefined : `${base}/.well-known/smcp/server`, opts.startupTimeoutMs, tlsProbe);
      const life = { current: started };
      const bound = { ...v, port: Number(new URL(url ?? base).port) };
      return {
        endpoint: { role, name, baseUrl: url ?? base, token: v.token, dataDir: v.data },
        logFile: started.logFile,
        stop: (keep) => stop(life.current, keep),
        restart: () => restartProcess(`${role} (${name})`, life, bound, spec, opts),
      };
    } catch (err) {
      const exitedEarly = started.child.exitCode !== null || started.child.signalCode !== null;
      await stop(started, !exitedEarly || attempt >= 3);
      if (!exitedEarly || attempt >= 3) throw err;
    } finally {
      void tlsProbe?.close();
    }
  }
}

/**
 * Kills the running instance abruptly (SIGKILL to its whole process group: a crash, nothing flushed) and starts the
 * same command again on the same data directory, port and token, appending to the same log; resolves once ready.
 */
async function restartProcess(label: string, life: { current: Started }, v: Parameters<Spec>[0], spec: Spec, opts: LocalOptions): Promise<void> {
  const old = life.current;
  if (old.child.pid !== undefined && !(await killGroup(old.child.pid))) throw new DeploymentError(`${label}: its process group survived SIGKILL`);
  await new Promise<void>((resolve) => old.log.end(() => resolve()));
  const { command, args, shell, announcesUrl } = spec(v, true);
  const started = launch(label, command, args, shell, opts.verbose, v.data, true);
  life.current = started;
  const base = `${opts.tls ? "https" : "http"}://127.0.0.1:${v.port}`;
  const tlsProbe = opts.tls && !announcesUrl ? createDispatcher({ ca: opts.tls.caPem, connections: 1 }) : undefined;
  try {
    const url = await awaitReady(`${label} after its restart`, started, announcesUrl ? undefined : `${base}/.well-known/smcp/server`, opts.startupTimeoutMs, tlsProbe);
    if (url !== undefined && new URL(url).port !== String(v.port)) throw new DeploymentError(`${label} came back on ${url}, not on port ${v.port}`);
  } finally {
    void tlsProbe?.close();
  }
}

/**
 * An instance given by URL: the harness only talks to it, after one bounded look that it answers at all (an
 * unreachable target is a deployment error, exit 2, not a hundred failed checks). With `--*-restart-cmd` it can
 * also be restarted: the command (run through the shell, in a process group of its own, `{url}` `{port}` `{token}`
 * substituted) must kill and restart it and exit 0; the harness then waits until its well-known document answers.
 */
async function urlRole(role: Role, spec: Extract<RoleSpec, { kind: "url" }>, opts: LocalOptions): Promise<RoleHandle> {
  const baseUrl = spec.url.replace(/\/$/, "");
  await reachable(`--${role} ${baseUrl}`, `${baseUrl}/.well-known/smcp/server`);
  const handle: RoleHandle = { endpoint: { role, baseUrl, token: spec.token }, stop: async () => {} };
  const template = spec.restartCmd;
  if (template !== undefined) {
    const command = template.replace(/\{(url|port|token)\}/g, (_, k: string) => (k === "url" ? baseUrl : k === "port" ? new URL(baseUrl).port : spec.token));
    handle.restart = () => runRestartCommand(role, command, `${baseUrl}/.well-known/smcp/server`, opts);
  }
  return handle;
}

/** Network errors that mean nothing answers there; anything else (a TLS certificate the harness does not trust) got an answer. */
const NO_ANSWER = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

/**
 * Any HTTP answer counts (the checks judge it), and so does a TLS handshake the harness cannot verify (a check will
 * say so); a refused or reset connection, or no answer within 5 s, does not.
 */
async function reachable(label: string, url: string): Promise<void> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000), redirect: "manual" });
    await res.arrayBuffer();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const timedOut = (err as Error).name === "TimeoutError" || (err as Error).name === "AbortError";
    if (!timedOut && !(cause?.code && NO_ANSWER.has(cause.code))) return;
    throw new DeploymentError(`${label} is unreachable (GET ${url}: ${timedOut ? "no answer within 5 s" : (cause?.message ?? cause?.code)}); nothing was checked`);
  }
}

/**
 * Runs the user's restart command in a process group of its own. What it leaves running after exiting 0 is the
 * restarted instance (`./server &` in a script), so that group is not stopped; one that fails or hangs is killed.
 */
async function runRestartCommand(role: Role, command: string, probeUrl: string, opts: LocalOptions): Promise<void> {
  const child = spawn(command, [], { shell: true, detached: true, stdio: ["ignore", "ignore", "pipe"], cwd: process.cwd(), env: process.env });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString("utf8")).slice(-2_000)));
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), opts.startupTimeoutMs);
    child.once("exit", (c, signal) => (clearTimeout(timer), resolve(c ?? signal ?? "?")));
    child.once("error", (err) => (clearTimeout(timer), resolve(err.message)));
  });
  child.stderr!.destroy();
  if (code !== 0) {
    if (child.pid !== undefined) await killGroup(child.pid);
    throw new DeploymentError(`--${role}-restart-cmd ended with ${code === "timeout" ? `no exit within ${opts.startupTimeoutMs} ms` : `exit ${code}`}: ${stderr.trim() || "(no stderr)"}`);
  }
  const deadline = Date.now() + opts.startupTimeoutMs;
  if (!(await probe(probeUrl, () => Date.now() > deadline))) throw new DeploymentError(`${role} did not answer ${probeUrl} within ${opts.startupTimeoutMs} ms of its restart command`);
}

const ALTERNATIVES =
  'Alternatives: --alice-cmd "<command with {name} {port} {data} {token}>" (and --bob-cmd) to start any implementation as a local process, or --alice URL --alice-token T (and --bob, --bob-token) for instances you already run.';

async function loadTestcontainers(): Promise<typeof import("testcontainers")> {
  try {
    return await import("testcontainers");
  } catch (err) {
    // An optional peer dependency: only image deployments need the Docker client, so a plain install leaves it out.
    throw new DeploymentError(`--alice-image/--bob-image need the optional testcontainers package, which is not installed (npm install testcontainers@11 next to smcp-federation; ${(err as Error).message.split("\n")[0]}). ${ALTERNATIVES}`);
  }
}

/** Fails with a clear message, naming the alternatives, when no Docker engine is reachable. */
export async function requireDocker(): Promise<void> {
  const tc = await loadTestcontainers();
  try {
    await tc.getContainerRuntimeClient();
  } catch (err) {
    throw new DeploymentError(`--alice-image/--bob-image need a reachable Docker engine, and none was found (${(err as Error).message}). ${ALTERNATIVES}`);
  }
}

/**
 * An image runs with host networking, so that plain HTTP stays on loopback (as §6.3 requires) and the fake peer on
 * 127.0.0.1 is reachable; its command is `serve --name {name} --listen 127.0.0.1:{port} --data /data
 * --control-token={token} --accept-all-invites --forward-allow=*>*` (the conformance profile, CONF-10, FWD-37; no shell) unless `--image-args` gives another template.
 */
async function startImage(role: Role, spec: Extract<RoleSpec, { kind: "image" }>, opts: LocalOptions): Promise<RoleHandle> {
  const tc = await loadTestcontainers();
  const name = spec.name ?? DEFAULT_NAMES[role];
  const port = await freePort();
  const token = randomToken();
  const template = spec.args ?? "serve --name {name} --listen 127.0.0.1:{port} --data /data --control-token={token} --accept-all-invites --forward-allow=*>*";
  const command = substitute(template, { name, port, data: "/data", token }).split(/\s+/).filter(Boolean);
  try {
    const container = await new tc.GenericContainer(spec.image)
      .withNetworkMode("host")
      .withCommand(command)
      .withStartupTimeout(opts.startupTimeoutMs)
      .withWaitStrategy(tc.Wait.forHttp("/.well-known/smcp/server", port).forStatusCode(200))
      .start();
    const stopContainer = async (): Promise<void> => {
      if (liveContainers.delete(stopContainer)) await container.stop();
    };
    liveContainers.add(stopContainer);
    // Killed at once (no grace period: a crash) and started again in the same container, so /data is kept.
    const restart = async (): Promise<void> => {
      await container.restart({ timeout: 0 });
      const deadline = Date.now() + opts.startupTimeoutMs;
      if (!(await probe(`http://127.0.0.1:${port}/.well-known/smcp/server`, () => Date.now() > deadline))) throw new DeploymentError(`image ${spec.image} (${role}) did not answer within ${opts.startupTimeoutMs} ms of its restart`);
    };
    return { endpoint: { role, name, baseUrl: `http://127.0.0.1:${port}`, token }, stop: stopContainer, restart };
  } catch (err) {
    throw new DeploymentError(`starting image ${spec.image} for ${role} failed: ${(err as Error).message}`);
  }
}
