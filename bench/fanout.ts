// Benchmarks: Naomi event fan-out (figure 2) — one hub sequences events published through its control API and
// delivers them to N participant instances; measured until every participant has persisted every event.
import type { Dispatcher } from "undici";
import type { ChannelInfo, EventList, PublishResult } from "../protocol/types.ts";
import { controlPool, countLogLines, DEPLOYMENT_NOTE, expectOk, mapHosts, removeScratch, scratchDir, spawnInstance, spawnMany, stopAll, cpuSeconds, monotonicUs, recordProfileWindow, type RunningInstance } from "./instances.ts";
import type { FanoutResult, FanoutScenario } from "./results.ts";
import { summarise } from "./stats.ts";
import { loadavg1 } from "./results.ts";

export interface FanoutOptions {
  sizes: number[];
  events: number;
  /** Publish requests in flight at once. */
  concurrency: number;
  /** Each scenario stops by itself after this long (publish + delivery). */
  capMs: number;
  /** Runs of every size (fresh instances each time). */
  runs: number;
}

/** Spawning 21 processes at once on 2 cores mostly measures tsx start-up contention; start a few at a time. */
const SPAWN_BATCH = 6;
const POLL_WAIT_MS = 1_000;

export function fanoutHow(concurrency: number): string {
  return (
    `${DEPLOYMENT_NOTE}; hub and participants without vikunja (config includeVikunja:false), default limits and rate limits; ` +
    `${concurrency} publish requests in flight on the hub's control API; each participant long-polls ` +
    "GET /control/v1/channels/{ch}/events?after=<local_seq>&limit=1&wait_ms=1000 and its answer's local_seq (contiguous events committed to " +
    "SQLite) marks delivery; latency = publish request sent → first long-poll answer with local_seq ≥ seq, per event per participant"
  );
}

export async function benchFanout(opts: FanoutOptions): Promise<FanoutResult> {
  const scenarios: FanoutScenario[] = [];
  // Sizes interleaved across runs (1, 5, 20, 1, 5, 20, …) so a burst of outside load does not hit one size only.
  for (let run = 1; run <= opts.runs; run++) for (const n of opts.sizes) scenarios.push({ ...(await scenario(n, opts)), run });
  const bySize = opts.sizes.map((n) => {
    const runs = scenarios.filter((s) => s.participants === n);
    const cpu = runs.flatMap((s) => (s.cpu_us ? [s.cpu_us] : []));
    return {
      participants: n, runs: runs.length, delivered_per_s: summarise(runs.map((s) => s.delivered_per_s)),
      published_per_s: summarise(runs.map((s) => s.published_per_s)), latency_p99_ms: summarise(runs.map((s) => s.latency_ms.p99)),
      hub_us_per_event: summarise(cpu.map((c) => c.hub_per_event)), participant_us_per_delivery: summarise(cpu.map((c) => c.participant_per_delivery)),
      any_timed_out: runs.some((s) => s.timed_out),
    };
  });
  return {
    how: fanoutHow(opts.concurrency), concurrency: opts.concurrency, cap_s: opts.capMs / 1000, runs: opts.runs, by_size: bySize,
    hub_cpu_model: hubCpuModel(bySize.filter((b) => b.hub_us_per_event.runs > 0).map((b) => ({ participants: b.participants, us: b.hub_us_per_event.p50 }))),
    scenarios,
  };
}

/**
 * The hub's CPU per event as fixed + per-destination cost: a least-squares line through the per-size medians
 * (µs per event against participants). Null with fewer than two sizes: one point does not separate the two.
 */
export function hubCpuModel(points: Array<{ participants: number; us: number }>): FanoutResult["hub_cpu_model"] {
  const sizes = new Set(points.map((p) => p.participants));
  if (sizes.size < 2) return null;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.participants, 0) / n;
  const my = points.reduce((a, p) => a + p.us, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.participants - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.participants - mx) * (p.us - my), 0);
  const perDestination = sxy / sxx;
  return { fixed_us_per_event: my - perDestination * mx, per_destination_us: perDestination, points };
}

interface Observation {
  t: number;
  seq: number;
}

