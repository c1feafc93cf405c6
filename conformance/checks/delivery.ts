// Conformance harness: the hub's delivery discipline as the fake participant observes it — one transaction in flight,
// ascending seq across transactions, batching, retries with identical bytes and back-off, honouring 429 (spec §8.6, §5.7).
// Each check's @alice and @bob halves run side by side: each plants its failures for its own instance's transactions.
import { TXN_RETRY_BACKOFF } from "../../protocol/limits.ts";
import type { BackfillPage, PeerInfo, PeerList, Transaction } from "../../protocol/types.ts";
import { ensure, expectOk, fail } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import type { InboundRecord } from "../fake-peer.ts";
import { advChannel, known } from "./support/state.ts";
import { backfillPath, uid } from "./support/requests.ts";

/** Publishes `n` events on the target's adversarial channel and waits until the fake participant holds them all. */
async function publishAndAwait(ctx: CheckContext, role: Role, n: number): Promise<{ seqs: number[]; since: number }> {
  const t = known(ctx, role);
  const ch = advChannel(ctx, role);
  const since = ctx.fake.records.length;
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push((await t.control.publish(ch, "conformance:burst", { marker: uid(ctx, "burst"), i })).seq);
  const held = (): boolean => seqs.every((s) => ctx.fake.participant.get(ch)?.events.has(s));
  // Some slack above the delivery timeout: these checks provoke back-off and a 700 ms retry_after_ms on purpose.
  const ok = await ctx.fake.waitUntil(held, ctx.options.deliveryTimeoutMs + 2_000);
  if (!ok) fail("published events never all reached the fake participant", seqs, [...(ctx.fake.participant.get(ch)?.events.keys() ?? [])]);
  return { seqs, since };
}

function sendsFrom(ctx: CheckContext, origin: string, since: number): InboundRecord[] {
  return ctx.fake.records.slice(since).filter((r) => r.route === "send" && r.origin === origin);
}

function eventSeqs(r: InboundRecord, channel: string): number[] {
  return ((r.body as Transaction | undefined)?.events ?? []).filter((e) => e.channel === channel).map((e) => e.seq);
}

/**
 * TXN-39: what showed `instance` between `from` and `until` that the fake peer is reachable again — a request of its
 * answered 200, or a request the fake peer sent it that it authenticated; undefined when nothing did.
 */
function reachableAgain(ctx: CheckContext, instance: string, from: number, until: number): string | undefined {
  const answered = ctx.fake.records.find((r) => r.origin === instance && r.status === 200 && r.at > from && r.at < until);
  if (answered) return `the fake peer answered ${answered.method} ${answered.path} with 200 first`;
  const sent = ctx.fake.authenticatedSendAfter(instance, from);
  return sent !== undefined && sent < until ? "the fake peer sent it an authenticated request first" : undefined;
}

const batching = new Map<Role, { events: number; transactions: number }>();

