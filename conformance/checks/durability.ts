// Conformance harness: the durability phase — each instance the harness can restart is killed (SIGKILL of its whole
// process group) at chosen points and restarted on the same data directory and port, then its stored state is checked
// (spec §5.8 SIGN-42, §8.3-§8.5, §9.2 DLV-03, §10.3, §12, §16).
import { canonicalJson } from "../../protocol/canonical-json.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import { newNonce } from "../../protocol/signing.ts";
import type { Event, PeerList, RemoteCall, RemoteCallResult, Submission, Transaction, TransactionResult } from "../../protocol/types.ts";
import { answerSummary, CheckFailure, ensure, expectError, expectOk, fail } from "../assert.ts";
import { other, perTarget, type Check, type CheckContext, type Role, type Target } from "../context.ts";
import { FAKE_LIMITS } from "../fake-peer.ts";
import { tasksOf } from "./support/matchers.ts";
import { known } from "./support/state.ts";
import { backfillPath, fakeCall, fakeListTasks, remoteCall, uid, unsignedGet } from "./support/requests.ts";

interface ChannelView {
  channel: string;
  hub: string;
  role: string;
  joined: boolean;
  members: string[];
  local_seq: number;
}

/** What one instance held and answered just before it was killed, for the checks after its restart. */
interface BeforeKill {
  /** Channel the instance hubs, the fake peer a member. */
  hubbed: string;
  /** Channel the fake peer hubs, the instance a member. */
  joined: string;
  /** Events of the instance's channels (the success-criteria channel included), as the control API listed them. */
  events: Map<string, Event[]>;
  channels: ChannelView[];
  /** Highest seq of `hubbed` the fake peer had acknowledged (answered 200) before the kill. */
  ackedSeq: number;
  /** Markers of the events published while the fake peer held the instance's transaction (the outbound queue). */
  queued: string[];
  /** Marker of the submission the instance had queued for the fake hub (first attempt failed, second cut by the kill). */
  submission: string;
  call: { body: RemoteCall; result: RemoteCallResult; taskIds: Array<string | number> };
  txn: { id: string; body: Transaction; result: TransactionResult; submission: Submission };
  /** A signed request accepted before the kill (sent again after it), and one signed before it but never sent. */
  replay: { sent: { ts: number; nonce: string }; unsent: { ts: number; nonce: string } };
  /** The fake peer's OutboundQueue as GET /control/v1/peers reported it just before the kill. */
  queue: unknown;
  /** Index into the fake peer's records at the kill: what came after is the restarted instance's. */
  recordsAtKill: number;
  key: { key_id: string; public_key: string };
}

const before = new Map<string, BeforeKill>();
const slot = (ctx: CheckContext, role: Role): string => `${ctx.runId} ${role}`;

function stateOf(ctx: CheckContext, role: Role): BeforeKill {
  const s = before.get(slot(ctx, role));
  if (!s) throw new CheckFailure(`${role} was not restarted by dur/restart`, undefined, undefined, "harness-error");
  return s;
}

const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);
const markerOf = (e: { data: unknown }): unknown => (e.data as { marker?: unknown } | null)?.marker;

async function channelViews(t: Target): Promise<ChannelView[]> {
  const list = expectOk<{ channels: ChannelView[] }>(await t.control.request("GET", "/control/v1/channels"), "ChannelList", "GET /control/v1/channels");
  return list.channels.map(({ channel, hub, role, joined, members, local_seq }) => ({ channel, hub, role, joined, members, local_seq }));
}

/** The fake peer's record of the events of `channel` the instance delivered and the fake acknowledged with 200. */
function ackedSeqs(ctx: CheckContext, origin: string, channel: string, from = 0): number[] {
  return ctx.fake.records
    .slice(from)
    .filter((r) => r.route === "send" && r.origin === origin && r.status === 200)
    .flatMap((r) => ((r.body as Transaction | undefined)?.events ?? []).filter((e) => e.channel === channel).map((e) => e.seq));
}

