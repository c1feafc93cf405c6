// Benchmarks: Roshumba remote tool call (figure 1) — what federation adds to a tool call: a federated call (client →
// Alice → signed federation call → Bob → Bob's vikunja MCP component → back) against the same tool called locally
// through Bob's control API, and one signed hop against the same hop unsigned on the reference HTTP edge (spec §5, §10).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Dispatcher } from "undici";
import { encodeBase64Url } from "../protocol/base64url.ts";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import { generateSeed, signingKeyFromSeed } from "../protocol/keys.ts";
import { AUTH_HEADER, signRequest } from "../protocol/signing.ts";
import type { RemoteCallResult } from "../protocol/types.ts";
import { controlPool, DEPLOYMENT_NOTE, expectOk, mapHosts, removeScratch, scratchDir, monotonicUs, recordProfileWindow, spawnHopServer, spawnInstance, spawnMany, stopAll, type ConfigFile, type RunningInstance } from "./instances.ts";
import { loadavg1, type CallResult } from "./results.ts";
import { summarise, type Summary } from "./stats.ts";

export interface CallOptions {
  warmup: number;
  samples: number;
  /** The four probes alternate in blocks of this size, so all see the same machine load. */
  block: number;
}

/** The default 200 req/s per origin (burst 400) would throttle a back-to-back call loop; latency, not policy, is measured. */
const NO_THROTTLE = { perSecond: 1_000_000, burst: 1_000_000 };
const TARGET = "smcp://bob.example/vikunja";

export const CALL_HOW =
  `${DEPLOYMENT_NOTE}; alice (no vikunja) and bob (vikunja MCP component over stdio, --call-allow alice.example); ` +
  "validateResponses off (as in production), federation rate limit raised to 1e6/s; one request at a time from the bench process over " +
  "protocol/http-client.ts sendRaw. Federated call: client → alice's control API → signed POST /federation/v1/call → bob → vikunja; " +
  "local call: the same tool through bob's own control API. Hops: bench/hop-server.ts (a separate process running the reference's " +
  "HTTP edge, reference-impl/http/server.ts) answering a RemoteCall body on a federation route (client signs with protocol/signing.ts, " +
  "edge authenticates: header grammar, key lookup, Ed25519 verify, replay cache, rate limit) and on an unsigned route (same parsing, " +
  "schema validation and answer). The four probes alternate in blocks";

export async function benchCall(opts: CallOptions): Promise<CallResult> {
  const root = scratchDir("call");
  const loadavg = loadavg1();
  const pool = controlPool(8);
  const hopPool = createDispatcher({ connections: 8 });
  const started: RunningInstance[] = [];
  let hop: Awaited<ReturnType<typeof spawnHopServer>> | undefined;
  try {
    const base: ConfigFile = { rateLimit: NO_THROTTLE, validateResponses: false };
    const [alice, bob] = await spawnMany(started, [
      () => spawnInstance(root, "alice.example", { ...base, includeVikunja: false }, pool),
      () => spawnInstance(root, "bob.example", { ...base, includeVikunja: true, callAllowList: ["alice.example"] }, pool),
    ]);
    if (!alice || !bob) throw new Error("instances did not start");
    const signer = signingKeyFromSeed(generateSeed());
    hop = await spawnHopServer([HOP_SELF, HOP_ORIGIN, signer.keyId, encodeBase64Url(signer.publicKey), join(root, "hop")]);
    await mapHosts(alice, [bob]);
    await mapHosts(bob, [alice]);
    await seedTasks(alice);
    const body = Buffer.from(JSON.stringify({ target: TARGET, tool: "list_tasks", params: {} }));
    const p = probes(body, { pool, alice, bob }, { pool: hopPool, url: hop.url, sign: (parts) => signRequest(signer, { ...parts, origin: HOP_ORIGIN, destination: HOP_SELF }) });
    const sample = expectOk<RemoteCallResult>(await p.call(), "first call");
    if (!Array.isArray((sample.result.structuredContent as { tasks?: unknown[] } | undefined)?.tasks)) {
      throw new Error(`list_tasks answered without tasks: ${JSON.stringify(sample).slice(0, 300)}`);
    }
    for (const k of ["signedHop", "unsignedHop"] as const) expectOk(await p[k](), `first ${k}`);
    const responseBytes = (await p.call()).raw.length;
    const m = await measureInterleaved(p, opts);
    await stopAll(started); // flushes the instances' logs before reading their durations
    const [federated, local, signed, unsigned] = [m.call, m.local, m.signedHop, m.unsignedHop].map(summarise) as [Summary, Summary, Summary, Summary];
    return {
      how: CALL_HOW, warmup: opts.warmup, loadavg_1m_before: loadavg, samples: m.call.length, errors: m.errors,
      request_bytes: body.length, response_bytes: responseBytes,
      federated_ms: federated, local_ms: local, federated_vs_local: { p50: federated.p50 / local.p50, p99: federated.p99 / local.p99 },
      hop_signed_ms: signed, hop_unsigned_ms: unsigned, hop_request_bytes: HOP_BODY.length,
      signed_vs_unsigned: { p50: signed.p50 / unsigned.p50, p99: signed.p99 / unsigned.p99 },
      breakdown: {
        alice_control_ms: handlerDurations(alice.logFile, "/control/v1/calls", m.call.length),
        bob_federation_ms: handlerDurations(bob.logFile, "/federation/v1/call", m.call.length),
      },
    };
  } finally {
    await stopAll(started);
    await hop?.stop();
    await Promise.all([pool.close(), hopPool.close()]);
    removeScratch(root);
  }
}