export const deliveryChecks: Check[] = [
  ...perTarget((role) => ({
    id: "adv/delivery/one-in-flight",
    name: "with a slow participant, the hub keeps one transaction in flight and sends seqs in ascending order across transactions",
    requirements: ["TXN-29", "TXN-34"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      ctx.fake.maxInFlight.set(t.name, 0);
      const out = await ctx.fake.withSendBehaviour({ answerDelayMs: 150 }, () => publishAndAwait(ctx, role, 6), t.name);
      const max = ctx.fake.maxInFlight.get(t.name) ?? 0;
      ensure(max === 1, "more than one transaction in flight to one destination", 1, max);
      const order = sendsFrom(ctx, t.name, out.since).filter((r) => r.status === 200).flatMap((r) => eventSeqs(r, ch));
      ensure(order.every((s, i) => i === 0 || s > order[i - 1]!), "events not sent in ascending seq order", "ascending", order);
      const txns = sendsFrom(ctx, t.name, out.since).filter((r) => eventSeqs(r, ch).length > 0).length;
      batching.set(role, { events: out.seqs.length, transactions: txns });
      ctx.note(`${out.seqs.length} events in ${txns} transactions`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/batching",
    name: "events queued while a transaction is in flight go out together in the next transaction",
    requirements: ["TXN-33"],
    level: "SHOULD",
    prerequisites: ["adv/delivery/one-in-flight@@"],
    async run() {
      const b = batching.get(role)!;
      ensure(b.transactions < b.events, "every queued event got its own transaction", `fewer than ${b.events} transactions`, b.transactions);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/retry-identical",
    name: "a transaction answered 500 is retried with identical bytes, the same txn_id and a fresh signature, after ≥ 250 ms unless the fake peer showed itself reachable first",
    requirements: ["TXN-30", "TXN-21", "TXN-31", "TXN-39", "SIGN-04"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const out = await ctx.fake.withSendBehaviour({ failWith: { errcode: "SMCP_INTERNAL" }, failNext: 1 }, () => publishAndAwait(ctx, role, 1), t.name);
      const sends = sendsFrom(ctx, t.name, out.since);
      const failed = sends.find((r) => r.status === 500);
      ensure(failed, "the fake peer never failed a transaction (harness)", "one 500", sends.map((r) => r.status));
      // The retry is the next send under the failed txn_id; any next send if there is none (it is then not identical).
      const later = sends.filter((r) => r.seq > failed.seq);
      const retry = later.find((r) => r.txnId === failed.txnId) ?? later[0];
      ensure(retry, "the failed transaction was never retried", "a retry", "none");
      ensure(retry.txnId === failed.txnId && retry.sha === failed.sha, "the retry is not the identical transaction", { txn_id: failed.txnId, sha256: failed.sha }, { txn_id: retry.txnId, sha256: retry.sha });
      ensure(retry.nonce !== failed.nonce, "the retry reused the signature nonce", "a fresh nonce", retry.nonce);
      const gap = retry.at - failed.at;
      const reachable = reachableAgain(ctx, t.name, failed.at, retry.at);
      ensure(gap >= TXN_RETRY_BACKOFF.baseMs - 10 || reachable, `the retry came sooner than the ${TXN_RETRY_BACKOFF.baseMs} ms back-off, with no sign in between that the fake peer is reachable again (TXN-39)`, `≥ ${TXN_RETRY_BACKOFF.baseMs} ms, or an early retry after a 200 answer or an authenticated request from the fake peer`, `${gap} ms`);
      // The planted 500 may have hit another transaction still on its way (an earlier check's): that one's retry is tested then.
      if (eventSeqs(failed, ch).includes(out.seqs[0]!)) ensure(eventSeqs(retry, ch).includes(out.seqs[0]!), "the retry does not carry the event", out.seqs[0], eventSeqs(retry, ch));
      ctx.note(gap >= TXN_RETRY_BACKOFF.baseMs - 10 ? `retried after ${gap} ms` : `retried early, after ${gap} ms: ${reachable} (TXN-39)`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/honours-429",
    name: "after a 429 the hub sends the fake peer nothing before retry_after_ms has elapsed",
    requirements: ["RATE-07", "TXN-31"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const wait = 700;
      const failWith = { errcode: "SMCP_RATE_LIMITED" as const, retryAfterMs: wait };
      const out = await ctx.fake.withSendBehaviour({ failWith, failNext: 1 }, () => publishAndAwait(ctx, role, 1), t.name);
      const mine = ctx.fake.records.slice(out.since).filter((r) => r.origin === t.name);
      const limited = mine.find((r) => r.status === 429);
      ensure(limited, "the fake peer never answered 429 (harness)", "one 429", mine.map((r) => r.status));
      const next = mine.find((r) => r.seq > limited.seq);
      ensure(next, "nothing was sent after the 429", "a later request", "none");
      const gap = next.at - limited.at;
      ensure(gap >= wait, "a request came before retry_after_ms elapsed", `≥ ${wait} ms`, `${gap} ms (${next.method} ${next.path})`);
      ctx.note(`next request after ${gap} ms`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/no-resend-after-4xx",
    name: "a transaction answered 404 is not resent; its events stay available to the participant by backfill",
    requirements: ["TXN-38", "TXN-35"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const since = ctx.fake.records.length;
      const refused = (): InboundRecord | undefined => sendsFrom(ctx, t.name, since).find((r) => r.status === 404);
      const first = await ctx.fake.withSendBehaviour({ failWith: { errcode: "SMCP_NOT_FOUND" }, failNext: 1 }, async () => {
        const pub = await t.control.publish(ch, "conformance:abandoned", { marker: uid(ctx, "abandoned") });
        ensure(await ctx.fake.waitUntil(() => refused() !== undefined, ctx.options.deliveryTimeoutMs), "the hub never sent the event (harness)", "a transaction answered 404", "nothing");
        return pub;
      }, t.name);
      // One transaction in flight, ascending seq (TXN-29, TXN-34): a resend would come before the next event's transaction.
      const later = await publishAndAwait(ctx, role, 1);
      const again = sendsFrom(ctx, t.name, since).filter((r) => r.txnId === refused()!.txnId);
      ensure(again.length === 1, "a transaction answered 404 was sent again", "sent once", again.map((r) => `${r.status} at ${r.at}`));
      const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, `after=${first.seq - 1}&limit=1`) }), "BackfillPage", "backfill of the abandoned event", 200);
      ensure(page.events[0]?.event_id === first.event_id, "the abandoned event is not available by backfill", first.event_id, page.events.map((e) => e.event_id));
      ctx.note(`abandoned seq ${first.seq}; next event seq ${later.seqs[0]} delivered`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/unknown-errcode",
    name: "a 503 with an unknown errcode, then a 500 whose body is no Error, are handled by status class: the transaction is retried unchanged",
    requirements: ["ERR-06", "TXN-30", "TXN-21"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const failRaw = [
        { status: 503, body: { errcode: "SMCP_X_FUTURE_BUSY", error: "an errcode from a later version" } },
        { status: 500, body: { oops: true } },
      ];
      const out = await ctx.fake.withSendBehaviour({ failNext: 2, failRaw }, () => publishAndAwait(ctx, role, 1), t.name);
      const sends = sendsFrom(ctx, t.name, out.since);
      const failed = sends.filter((r) => r.status === 503 || r.status === 500);
      ensure(failed.length === 2, "the fake peer did not fail two attempts (harness)", [503, 500], sends.map((r) => r.status));
      const done = sends.find((r) => r.status === 200 && r.seq > failed[1]!.seq && r.txnId === failed[0]!.txnId) ?? sends.find((r) => r.status === 200 && r.seq > failed[1]!.seq);
      ensure(done && done.txnId === failed[0]!.txnId && done.sha === failed[0]!.sha, "the transaction was not retried unchanged after 5xx answers it could not parse", { txn_id: failed[0]!.txnId, sha256: failed[0]!.sha }, done ? { txn_id: done.txnId, sha256: done.sha } : "no retry");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/outbound-state",
    name: "GET /control/v1/peers reports the fake peer's outbound queue: backoff with next_attempt_ts and failures after a 429, idle with nothing pending once delivered",
    requirements: ["DLV-07", "CTRL-07"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    sideBySide: true,
    async run(ctx) {
      const t = known(ctx, role);
      const since = ctx.fake.records.length;
      const limited = (): boolean => ctx.fake.records.slice(since).some((r) => r.origin === t.name && r.status === 429);
      const out = ctx.fake.withSendBehaviour({ failWith: { errcode: "SMCP_RATE_LIMITED", retryAfterMs: 700 }, failNext: 1 }, async () => {
        const pending = publishAndAwait(ctx, role, 1);
        ensure(await ctx.fake.waitUntil(limited, ctx.options.deliveryTimeoutMs), "the hub never sent the fake peer a transaction to refuse", "a 429", "nothing");
        // The hub updates its queue once it has read the 429; poll briefly until it has left `sending`.
        const q = await pollQueue(ctx, role, (o) => o.state !== "sending", 1_000);
        ensure(q.state === "backoff" && q.failures >= 1 && q.pending >= 1 && typeof q.next_attempt_ts === "number", "after a 429 the queue is not reported in backoff with next_attempt_ts, failures and pending", { state: "backoff", failures: "≥ 1", pending: "≥ 1", next_attempt_ts: "a timestamp" }, q);
        return pending;
      }, t.name);
      await out;
      const idle = await pollQueue(ctx, role, (o) => o.state === "idle" && o.pending === 0, ctx.options.deliveryTimeoutMs);
      ensure(idle.state === "idle" && idle.pending === 0 && idle.failures === 0, "once delivered, the queue is not idle with nothing pending and failures reset", { state: "idle", pending: 0, failures: 0 }, idle);
    },
  })),
];

type Queue = PeerInfo["outbound"];

/** Reads the fake peer's OutboundQueue until `done` holds or `ms` pass (a bounded poll of observable state). */
async function pollQueue(ctx: CheckContext, role: Role, done: (q: Queue) => boolean, ms: number): Promise<Queue> {
  const t = known(ctx, role);
  const deadline = Date.now() + ms;
  for (;;) {
    const list = expectOk<PeerList>(await t.control.request("GET", "/control/v1/peers"), "PeerList", "GET /control/v1/peers");
    const peer = list.peers.find((p) => p.server_name === ctx.fake.name);
    if (!peer) fail("the fake peer is missing from GET /control/v1/peers", ctx.fake.name, list.peers.map((p) => p.server_name));
    if (done(peer.outbound) || Date.now() >= deadline) return peer.outbound;
    await new Promise((r) => setTimeout(r, 25));
  }
}