async function scenario(participants: number, opts: FanoutOptions): Promise<Omit<FanoutScenario, "run">> {
  const root = scratchDir(`fanout${participants}`);
  const loadavg = loadavg1();
  const pool = controlPool(opts.concurrency + 2);
  const started: RunningInstance[] = [];
  try {
    const t0 = performance.now();
    const { hub, members } = await startDeployment(root, participants, pool, started);
    const startupS = (performance.now() - t0) / 1000;
    const channel = await setUpChannel(hub, members);
    const run = await drive(hub, members, channel, opts);
    await stopAll(started); // flushes the hub's log before it is read
    const figures = measure(participants, opts.events, run.baseSeq, startupS, run.state, run.sentAt, run.observations, hub.logFile);
    return { loadavg_1m_before: loadavg, ...figures, cpu_s: run.cpu, ...(run.cpu ? { cpu_us: perEvent(run.cpu, figures) } : {}) };
  } finally {
    await stopAll(started);
    await pool.close();
    removeScratch(root);
  }
}

/** The hub, then the participants a few at a time; every started process lands in `started` for the caller to stop. */
async function startDeployment(root: string, participants: number, pool: Dispatcher, started: RunningInstance[]) {
  // Participants accept the hub's invite as an operator would configure it (spec §9.1 CHAN-26).
  const config = { includeVikunja: false, validateResponses: false, inviteAllowList: ["hub.example"] };
  const hub = (await spawnMany(started, [() => spawnInstance(root, "hub.example", config, pool)]))[0]!;
  const names = Array.from({ length: participants }, (_, i) => `p${i + 1}.example`);
  for (let i = 0; i < names.length; i += SPAWN_BATCH) {
    await spawnMany(started, names.slice(i, i + SPAWN_BATCH).map((name) => () => spawnInstance(root, name, config, pool)));
  }
  return { hub, members: started.slice(1) };
}

/** The measured window: publish everything while every participant is followed, until all hold it or the cap passes. */
async function drive(hub: RunningInstance, members: RunningInstance[], channel: string, opts: FanoutOptions) {
  const baseSeq = 1 + members.length;
  const deadline = performance.now() + opts.capMs;
  const sentAt = new Map<number, number>();
  const observations = members.map(() => [] as Observation[]);
  const state = { published: 0, finalSeq: Number.POSITIVE_INFINITY, lastAck: 0, firstSent: 0 };
  const readers = Promise.all(members.map((m, i) => follow(m, channel, baseSeq, observations[i]!, () => state.finalSeq, deadline)));
  readers.catch(() => undefined); // awaited below; this only keeps a publish failure from leaving it unhandled
  const cpuBefore = cpuSnapshot(hub, members);
  const windowStart = monotonicUs();
  state.firstSent = performance.now();
  try {
    await publishAll(hub, channel, opts, deadline, sentAt, state);
  } finally {
    // Readers stop at the final seq; after a failed publish that is what was published so far.
    state.finalSeq = baseSeq + state.published;
  }
  await readers;
  recordProfileWindow(`fanout ${members.length}`, windowStart, monotonicUs());
  const cpu = cpuUsed(cpuBefore, cpuSnapshot(hub, members), (performance.now() - state.firstSent) / 1000);
  return { baseSeq, state, sentAt, observations, cpu };
}

/** Host mappings both ways, the channel on the hub, and every participant invited and caught up on the joins. */
async function setUpChannel(hub: RunningInstance, members: RunningInstance[]): Promise<string> {
  await mapHosts(hub, members);
  for (const m of members) await mapHosts(m, [hub]);
  const channel = expectOk<ChannelInfo>(await hub.control("POST", "/control/v1/channels", { name: "bench" }), "create channel").channel;
  for (const m of members) expectOk(await hub.control("POST", `/control/v1/channels/${encodeURIComponent(channel)}/invites`, { server: m.name }), `invite ${m.name}`);
  const joined = 1 + members.length;
  await Promise.all(members.map(async (m) => {
    let seen = 0;
    const until = performance.now() + 30_000;
    while (seen < joined) {
      if (performance.now() > until) throw new Error(`${m.name} did not receive the ${joined} setup events (has ${seen})`);
      seen = (await read(m, channel, seen)).local_seq;
    }
  }));
  return channel;
}

