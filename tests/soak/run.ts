// Soak run of the reference instance (Naomi delivery, Roshumba calls, all components): three `smcp serve` processes
// on loopback under sustained publishing from all three and remote calls, for a bounded time. Counts every event sent
// and received per member; exits non-zero on any drop or duplicate. Usage: npm run soak -- [--seconds 60] [--rate 20]
// [--call-rate 2] [--chaos-every S] (kill -9 and restart carol, a participant only, every S seconds)
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { removeDir, tempDir } from "../support/temp-dir.ts";
import { freePort, InstanceProcess, procEvents, procLocalSeq } from "../support/process.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" }, rate: { type: "string", default: "20" }, "call-rate": { type: "string", default: "2" },
    "chaos-every": { type: "string", default: "0" },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate); // publishes per second, per instance
const CALL_RATE = Number(values["call-rate"]); // remote calls per second, all instances together
const CHAOS_EVERY_S = Number(values["chaos-every"]);
let kills = 0;
if (!(SECONDS > 0) || !(RATE > 0) || !(CALL_RATE >= 0)) throw new Error("--seconds and --rate must be positive numbers");

const NAMES = ["alice", "bob", "carol"] as const;
const CHANNELS = ["!soak-a:alice.example", "!soak-b:bob.example"]; // two hubs
const wait = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

interface Published {
  channel: string;
  key: string;
  outcome: "acked" | "queued" | "failed";
}

/** Receipts: member → channel → key → count; and every delivery latency in ms. */
const receipts = new Map<string, Map<string, Map<string, number>>>();
const latencies: number[] = [];
/** Worst delivery latency per member ← publisher, to show where a slow tail comes from. */
const worst = new Map<string, number>();
const published: Published[] = [];
const calls = { ok: 0, failed: 0, latencies: [] as number[] };
const peakKiB = new Map<string, number>();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function startCluster(root: string): Promise<InstanceProcess[]> {
  const ports = await Promise.all(NAMES.map(() => freePort()));
  const url = (i: number) => `http://127.0.0.1:${ports[i]}`;
  return Promise.all(NAMES.map((n, i) => {
    const dataDir = join(root, n);
    mkdirSync(dataDir, { recursive: true });
    const peers = Object.fromEntries(NAMES.map((m, j) => [`${m}.example`, url(j)]).filter(([m]) => m !== `${n}.example`));
    return InstanceProcess.start({ name: `${n}.example`, port: ports[i]!, dataDir, peers, config: { includeVikunja: true, logLevel: "warn", logDestination: join(root, `${n}.log`) } });
  }));
}

async function setUpChannels(procs: InstanceProcess[]): Promise<void> {
  for (const channel of CHANNELS) {
    const hub = procs.find((p) => channel.endsWith(`:${p.name}`))!;
    const created = await hub.control("POST", "/control/v1/channels", { name: channel.slice(1, channel.indexOf(":")) });
    if (created.status !== 201) throw new Error(`create ${channel}: ${created.status}`);
    for (const p of procs) {
      if (p === hub) continue;
      const invited = await hub.control("POST", `/control/v1/channels/${encodeURIComponent(channel)}/invites`, { server: p.name });
      if ((invited.body as { accepted?: boolean }).accepted !== true) throw new Error(`invite ${p.name} to ${channel} failed`);
    }
  }
}

/**
 * Publishes at RATE per second, alternating channels, until `until`; up to MAX_INFLIGHT publishes overlap so a slow
 * answer does not lower the offered load (ticks that find them all busy are counted as skipped).
 */
const MAX_INFLIGHT = 16;
let skippedTicks = 0;
async function publisher(p: InstanceProcess, until: number): Promise<void> {
  let n = 0;
  let next = Date.now();
  const inflight = new Set<Promise<void>>();
  while (Date.now() < until) {
    if (inflight.size < MAX_INFLIGHT) {
      const channel = CHANNELS[n % CHANNELS.length]!;
      const key = `${p.name}#${n++}`;
      const one = publishOne(p, channel, key).finally(() => inflight.delete(one));
      inflight.add(one);
    } else skippedTicks++;
    next += 1000 / RATE;
    await wait(next - Date.now());
  }
  await Promise.all(inflight);
}

