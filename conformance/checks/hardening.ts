// Conformance harness: adversarial edge checks a black box can observe — nesting bound, unmapped loopback origins,
// refused huge bodies, private files (spec §3.1 JCS-18, §5.6 SIGN-50, §5.7 RATE-13, §6.3 DISC-30, §4.1 KEY-26).
import { lstatSync, readdirSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { MAX_JSON_DEPTH } from "../../protocol/json-depth.ts";
import { generateSeed, signingKeyFromSeed } from "../../protocol/keys.ts";
import type { Ping } from "../../protocol/types.ts";
import { answerSummary, CheckFailure, ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";
import { runTls } from "../tls-transport.ts";

const PING = "/federation/v1/ping";
const sendPath = (ctx: CheckContext): string => `/federation/v1/send/${ctx.fake.nextTxnId()}`;

function edge(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>, prereq = "adv/sign/baseline@@"): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: [prereq], run: (ctx) => run(ctx, role) }));
}

/** `depth` nested arrays around a scalar: depth 0 is `0`, depth 1 `[0]` (JCS-18's counting). */
export function nested(depth: number): string {
  return "[".repeat(depth) + "0" + "]".repeat(depth);
}

/** A transaction body nesting `depth` levels in all, the body object included (an unknown member carries the nesting). */
function deepTransaction(ctx: CheckContext, depth: number): Buffer {
  return Buffer.from(`{"origin":"${ctx.fake.name}","origin_ts":${Date.now()},"heads":[],"x_deep":${nested(depth - 1)}}`);
}

// ---- JCS-18: the nesting bound of every JSON text ----

const depthLimit = edge("adv/json/depth-limit", `a signed body nesting ${MAX_JSON_DEPTH + 1} levels gets 400 SMCP_BAD_JSON, ${MAX_JSON_DEPTH} levels does not, and 100 000 levels neither crashes nor stalls the instance`, ["JCS-18"], async (ctx, role) => {
  const t = known(ctx, role);
  const over = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: deepTransaction(ctx, MAX_JSON_DEPTH + 1) });
  expectError(over, "SMCP_BAD_JSON", `body nesting ${MAX_JSON_DEPTH + 1} levels`);
  const at = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: deepTransaction(ctx, MAX_JSON_DEPTH) });
  if (at.status >= 500 || (at.body as { errcode?: unknown } | undefined)?.errcode === "SMCP_BAD_JSON") {
    fail(`a body nesting exactly ${MAX_JSON_DEPTH} levels was refused as bad JSON (JCS-18 allows it)`, `not SMCP_BAD_JSON (an unknown member is ignored, VER-05)`, answerSummary(at));
  }
  // Far beyond any recursive parser's stack, within max_body_bytes: refused, and the instance still answers.
  const abyss = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: deepTransaction(ctx, 100_000) });
  expectError(abyss, "SMCP_BAD_JSON", "body nesting 100 000 levels");
  expectOk<Ping>(await ctx.fake.send(t.name, { method: "GET", path: PING }), "Ping", "ping after the deep bodies", 200);
});

// ---- DISC-30 and RATE-13: unmapped names that point at loopback ----

/** Distinct spellings of 127.0.0.1 a URL parser turns into that address without DNS (WHATWG URL host parsing). */
const LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.1"];
/** Listeners opened per check: with the spellings, this many distinct unmapped names point at a harness listener. */
const LISTENERS = 20;
/** RATE-13 gives no figure (the reference's budget is a burst of 32): the harness requires a refusal within this burst. */
export const UNMAPPED_BURST = LISTENERS * LOOPBACK_SPELLINGS.length;

/** Loopback TCP listeners that count every connection made to them (and close it at once). */
async function countingListeners(n: number): Promise<{ ports: number[]; connections(): number; close(): Promise<void> }> {
  let count = 0;
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer((sock) => {
      count++;
      sock.destroy();
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    ports.push((s.address() as { port: number }).port);
  }
  return { ports, connections: () => count, close: async () => void (await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))) };
}