function read(m: RunningInstance, channel: string, after: number): Promise<EventList> {
  return m.control("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events?after=${after}&limit=1&wait_ms=${POLL_WAIT_MS}`)
    .then((r) => expectOk<EventList>(r, `${m.name} read`));
}

/** Long-polls one participant, noting when its local_seq moves, until it holds the final seq or the cap passes. */
async function follow(m: RunningInstance, channel: string, from: number, obs: Observation[], finalSeq: () => number, deadline: number): Promise<void> {
  let seen = from;
  while (seen < finalSeq() && performance.now() < deadline) {
    const page = await read(m, channel, seen);
    if (page.local_seq > seen) {
      obs.push({ t: performance.now(), seq: page.local_seq });
      seen = page.local_seq;
    }
  }
}

/** Publishes `events` events with `concurrency` requests in flight; records when each seq's request was sent. */
async function publishAll(
  hub: RunningInstance,
  channel: string,
  opts: FanoutOptions,
  deadline: number,
  sentAt: Map<number, number>,
  state: { published: number; lastAck: number },
): Promise<void> {
  const path = `/control/v1/channels/${encodeURIComponent(channel)}/events`;
  let next = 0;
  const worker = async () => {
    while (next < opts.events && performance.now() < deadline) {
      const n = next++;
      const t = performance.now();
      const r = await hub.control("POST", path, { type: "bench:tick", data: { n, note: "fan-out benchmark event" } });
      const result = expectOk<PublishResult>(r, `publish ${n}`);
      sentAt.set(result.seq, t);
      state.published++;
      state.lastAck = performance.now();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
}

/** CPU µs of the hub per published event and of all participants per delivered event (event × participant). */
function perEvent(cpu: NonNullable<FanoutScenario["cpu_s"]>, f: { published: number; delivered_all: number; participants: number }): NonNullable<FanoutScenario["cpu_us"]> {
  return { hub_per_event: (cpu.hub / f.published) * 1e6, participant_per_delivery: (cpu.participants / (f.delivered_all * f.participants)) * 1e6 };
}

interface CpuSnapshot {
  hub?: number;
  participants?: number;
  bench: number;
}

/** CPU seconds used so far by the hub, all participants together, and this bench process. */
function cpuSnapshot(hub: RunningInstance, members: RunningInstance[]): CpuSnapshot {
  const each = members.map((m) => cpuSeconds(m.pid));
  const usage = process.cpuUsage();
  return {
    hub: cpuSeconds(hub.pid),
    participants: each.some((x) => x === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0),
    bench: (usage.user + usage.system) / 1e6,
  };
}

function cpuUsed(before: CpuSnapshot, after: CpuSnapshot, wall: number): FanoutScenario["cpu_s"] {
  if (before.hub === undefined || after.hub === undefined || before.participants === undefined || after.participants === undefined) return undefined;
  return { wall, hub: after.hub - before.hub, participants: after.participants - before.participants, bench: after.bench - before.bench };
}

function measure(
  participants: number,
  events: number,
  baseSeq: number,
  startupS: number,
  state: { published: number; finalSeq: number; lastAck: number; firstSent: number },
  sentAt: Map<number, number>,
  observations: Observation[][],
  hubLog: string,
): Omit<FanoutScenario, "cpu_s" | "loadavg_1m_before" | "run"> {
  const doneAt = observations.map((obs) => obs.find((o) => o.seq >= state.finalSeq)?.t);
  const deliveredAll = Math.min(...observations.map((obs) => (obs.at(-1)?.seq ?? baseSeq) - baseSeq));
  const timedOut = doneAt.some((t) => t === undefined);
  const end = timedOut ? Math.max(...observations.map((o) => o.at(-1)?.t ?? state.firstSent)) : Math.max(...(doneAt as number[]));
  const seconds = (end - state.firstSent) / 1000;
  const latencies: number[] = [];
  for (const obs of observations) {
    let k = 0;
    for (let seq = baseSeq + 1; seq <= state.finalSeq && k < obs.length; seq++) {
      while (k < obs.length && obs[k]!.seq < seq) k++;
      const sent = sentAt.get(seq);
      if (k < obs.length && sent !== undefined) latencies.push(obs[k]!.t - sent);
    }
  }
  const doneS = doneAt.filter((t): t is number => t !== undefined).map((t) => (t - state.firstSent) / 1000);
  return {
    participants, events, published: state.published, timed_out: timedOut, startup_s: startupS,
    publish_s: (state.lastAck - state.firstSent) / 1000,
    published_per_s: state.published / ((state.lastAck - state.firstSent) / 1000),
    delivered_per_s: deliveredAll / seconds,
    deliveries_per_s: (deliveredAll * participants) / seconds,
    delivered_all: deliveredAll,
    latency_ms: summarise(latencies),
    participant_done_s: { min: doneS.length ? Math.min(...doneS) : NaN, max: doneS.length ? Math.max(...doneS) : NaN },
    hub_log: {
      queue_suspensions: countLogLines(hubLog, "outbound queue over its bound"),
      failed_transactions: countLogLines(hubLog, "transaction failed"),
    },
  };
}