async function publishOne(p: InstanceProcess, channel: string, key: string): Promise<void> {
  let outcome: Published["outcome"] = "failed";
  try {
    const r = await p.control("POST", `/control/v1/channels/${encodeURIComponent(channel)}/events`, {
      type: "soak:msg", data: { key, sent_at: Date.now() },
    }, 10_000);
    outcome = r.status === 200 ? "acked" : r.status === 502 ? "queued" : "failed";
  } catch {
    outcome = "failed";
  }
  published.push({ channel, key, outcome });
}

/** Reads every event of a channel on one member by long-poll, recording receipts and latencies. */
async function reader(p: InstanceProcess, channel: string, stop: () => boolean): Promise<void> {
  let after = 0;
  const counts = receipts.get(p.name)!.get(channel)!;
  while (!stop()) {
    let r;
    try {
      r = await p.control("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events?after=${after}&limit=1000&wait_ms=500`);
    } catch {
      await wait(100); // the member is being restarted (--chaos-every)
      continue;
    }
    const now = Date.now();
    for (const e of (r.body as { events: Array<{ seq: number; type: string; data: { key?: string; sent_at?: number } }> }).events) {
      after = e.seq;
      if (e.type !== "soak:msg" || !e.data.key) continue;
      counts.set(e.data.key, (counts.get(e.data.key) ?? 0) + 1);
      const latency = now - (e.data.sent_at ?? now);
      latencies.push(latency);
      const route = `${e.data.key.split("#")[0]}->${p.name}`;
      worst.set(route, Math.max(worst.get(route) ?? 0, latency));
    }
  }
}

async function caller(procs: InstanceProcess[], until: number): Promise<void> {
  if (CALL_RATE === 0) return;
  let i = 0;
  let next = Date.now();
  while (Date.now() < until) {
    const from = procs[i % procs.length]!;
    const to = procs[(i + 1) % procs.length]!;
    const tool = i % 4 === 3 ? { tool: "list_tasks", params: {} } : { tool: "create_task", params: { title: `soak ${i}` } };
    i++;
    const started = Date.now();
    try {
      const r = await from.control("POST", "/control/v1/calls", { target: `smcp://${to.name}/vikunja`, ...tool, timeout_ms: 10_000 }, 20_000);
      if (r.status === 200 && (r.body as { result?: { isError?: boolean } }).result?.isError !== true) calls.ok++;
      else calls.failed++;
    } catch {
      calls.failed++;
    }
    calls.latencies.push(Date.now() - started);
    next += 1000 / CALL_RATE;
    await wait(next - Date.now());
  }
}

/** kill -9 carol (a participant of both channels) every CHAOS_EVERY_S seconds and start her again at once. */
async function chaos(procs: InstanceProcess[], until: number): Promise<void> {
  if (!(CHAOS_EVERY_S > 0)) return;
  const victim = procs.find((p) => p.name === "carol.example")!;
  for (let next = Date.now() + CHAOS_EVERY_S * 1000; next < until; next += CHAOS_EVERY_S * 1000) {
    await wait(next - Date.now());
    await victim.restart();
    kills++;
  }
}

async function sampleMemory(procs: InstanceProcess[], stop: () => boolean): Promise<void> {
  while (!stop()) {
    for (const p of procs) {
      const m = p.child.exitCode === null && p.child.signalCode === null ? p.memory() : undefined;
      // A process being killed can still have a /proc entry without memory figures: skip those samples.
      if (m && Number.isFinite(m.hwmKiB) && Number.isFinite(m.rssKiB)) peakKiB.set(p.name, Math.max(peakKiB.get(p.name) ?? 0, m.hwmKiB, m.rssKiB));
    }
    await wait(1000);
  }
}

/** After the load stops: every member reaches its hub's local_seq (bounded). */
async function converge(procs: InstanceProcess[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (const channel of CHANNELS) {
    const hub = procs.find((p) => channel.endsWith(`:${p.name}`))!;
    for (;;) {
      const target = await procLocalSeq(hub, channel);
      const seqs = await Promise.all(procs.map((p) => procLocalSeq(p, channel)));
      if (seqs.every((s) => s === target)) break;
      if (Date.now() > deadline) return false;
      await wait(100);
    }
  }
  return true;
}

async function main(): Promise<void> {
  const root = tempDir("soak");
  let procs: InstanceProcess[] = [];
  const cleanup = () => procs.forEach((p) => p.child.exitCode === null && p.child.kill("SIGKILL"));
  process.once("exit", cleanup);
  try {
    procs = await startCluster(root);
    await setUpChannels(procs);
    for (const p of procs) receipts.set(p.name, new Map(CHANNELS.map((c) => [c, new Map<string, number>()])));
    console.log(`soak: ${procs.length} instances (pids ${procs.map((p) => p.pid).join(", ")}), ${SECONDS} s, ${RATE} publishes/s each, ${CALL_RATE} calls/s`);
    let readersStop = false;
    const readers = procs.flatMap((p) => CHANNELS.map((c) => reader(p, c, () => readersStop)));
    const memory = sampleMemory(procs, () => readersStop);
    const started = Date.now();
    const until = started + SECONDS * 1000;
    await Promise.all([...procs.map((p) => publisher(p, until)), caller(procs, until), chaos(procs, until)]);
    const converged = await converge(procs, 30_000);
    // One more long-poll round so every reader has seen everything up to the converged seq.
    const finalSeqs = new Map(await Promise.all(CHANNELS.map(async (c) => [c, await procLocalSeq(procs[0]!, c)] as const)));
    for (const p of procs) {
      for (const c of CHANNELS) {
        const events = await procEvents(p, c);
        if (events.length !== finalSeqs.get(c)) console.log(`note: ${p.name} holds ${events.length} events of ${c}, hub ${finalSeqs.get(c)}`);
      }
    }
    readersStop = true;
    await Promise.all([...readers, memory]);
    report(procs, converged, (Date.now() - started) / 1000, await sameHistories(procs));
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    removeDir(root);
  }
}

/** Every member holds the same event IDs in the same order as the hub (linearizability of delivery). */
async function sameHistories(procs: InstanceProcess[]): Promise<boolean> {
  for (const c of CHANNELS) {
    const lists = await Promise.all(procs.map(async (p) => (await procEvents(p, c)).map((e) => e.event_id).join(",")));
    if (new Set(lists).size !== 1) return false;
  }
  return true;
}

function report(procs: InstanceProcess[], converged: boolean, seconds: number, identical: boolean): void {
  const acked = published.filter((p) => p.outcome === "acked");
  const queued = published.filter((p) => p.outcome === "queued");
  const failed = published.filter((p) => p.outcome === "failed");
  let drops = 0;
  let duplicates = 0;
  const perMember: Record<string, { received: number; expected: number; dropped: number; duplicates: number }> = {};
  // Every key any member received at all must reach every member (a queued 502 publish counts once sequenced).
  const everSeen = new Map<string, Set<string>>(CHANNELS.map((c) => [c, new Set<string>()]));
  for (const byChannel of receipts.values()) for (const [c, counts] of byChannel) for (const k of counts.keys()) everSeen.get(c)!.add(k);
  for (const a of acked) everSeen.get(a.channel)!.add(a.key);
  for (const [member, byChannel] of receipts) {
    const m = { received: 0, expected: 0, dropped: 0, duplicates: 0 };
    for (const [c, counts] of byChannel) {
      for (const key of everSeen.get(c)!) {
        m.expected++;
        const n = counts.get(key) ?? 0;
        m.received += n;
        if (n === 0) m.dropped++;
        if (n > 1) m.duplicates += n - 1;
      }
    }
    perMember[member] = m;
    drops += m.dropped;
    duplicates += m.duplicates;
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const callSorted = [...calls.latencies].sort((a, b) => a - b);
  const summary = {
    seconds: Math.round(seconds * 10) / 10,
    offered_rate_per_s: RATE * procs.length, published: published.length, skipped_ticks: skippedTicks, acked: acked.length, queued_502: queued.length, failed: failed.length,
    sequenced_distinct: [...everSeen.values()].reduce((s, set) => s + set.size, 0),
    chaos_kills: kills, per_member: perMember, drops, duplicates, converged, identical_histories: identical,
    delivery_latency_ms: {
      p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, samples: sorted.length,
      worst_by_route: Object.fromEntries([...worst].sort()),
    },
    calls: { ok: calls.ok, failed: calls.failed, p50_ms: percentile(callSorted, 50), p99_ms: percentile(callSorted, 99) },
    peak_rss_mib: Object.fromEntries(procs.map((p) => [p.name, Math.round(((peakKiB.get(p.name) ?? 0) / 1024) * 10) / 10])),
  };
  console.log(JSON.stringify(summary, null, 2));
  console.log(`soak: drops=${drops} duplicates=${duplicates} p99=${summary.delivery_latency_ms.p99} ms peak RSS ${JSON.stringify(summary.peak_rss_mib)} MiB`);
  if (drops > 0 || duplicates > 0 || !converged || !identical) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