const unmappedLoopback = edge(
  "adv/discovery/unmapped-loopback",
  `a burst of ${UNMAPPED_BURST} requests with random keys naming unmapped origins that point at harness listeners on loopback: no connection reaches them, every answer is 401 SMCP_UNKNOWN_KEY or 429 SMCP_RATE_LIMITED, the burst is cut off with 429, and the fake peer is still served`,
  ["DISC-30", "RATE-13", "RATE-05"],
  async (ctx, role) => {
    const t = known(ctx, role);
    const listeners = await countingListeners(LISTENERS);
    const wrong: string[] = [];
    let limited = 0;
    let firstLimited: number | undefined;
    try {
      const names = listeners.ports.flatMap((p) => LOOPBACK_SPELLINGS.map((h) => `${h}:${p}`));
      // Waves of 20 in parallel: a realistic burst, and one that finishes quickly when every answer is immediate.
      for (let i = 0; i < names.length; i += 20) {
        const wave = names.slice(i, i + 20);
        const answers = await Promise.all(wave.map((origin) => ctx.fake.send(t.name, { method: "GET", path: PING, sign: { origin, key: signingKeyFromSeed(generateSeed()) } })));
        answers.forEach((a, j) => {
          if (a.status === 429) {
            limited++;
            firstLimited ??= i + j + 1;
          }
          try {
            const body = expectError(a, ["SMCP_UNKNOWN_KEY", "SMCP_RATE_LIMITED"], `ping from unmapped ${wave[j]}`);
            if (body.errcode === "SMCP_RATE_LIMITED") ensure(typeof body.retry_after_ms === "number", "429 without retry_after_ms (RATE-05)", "retry_after_ms", body);
          } catch (err) {
            wrong.push(`${wave[j]}: ${(err as Error).message} — ${answerSummary(a)}`);
          }
        });
      }
    } finally {
      await listeners.close();
    }
    ensure(listeners.connections() === 0, "the instance connected to loopback addresses named by unmapped, unverified origins (DISC-30)", "0 connections to the harness listeners", `${listeners.connections()} connections`);
    if (wrong.length > 0) fail(`${wrong.length} of ${UNMAPPED_BURST} answers were neither 401 SMCP_UNKNOWN_KEY nor 429 SMCP_RATE_LIMITED`, "401 SMCP_UNKNOWN_KEY or 429 SMCP_RATE_LIMITED", wrong.slice(0, 10).join("\n"));
    ensure(limited > 0, `${UNMAPPED_BURST} discoveries of distinct unmapped origins from one client address were all attempted: no budget for unauthenticated work (RATE-13)`, `a 429 SMCP_RATE_LIMITED within ${UNMAPPED_BURST} requests`, "none");
    ctx.note(`0 connections; first 429 after ${firstLimited} requests, ${limited} of ${UNMAPPED_BURST} refused with 429`);
    // The budget is for unauthenticated work only: a verified origin whose key is known is served as before.
    expectOk<Ping>(await ctx.fake.send(t.name, { method: "GET", path: PING }), "Ping", "signed ping from the mapped fake peer after the burst", 200);
  },
);

// ---- SIGN-50: a refused body is not read ----

/** Declared body size of the SIGN-50 probe (100 MiB). */
export const DECLARED_BYTES = 100 * 1024 * 1024;
/**
 * Bytes the harness may hand to the socket before the instance closes it. Kernel socket buffers on loopback take a
 * few MiB without the server reading anything (3.8 MiB measured against the reference); a server that drains the
 * declared body takes all 100 MiB.
 */
export const SIGN50_MAX_ACCEPTED = 16 * 1024 * 1024;
/** After the 413 the instance must close within this (the reference closes at once, destroying after 1 s). */
const CLOSE_WITHIN_MS = 5_000;

interface StreamOutcome {
  head: string;
  accepted: number;
  closed: boolean;
}

/** A receiver that answers only once it has read max_body_bytes + 1 gets the body after this long without an answer. */
const HEAD_FIRST_WAIT_MS = 2_000;

/**
 * Declares DECLARED_BYTES and waits for the answer before sending any body byte (a receiver answering from the
 * declared length has nothing unread when it closes, so no reset can destroy its 413 in flight), then writes as fast
 * as the socket takes them until it is closed, the bound is passed, or time is up.
 */