const HOP_SELF = "bob.example";
const HOP_ORIGIN = "alice.example";
/** The body of the hop probes: what Alice sends Bob for the measured call (a fixed call_id: the hop server keeps no record). */
const HOP_BODY = Buffer.from(JSON.stringify({ origin: HOP_ORIGIN, call_id: "bench-hop-0000000001", target: TARGET, tool: "list_tasks", params: {} }));

type Probe = () => Promise<HttpAnswer>;

interface Probes {
  /** The measured call: client → Alice → Bob → vikunja. */
  call: Probe;
  /** The same tool through Bob's own control API: no federation hop (Roshumba's local path). */
  local: Probe;
  /** HOP_BODY to the hop server's federation route, signed per request as Alice signs it. */
  signedHop: Probe;
  /** HOP_BODY to the hop server's unsigned route: the same edge without authentication. */
  unsignedHop: Probe;
}

type Signer = (parts: { method: string; uri: string; body: Uint8Array }) => string;

function probes(body: Buffer, inst: { pool: Dispatcher; alice: RunningInstance; bob: RunningInstance }, hop: { pool: Dispatcher; url: string; sign: Signer }): Probes {
  const post = (pool: Dispatcher, url: string, token: string): Probe => {
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    return () => sendRaw(pool, url, { method: "POST", headers, body, timeoutMs: 40_000 });
  };
  const json = { "content-type": "application/json" };
  const signedPath = "/federation/v1/call";
  return {
    call: post(inst.pool, `${inst.alice.url}/control/v1/calls`, inst.alice.token),
    local: post(inst.pool, `${inst.bob.url}/control/v1/calls`, inst.bob.token),
    // Signing is part of the hop: a fresh ts and nonce per request, as a sender must (spec §5.2).
    signedHop: () => sendRaw(hop.pool, hop.url + signedPath, {
      method: "POST", body: HOP_BODY, timeoutMs: 40_000,
      headers: { ...json, [AUTH_HEADER]: hop.sign({ method: "POST", uri: signedPath, body: HOP_BODY }) },
    }),
    unsignedHop: () => sendRaw(hop.pool, `${hop.url}/bench/v1/unsigned-call`, { method: "POST", body: HOP_BODY, timeoutMs: 40_000, headers: json }),
  };
}

const PROBES = ["call", "local", "signedHop", "unsignedHop"] as const;
type Samples = Record<(typeof PROBES)[number], number[]> & { errors: number };

/** Warm-up, then the four probes in alternating blocks so that all see the same machine load. */
async function measureInterleaved(p: Probes, opts: CallOptions): Promise<Samples> {
  for (const k of PROBES) await timed(p[k], opts.warmup);
  const windowStart = monotonicUs();
  const out: Samples = { call: [], local: [], signedHop: [], unsignedHop: [], errors: 0 };
  for (let done = 0; done < opts.samples; done += opts.block) {
    const n = Math.min(opts.block, opts.samples - done);
    for (const k of PROBES) {
      const r = await timed(p[k], n);
      out[k].push(...r.ms);
      out.errors += r.errors;
    }
  }
  recordProfileWindow("call", windowStart, monotonicUs());
  return out;
}

/** A few tasks on Bob's vikunja so that list_tasks answers a realistic, non-empty payload. */
async function seedTasks(alice: RunningInstance): Promise<void> {
  for (const title of ["Make bread", "Federate the calendars", "Water the plants"]) {
    expectOk(await alice.control("POST", "/control/v1/calls", { target: TARGET, tool: "create_task", params: { title } }), "create_task");
  }
}

/** Runs `fn` n times back to back; one latency sample (ms) per 200 answer, other answers counted as errors. */
async function timed(fn: () => Promise<HttpAnswer>, n: number): Promise<{ ms: number[]; errors: number }> {
  const ms: number[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const answer = await fn();
    const elapsed = performance.now() - t;
    if (answer.status === 200) ms.push(elapsed);
    else errors++;
  }
  return { ms, errors };
}

/** The last `n` `duration_ms` values the instance logged for `path` (its own view of the handler time). */
function handlerDurations(logFile: string, path: string, n: number): Summary {
  const durations: number[] = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes(`"path":"${path}"`)) continue;
    try {
      const rec = JSON.parse(line) as { msg?: string; status?: number; duration_ms?: number };
      if (rec.msg === "request" && rec.status === 200 && typeof rec.duration_ms === "number") durations.push(rec.duration_ms);
    } catch {
      // A torn last line of an asynchronously written log is skipped.
    }
  }
  return summarise(durations.slice(-n));
}
