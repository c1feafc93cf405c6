// Benchmarks: Roshumba remote tool call round trip (figure 1) — client → Alice control API → signed federation call →
// Bob → Bob's vikunja MCP component → back — against the floor of one unsigned echo on the same HTTP stack.
import { readFileSync } from "node:fs";
import type { Dispatcher } from "undici";
import { createDispatcher, sendRaw, type HttpAnswer } from "../protocol/http-client.ts";
import type { RemoteCallResult } from "../protocol/types.ts";
import { controlPool, DEPLOYMENT_NOTE, expectOk, mapHosts, removeScratch, scratchDir, spawnEcho, spawnInstance, spawnMany, stopAll, type ConfigFile, type RunningInstance } from "./instances.ts";
import { loadavg1, type CallResult } from "./results.ts";
import { summarise, type Summary } from "./stats.ts";

export interface CallOptions {
  warmup: number;
  samples: number;
  /** Calls and echoes alternate in blocks of this size, so both see the same machine load. */
  block: number;
}

/** The default 200 req/s per origin (burst 400) would throttle a back-to-back call loop; latency, not policy, is measured. */
const NO_THROTTLE = { perSecond: 1_000_000, burst: 1_000_000 };
const TARGET = "smcp://bob.example/vikunja";

export const CALL_HOW =
  `${DEPLOYMENT_NOTE}; alice (no vikunja) and bob (vikunja MCP component over stdio, --call-allow alice.example); ` +
  "validateResponses off (as in production), federation rate limit raised to 1e6/s; one call at a time from the bench process over " +
  "protocol/http-client.ts sendRaw; the floor is bench/echo-server.ts (node:http + readBody, separate process) echoing the same body " +
  "through the same sendRaw client; calls, echoes and local calls (the same tool through bob's own control API, no federation hop) " +
  "alternate in blocks";

export async function benchCall(opts: CallOptions): Promise<CallResult> {
  const root = scratchDir("call");
  const loadavg = loadavg1();
  const pool = controlPool(8);
  const floorPool = createDispatcher({ connections: 8 });
  const started: RunningInstance[] = [];
  let echo: Awaited<ReturnType<typeof spawnEcho>> | undefined;
  try {
    const base: ConfigFile = { rateLimit: NO_THROTTLE, validateResponses: false };
    const [alice, bob] = await spawnMany(started, [
      () => spawnInstance(root, "alice.example", { ...base, includeVikunja: false }, pool),
      () => spawnInstance(root, "bob.example", { ...base, includeVikunja: true, callAllowList: ["alice.example"] }, pool),
    ]);
    if (!alice || !bob) throw new Error("instances did not start");
    echo = await spawnEcho();
    await mapHosts(alice, [bob]);
    await mapHosts(bob, [alice]);
    await seedTasks(alice);
    const body = Buffer.from(JSON.stringify({ target: TARGET, tool: "list_tasks", params: {} }));
    const p = probes(body, { pool, alice, bob }, { pool: floorPool, url: echo.url });
    const sample = expectOk<RemoteCallResult>(await p.call(), "first call");
    if (!Array.isArray((sample.result.structuredContent as { tasks?: unknown[] } | undefined)?.tasks)) {
      throw new Error(`list_tasks answered without tasks: ${JSON.stringify(sample).slice(0, 300)}`);
    }
    const responseBytes = (await p.call()).raw.length;
    const m = await measureInterleaved(p, opts);
    await stopAll(started); // flushes the instances' logs before reading their durations
    const roundTrip = summarise(m.call);
    const floorMs = summarise(m.floor);
    return {
      how: CALL_HOW, warmup: opts.warmup, loadavg_1m_before: loadavg, samples: m.call.length, errors: m.errors,
      request_bytes: body.length, response_bytes: responseBytes, round_trip_ms: roundTrip, floor_ms: floorMs,
      ratio_p50: roundTrip.p50 / floorMs.p50, ratio_p99: roundTrip.p99 / floorMs.p99,
      breakdown: {
        local_call_ms: summarise(m.local),
        alice_control_ms: handlerDurations(alice.logFile, "/control/v1/calls", m.call.length),
        bob_federation_ms: handlerDurations(bob.logFile, "/federation/v1/call", m.call.length),
      },
    };
  } finally {
    await stopAll(started);
    await echo?.stop();
    await Promise.all([pool.close(), floorPool.close()]);
    removeScratch(root);
  }
}

type Probe = () => Promise<HttpAnswer>;

interface Probes {
  /** The measured call: client → Alice → Bob → vikunja. */
  call: Probe;
  /** The same body echoed by bench/echo-server.ts. */
  floor: Probe;
  /** The same tool through Bob's own control API: no federation hop (Roshumba's local path), for the breakdown. */
  local: Probe;
}

function probes(body: Buffer, inst: { pool: Dispatcher; alice: RunningInstance; bob: RunningInstance }, echo: { pool: Dispatcher; url: string }): Probes {
  const post = (pool: Dispatcher, url: string, token: string): Probe => {
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    return () => sendRaw(pool, url, { method: "POST", headers, body, timeoutMs: 40_000 });
  };
  return {
    call: post(inst.pool, `${inst.alice.url}/control/v1/calls`, inst.alice.token),
    floor: post(echo.pool, `${echo.url}/control/v1/calls`, inst.alice.token),
    local: post(inst.pool, `${inst.bob.url}/control/v1/calls`, inst.bob.token),
  };
}

/** Warm-up, then calls, echoes and local calls in alternating blocks so that all three see the same machine load. */
async function measureInterleaved(p: Probes, opts: CallOptions): Promise<{ call: number[]; floor: number[]; local: number[]; errors: number }> {
  for (const probe of [p.call, p.floor, p.local]) await timed(probe, opts.warmup);
  const out = { call: [] as number[], floor: [] as number[], local: [] as number[], errors: 0 };
  for (let done = 0; done < opts.samples; done += opts.block) {
    const n = Math.min(opts.block, opts.samples - done);
    for (const k of ["call", "floor", "local"] as const) {
      const r = await timed(p[k], n);
      out[k].push(...r.ms);
      out.errors += r.errors;
    }
  }
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