/** The fake peer's own channel with the instance a member, its join delivered. */
async function joinFakeChannel(ctx: CheckContext, t: Target, role: Role): Promise<string> {
  const ch = ctx.fake.hubCreate(`dur-${ctx.runId}-${role[0]}`);
  ch.members.add(t.name);
  const join = ctx.fake.hubAppend(ch.id, "smcp:member.join", { server: t.name });
  const answer = expectOk<{ accepted: boolean }>(await ctx.fake.sendInvite(t.name, ch.id), "InviteAnswer", "invite from the fake hub", 200);
  ensure(answer.accepted, "the invite from the fake hub was not accepted", true, answer);
  const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: ctx.fake.hubChannel(ch.id).events, heads: [ctx.fake.hubHead(ch.id)] }), "TransactionResult", "the fake hub's first events", 200);
  ensure(r.processed.includes(join.event_id), "the join event was not processed", join.event_id, r);
  return ch.id;
}

/** Publishes `n` events on `channel` (ten at a time), returning their markers. */
async function publishMany(ctx: CheckContext, t: Target, channel: string, n: number, what: string): Promise<string[]> {
  const markers = Array.from({ length: n }, () => uid(ctx, what));
  for (let i = 0; i < n; i += 10) await Promise.all(markers.slice(i, i + 10).map((marker) => t.control.publish(channel, "conformance:durability", { marker })));
  return markers;
}

/**
 * Brings the instance into every state the restart must keep, then kills it with a transaction in flight: the fake
 * peer holds the instance's transaction unanswered while more events than one transaction may carry are queued
 * behind it, and a submission whose first attempt failed waits for the fake hub.
 */
async function prepareAndRestart(ctx: CheckContext, role: Role): Promise<void> {
  const t = known(ctx, role);
  if (!t.restart) throw new CheckFailure(`the harness cannot restart ${role}`, undefined, undefined, "harness-error");
  const t0 = performance.now();
  const lap = (what: string): void => ctx.note(`${what}: ${Math.round(performance.now() - t0)} ms`);
  const hubbed = (await t.control.createChannel(`dur-${ctx.runId}-${role[0]}`)).channel;
  const invite = await t.control.invite(hubbed, ctx.fake.name);
  ensure(invite.accepted, "the fake peer's invite was not accepted", true, invite);
  const joined = await joinFakeChannel(ctx, t, role);
  await publishMany(ctx, t, hubbed, 2, "acked");
  lap("channels set up");
  const answered = await answerBeforeKill(ctx, t, hubbed);
  const settled = await settleAndRecord(ctx, t, hubbed);
  lap("a call, a transaction and a signed request answered; everything acknowledged and recorded");
  const cut = await killMidTransaction(ctx, t, role, { hubbed, joined }, lap);
  before.set(slot(ctx, role), { hubbed, joined, ...answered, ...settled, ...cut });
  await remap(ctx, role);
}