export function streamHugeBody(baseUrl: string, path: string, headers: Record<string, string>): Promise<StreamOutcome> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    // Under --tls the endpoint is https: the same bytes go through TLS, trusting only the run's CA.
    const sock: Socket = url.protocol === "https:"
      ? tlsConnect({ host: url.hostname, port: Number(url.port || 443), ca: runTls()?.caPem })
      : connect(Number(url.port || 80), url.hostname);
    let head = "";
    let done = false;
    let pumping = false;
    const accepted = (): number => sock.bytesWritten - sock.writableLength;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      const got = Math.max(0, accepted() - headerBytes);
      sock.destroy();
      resolve({ head, accepted: got, closed });
    };
    timers.push(setTimeout(() => finish(false), 15_000));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      pumping = true;
      while (!done && sent < DECLARED_BYTES) {
        if (accepted() - headerBytes > SIGN50_MAX_ACCEPTED) return finish(false);
        sent += chunk.length;
        if (!sock.write(chunk)) return void sock.once("drain", pump);
      }
    };
    sock.on("data", (d: Buffer) => {
      const first = !head.includes("\r\n\r\n");
      if (head.length < 4096) head += d.toString("latin1");
      if (first && head.includes("\r\n\r\n")) {
        timers.push(setTimeout(() => finish(false), CLOSE_WITHIN_MS));
        if (!pumping) pump();
      }
    });
    sock.on("end", () => finish(true));
    sock.on("close", () => finish(true));
    sock.on("error", () => finish(true));
    const lines = [`PUT ${path} HTTP/1.1`, `host: ${url.host}`, `content-length: ${DECLARED_BYTES}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    const text = lines.join("\r\n") + "\r\n\r\n";
    const headerBytes = Buffer.byteLength(text);
    sock.write(text);
    timers.push(setTimeout(() => !pumping && !done && pump(), HEAD_FIRST_WAIT_MS));
  });
}

const refusedBodyNotRead = edge(
  "adv/limits/refused-body-not-read",
  `a signed PUT declaring a ${DECLARED_BYTES / 1024 / 1024} MiB body, streamed: 413 SMCP_TOO_LARGE with Connection: close, and the connection closed before ${SIGN50_MAX_ACCEPTED / 1024 / 1024} MiB are taken`,
  ["SIGN-50", "SIGN-30"],
  async (ctx, role) => {
    const t = known(ctx, role);
    const path = sendPath(ctx);
    const auth = ctx.fake.authHeader(t.name, { method: "PUT", path, rawBody: Buffer.alloc(0) });
    const out = await streamHugeBody(t.discovery.endpoint, path, { "content-type": "application/json", "x-smcp-authorization": auth });
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(out.head)?.[1];
    ensure(status === "413", "a declared 100 MiB body was not refused with 413", "413 SMCP_TOO_LARGE", out.head.split("\r\n")[0] || "(no answer)");
    ensure(/"errcode"\s*:\s*"SMCP_TOO_LARGE"/.test(out.head), "the 413 does not carry errcode SMCP_TOO_LARGE", "SMCP_TOO_LARGE", out.head.slice(0, 400));
    ensure(/\r\nconnection:\s*close\r\n/i.test(out.head), "the 413 does not say Connection: close (SIGN-50)", "Connection: close", out.head.split("\r\n\r\n")[0]);
    ensure(out.accepted <= SIGN50_MAX_ACCEPTED, "the instance kept reading the refused body (SIGN-50)", `connection closed before ${SIGN50_MAX_ACCEPTED} bytes`, `${out.accepted} bytes taken`);
    ensure(out.closed, `the connection stayed open after the 413 (${CLOSE_WITHIN_MS} ms)`, "the instance closes the connection", "still open");
    ctx.note(`413 and close after ${(out.accepted / 1024 / 1024).toFixed(1)} MiB taken by the socket`);
  },
);

// ---- KEY-26: files under the data directory are private ----

/** Every path under `dir` (files and directories) whose mode gives group or other any access. */
export function nonPrivateFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      if ((st.mode & 0o077) !== 0) out.push(`${p} ${(st.mode & 0o777).toString(8).padStart(4, "0")}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Thrown where the harness cannot observe a requirement in this deployment: reported "not testable", never "pass". */
function notTestable(message: string): CheckFailure {
  return new CheckFailure(`not testable: ${message}`, undefined, undefined, "prerequisite");
}

export const privateFiles = perTarget((role) => ({
  id: "adv/keys/private-files",
  name: "every file the instance wrote under its data directory (which the harness made 0755) is unreadable and unwritable by group and other",
  requirements: ["KEY-26"],
  level: "MUST" as const,
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx: CheckContext) {
    const dir = target(ctx, role).dataDir;
    if (!dir) throw notTestable(`${role} was given by URL; only an instance the harness starts (reference, --${role}-cmd) has a data directory the harness can read`);
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch (err) {
      throw notTestable(`the data directory ${dir} cannot be read: ${(err as Error).message}`);
    }
    ensure(files.length > 0, "the instance wrote nothing under its data directory ({data})", "its database, key and logs", "an empty directory");
    const open = nonPrivateFiles(dir);
    if (open.length > 0) fail(`${open.length} files under the data directory are readable or writable by group or other (KEY-26)`, "mode & 077 == 0 for every file", open.join("\n"));
    ctx.note(`${files.length} entries at the top of ${dir}, all private`);
  },
}));

// ---- EVT-20: over-deep event data refused before sequencing (pending, see exclusions.ts) ----

export const hardeningChecks: Check[] = [...depthLimit, ...refusedBodyNotRead];
/** At the end of the run: the burst empties the client address's unauthenticated budget for several seconds. */
export const lateHardeningChecks: Check[] = [...unmappedLoopback];