/** A call, a transaction and a signed request, each answered before the kill (their repeats come after it). */
async function answerBeforeKill(ctx: CheckContext, t: Target, hubbed: string): Promise<Pick<BeforeKill, "call" | "txn" | "replay">> {
  const body = remoteCall(ctx, t, "create_task", { title: uid(ctx, "durable-task") });
  const result = expectOk<RemoteCallResult>(await fakeCall(ctx, t, body), "RemoteCallResult", "create_task before the restart", 200);
  const taskIds = tasksOf(expectOk<RemoteCallResult>(await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {})), "RemoteCallResult", "list_tasks"), "list_tasks").map((x) => x.id);

  const submission: Submission = { submission_id: uid(ctx, "sub"), channel: hubbed, type: "conformance:durability", sender: ctx.fake.name, origin_ts: Date.now(), data: { marker: uid(ctx, "submitted") } as never };
  const id = ctx.fake.nextTxnId();
  const txnBody: Transaction = { origin: ctx.fake.name, origin_ts: Date.now(), submissions: [submission] };
  const txnResult = expectOk<TransactionResult>(await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${id}`, body: txnBody }), "TransactionResult", "submission before the restart", 200);
  ensure(txnResult.processed.includes(submission.submission_id), "the fake peer's submission was not processed", submission.submission_id, txnResult);

  const sent = { ts: Date.now(), nonce: newNonce() };
  expectOk(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(hubbed, "after=0&limit=1"), sign: sent }), "BackfillPage", "a signed backfill before the restart", 200);
  const unsent = { ts: Date.now(), nonce: newNonce() };
  return { call: { body, result, taskIds }, txn: { id, body: txnBody, result: txnResult, submission }, replay: { sent, unsent } };
}

/** Waits until the fake peer acknowledged every event of `hubbed`, then records the instance's channels, events and key. */
async function settleAndRecord(ctx: CheckContext, t: Target, hubbed: string): Promise<Pick<BeforeKill, "ackedSeq" | "events" | "channels" | "key">> {
  const ackedSeq = (await t.control.events(hubbed)).local_seq;
  const acked = await ctx.fake.waitUntil(() => ackedSeqs(ctx, t.name, hubbed).includes(ackedSeq), ctx.options.deliveryTimeoutMs);
  ensure(acked, "the hub did not deliver its events to the fake peer before the restart", `seq 1..${ackedSeq} acknowledged`, ackedSeqs(ctx, t.name, hubbed));
  const events = new Map<string, Event[]>();
  const channels = await channelViews(t);
  for (const c of channels) events.set(c.channel, await t.control.allEvents(c.channel));
  const info = await t.control.instance();
  return { ackedSeq, events, channels, key: { key_id: info.key_id, public_key: info.public_key } };
}

/**
 * Queues a submission for the fake hub (its first attempt fails: 502, kept queued, CTRL-20), holds the retry in
 * flight, queues max_txn_items + 1 events behind it, reads the queue state, and kills and restarts the instance.
 */
async function killMidTransaction(ctx: CheckContext, t: Target, role: Role, ch: { hubbed: string; joined: string }, lap: (what: string) => void): Promise<Pick<BeforeKill, "submission" | "queued" | "queue" | "recordsAtKill">> {
  const submission = uid(ctx, "queued-submission");
  const publish = (): Promise<HttpAnswer> => t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch.joined)}/events`, { type: "conformance:durability", data: { marker: submission } });
  expectError(await ctx.fake.withSendBehaviour({ failNext: 1, failWith: { errcode: "SMCP_INTERNAL" } }, publish, t.name), "SMCP_PEER_UNREACHABLE", "a publish whose first delivery attempt fails (CTRL-20: kept queued)");
  let release = (): void => {};
  let arrive = (): void => {};
  const arrival = new Promise<boolean>((r) => (arrive = () => r(true)));
  const hold = { until: new Promise<void>((r) => (release = r)), arrived: [] as string[], onArrive: () => arrive() };
  try {
    return await ctx.fake.withSendBehaviour({ hold }, async () => {
      // No record exists before a request is answered, so the hold itself says when the retry arrived.
      const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ctx.options.deliveryTimeoutMs).unref());
      ensure(await Promise.race([arrival, timeout]), "the queued submission was never retried", "a retry of the transaction", "nothing");
      ensure(hold.arrived[0] === t.name, "the transaction held in flight came from another server", t.name, hold.arrived[0]);
      lap("submission queued, its retry held in flight");
      const queued = await publishMany(ctx, t, ch.hubbed, FAKE_LIMITS.max_txn_items + 1, "queued");
      const queue = await queueOfFake(ctx, t, queued.length);
      lap(`${queued.length} events queued behind it`);
      const recordsAtKill = ctx.fake.records.length;
      await restartOrFail(t, role);
      lap("killed (SIGKILL) and restarted");
      return { submission, queued, queue, recordsAtKill };
    }, t.name);
  } finally {
    release();
  }
}

/** The fake peer's OutboundQueue, read until it counts `pending` events (an instance may enqueue just after answering a publish), at most 1 s. */
async function queueOfFake(ctx: CheckContext, t: Target, pending: number): Promise<PeerList["peers"][number]["outbound"] | undefined> {
  const deadline = Date.now() + 1_000;
  for (;;) {
    const peers = expectOk<PeerList>(await t.control.request("GET", "/control/v1/peers"), "PeerList", "GET /control/v1/peers before the kill");
    const q = peers.peers.find((p) => p.server_name === ctx.fake.name)?.outbound;
    if (!q || q.pending === pending || Date.now() >= deadline) return q;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function restartOrFail(t: Target, role: Role): Promise<void> {
  try {
    await t.restart!();
  } catch (err) {
    fail(`${role} did not come back after SIGKILL and a restart on the same data directory and port: ${(err as Error).message}`, "the instance answers again", "no answer");
  }
}

/**
 * Maps the fake peer and the other instance again (idempotent PUTs), so that checks of MUST-level durability do not
 * depend on the host map surviving, which is only a SHOULD (REG-03).
 */
async function remap(ctx: CheckContext, role: Role): Promise<void> {
  const t = known(ctx, role);
  await t.control.mapHost(ctx.fake.name, ctx.fake.url);
  const peer = ctx[other(role)];
  if (peer.discovery) await t.control.mapHost(peer.name, peer.discovery.endpoint);
}

const durCheck = (id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>, prerequisites = ["dur/restart@@"]): Check[] =>
  perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites, restarts: [role], run: (ctx) => run(ctx, role) }));

export const durabilityChecks: Check[] = [
  // The two instances are prepared, killed and restarted side by side: each half plants its failure and holds its
  // transaction for its own instance only, and everything it reads back is that instance's (by origin, by channel).
  ...durCheck(
    "dur/restart",
    "killed with SIGKILL mid-transaction (events queued, a submission pending) and restarted on its data directory and port, the instance answers again under the same server name and control token",
    ["CONF-11"],
    async (ctx, role) => {
      await prepareAndRestart(ctx, role);
      const t = known(ctx, role);
      const info = await t.control.instance();
      ensure(info.server_name === t.name, "the restarted instance answers under another server name", t.name, info.server_name);
    },
    ["adv/sign/baseline@@"],
  ).map((c) => ({ ...c, sideBySide: true })),
  ...durCheck("dur/keys/unchanged", "the restarted instance signs with the key it had before (discovery and control API), so its earlier hub signatures still verify", ["KEY-01", "KEY-04"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const info = await t.control.instance();
    ensure(info.key_id === s.key.key_id && info.public_key === s.key.public_key, "the restarted instance has another signing key", s.key, { key_id: info.key_id, public_key: info.public_key });
    const wk = expectOk<{ key_id: string; public_key: string }>(await unsignedGet(ctx, `${t.federationUrl ?? t.baseUrl}/.well-known/smcp/server`, `well-known@${role}`), "ServerDiscovery", "well-known document after the restart", 200);
    ensure(wk.key_id === s.key.key_id && wk.public_key === s.key.public_key, "the restarted instance's discovery document names another key", s.key, { key_id: wk.key_id, public_key: wk.public_key });
  }),
  ...durCheck("dur/queue/pending-counted", "with a submission in flight and 101 events queued behind it, the fake peer's OutboundQueue reports state sending and pending = 101 (events only)", ["DLV-07", "DLV-35"], async (ctx, role) => {
    const s = stateOf(ctx, role);
    const q = s.queue as { state?: unknown; pending?: unknown } | undefined;
    const want = { state: "sending", pending: s.queued.length };
    ensure(q !== undefined, "the fake peer was missing from GET /control/v1/peers before the kill", want, "absent");
    ensure(q.state === "sending" && q.pending === s.queued.length, "the outbound queue did not report the transaction in flight and exactly the queued events (a submission is not an event)", want, q);
  }),
  ...durCheck("dur/sign/replay-across-restart", "a request accepted before the restart is refused after it (SMCP_REPLAY, or SMCP_BAD_TIMESTAMP from a cache that started anew), and a non-persistent cache refuses every request signed before it started", ["SIGN-38", "SIGN-42"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const send = (sign: { ts: number; nonce: string }): Promise<HttpAnswer> => ctx.fake.send(t.name, { method: "GET", path: backfillPath(s.hubbed, "after=0&limit=1"), sign });
    const age = Date.now() - s.replay.sent.ts;
    if (age > FAKE_LIMITS.max_clock_skew_ms / 2) throw new CheckFailure("the restart took too long to test replay within the timestamp window", `under ${FAKE_LIMITS.max_clock_skew_ms / 2} ms`, `${age} ms`, "harness-error");
    const again = await send(s.replay.sent);
    ensure(again.status !== 200, "a request accepted before the restart was accepted again after it: the replay cache was lost, and requests signed before the restart are not refused (SIGN-42)", "401 SMCP_REPLAY or SMCP_BAD_TIMESTAMP", "200");
    const code = expectError(again, ["SMCP_REPLAY", "SMCP_BAD_TIMESTAMP"], "the same signed request after the restart").errcode;
    const fresh = await send(s.replay.unsent);
    if (code === "SMCP_BAD_TIMESTAMP") {
      // The cache started anew: every request signed before that moment must be refused, not only those it saw.
      expectError(fresh, "SMCP_BAD_TIMESTAMP", "a request signed before the restart, never sent before it (the cache started after its ts)");
      ctx.note("replay cache not persistent: requests signed before the restart are refused with SMCP_BAD_TIMESTAMP");
    } else {
      ensure(fresh.status === 200 || (fresh.status === 401 && expectError(fresh, "SMCP_BAD_TIMESTAMP", "a fresh request signed before the restart") !== undefined), "a fresh request signed before the restart was refused for another reason", "200 (persistent cache) or SMCP_BAD_TIMESTAMP", fresh.status);
      ctx.note("replay cache persistent: the pre-restart nonce is still known (SMCP_REPLAY)");
    }
  }),
  ...durCheck("dur/events/kept", "every event the instance held before the kill — as hub and as participant — is still held after the restart, at the same seq, with the same event ID and content", ["TXN-13", "TXN-25", "DLV-06"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    for (const [channel, held] of s.events) {
      const exists = await t.control.request("GET", `/control/v1/channels/${encodeURIComponent(channel)}`);
      if (exists.status === 404) fail(`${channel}: the channel and its ${held.length} events are gone after the restart`, `${held.length} events`, "404");
      const now = await t.control.allEvents(channel);
      for (const e of held) {
        const got = now.find((x) => x.seq === e.seq);
        if (!got) fail(`${channel}: seq ${e.seq} (${e.type}) was acknowledged before the kill and is gone after the restart`, e.event_id, now.map((x) => x.seq));
        ensure(got.event_id === e.event_id && same(got, e), `${channel}: seq ${e.seq} changed across the restart`, e, got);
      }
    }
  }),
  ...durCheck("dur/channels/kept", "channels and memberships survive the restart: same hub, role, joined and members, and a member's submission is still sequenced", ["CTRL-11", "CTRL-12", "CHAN-05"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const now = await channelViews(t);
    for (const c of s.channels) {
      const got = now.find((x) => x.channel === c.channel);
      if (!got) fail(`channel ${c.channel} is gone after the restart`, c, now.map((x) => x.channel));
      const pick = (v: ChannelView): unknown => ({ hub: v.hub, role: v.role, joined: v.joined, members: v.members });
      ensure(same(pick(got), pick(c)), `channel ${c.channel} changed across the restart`, pick(c), pick(got));
      ensure(got.local_seq >= c.local_seq, `channel ${c.channel}: local_seq went back`, `≥ ${c.local_seq}`, got.local_seq);
    }
    const sub: Submission = { submission_id: uid(ctx, "sub"), channel: s.hubbed, type: "conformance:durability", sender: ctx.fake.name, origin_ts: Date.now(), data: { marker: uid(ctx, "member-after") } as never };
    const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { submissions: [sub] }), "TransactionResult", "a member's submission after the restart", 200);
    ensure(r.processed.includes(sub.submission_id), "the hub no longer accepts a member's submission after the restart", { processed: [sub.submission_id] }, r);
  }),
  ...durCheck("dur/queue/delivered", "after the restart the hub delivers every event queued (or in flight) at the kill exactly once, in ascending seq, never re-sends what was acknowledged, and the pending submission reaches its hub and is sequenced once", ["DLV-03", "TXN-34", "TXN-15", "CTRL-20"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const held = (): Event[] => [...(ctx.fake.participant.get(s.hubbed)?.events.values() ?? [])];
    const want = new Set(s.queued);
    const arrived = await ctx.fake.waitUntil(() => held().filter((e) => want.has(markerOf(e) as string)).length === want.size, ctx.options.deliveryTimeoutMs);
    const got = held().filter((e) => want.has(markerOf(e) as string));
    ensure(arrived, `events queued at the kill were lost: ${want.size - got.length} of ${want.size} never arrived after the restart`, `${want.size} events`, got.length);
    const after = ackedSeqs(ctx, t.name, s.hubbed, s.recordsAtKill);
    const resent = after.filter((seq) => seq <= s.ackedSeq);
    ensure(resent.length === 0, "events acknowledged before the kill were sent again after the restart (the outbound queue was rebuilt, not kept)", "none", resent);
    const dup = after.filter((seq, i) => after.indexOf(seq) !== i);
    ensure(dup.length === 0, "queued events were delivered more than once after the restart", "each once", dup);
    ensure(after.every((seq, i) => i === 0 || seq > after[i - 1]!), "events after the restart were not sent in ascending seq", "ascending", after);
    const hubEvents = (): Event[] => ctx.fake.hubChannel(s.joined).events.filter((e) => markerOf(e) === s.submission);
    const reached = await ctx.fake.waitUntil(() => hubEvents().length > 0, ctx.options.deliveryTimeoutMs);
    ensure(reached, "the submission queued before the kill never reached its hub after the restart", "the submission delivered", "nothing");
    ensure(hubEvents().length === 1, "the queued submission was sequenced more than once (resent under another submission_id)", 1, hubEvents().length);
    const exposed = await t.control.waitForEvents(s.joined, (evs) => evs.some((e) => markerOf(e) === s.submission), ctx.options.deliveryTimeoutMs);
    ensure(exposed.filter((e) => markerOf(e) === s.submission).length === 1, "the instance does not hold its own sequenced submission exactly once", 1, exposed.filter((e) => markerOf(e) === s.submission).length);
  }),
  ...durCheck("dur/calls/outcome-kept", "a call answered before the restart is answered with the stored result after it without running the tool again (task count), task IDs are not reused, and the call_id with other params is 409", ["CALL-10", "CALL-12", "CONF-06"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const answer = await fakeCall(ctx, t, s.call.body);
    if (answer.status !== 200) fail(`a call answered before the restart got no stored result after it (${answerSummary(answer)})`, s.call.result, answer.body ?? answer.status);
    const again = expectOk<RemoteCallResult>(answer, "RemoteCallResult", "the same call after the restart", 200);
    ensure(same(again, s.call.result), "the repeated call_id got another result after the restart", s.call.result, again);
    const ids = (await fakeListTasks(ctx, t)).map((x) => x.id);
    ensure(same(ids, s.call.taskIds), "the tasks changed across the restart (the repeated call ran the tool again, or tasks were lost)", s.call.taskIds, ids);
    const fresh = expectOk<RemoteCallResult>(await fakeCall(ctx, t, remoteCall(ctx, t, "create_task", { title: uid(ctx, "after-restart") })), "RemoteCallResult", "a new create_task after the restart", 200);
    const id = (fresh.result.structuredContent as { task?: { id?: string | number } } | undefined)?.task?.id;
    ensure(id !== undefined && !s.call.taskIds.includes(id), "a task ID was reused after the restart", `not one of ${s.call.taskIds.join(", ")}`, id);
    expectError(await fakeCall(ctx, t, { ...s.call.body, params: { title: uid(ctx, "other") } as never }), "SMCP_CONFLICT", "the pre-restart call_id with other params");
  }),
  ...durCheck("dur/txn/results-kept", "a transaction processed before the restart gets its stored result after it (same bytes), 409 with other bytes, and its submission is not sequenced again under a new txn_id", ["TXN-16", "TXN-17", "TXN-22"], async (ctx, role) => {
    const t = known(ctx, role);
    const s = stateOf(ctx, role);
    const path = `/federation/v1/send/${s.txn.id}`;
    const again = expectOk<TransactionResult>(await ctx.fake.send(t.name, { method: "PUT", path, body: s.txn.body }), "TransactionResult", "the same transaction after the restart", 200);
    ensure(same(again, s.txn.result), "the repeated transaction got another result after the restart", s.txn.result, again);
    expectError(await ctx.fake.send(t.name, { method: "PUT", path, body: { ...s.txn.body, origin_ts: s.txn.body.origin_ts + 1 } }), "SMCP_CONFLICT", "the pre-restart txn_id with other bytes");
    const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { submissions: [s.txn.submission] }), "TransactionResult", "the same submission under a new txn_id", 200);
    ensure(same(r.sequenced, s.txn.result.sequenced), "a submission sequenced before the restart was sequenced again after it", s.txn.result.sequenced, r.sequenced);
    const copies = (await t.control.allEvents(s.hubbed)).filter((e) => markerOf(e) === markerOf(s.txn.submission));
    ensure(copies.length === 1, "the submission's event is held other than once", 1, copies.length);
  }),
];
