// Conformance harness: the hub's delivery discipline as the fake participant observes it — one transaction in flight,
// ascending seq across transactions, batching, retries with identical bytes and back-off, honouring 429 (spec §8.6, §5.7).
import type { Transaction } from "../../protocol/types.ts";
import { ensure, fail } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import type { InboundRecord } from "../fake-peer.ts";
import { advChannel } from "./transactions.ts";
import { known, uid } from "./util.ts";

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

const batching = new Map<Role, { events: number; transactions: number }>();

export const deliveryChecks: Check[] = [
  ...perTarget((role) => ({
    id: "adv/delivery/one-in-flight",
    name: "with a slow participant, the hub keeps one transaction in flight and sends seqs in ascending order across transactions",
    requirements: ["TXN-29", "TXN-34"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      ctx.fake.maxInFlight.set(t.name, 0);
      const out = await ctx.fake.withSendBehaviour({ answerDelayMs: 150 }, () => publishAndAwait(ctx, role, 6));
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
    name: "a transaction answered 500 is retried after ≥ 250 ms with identical bytes, the same txn_id and a fresh signature",
    requirements: ["TXN-30", "TXN-21", "TXN-31", "SIGN-04"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const out = await ctx.fake.withSendBehaviour({ failWith: { errcode: "SMCP_INTERNAL" }, failNext: 1 }, () => publishAndAwait(ctx, role, 1));
      const sends = sendsFrom(ctx, t.name, out.since);
      const failed = sends.find((r) => r.status === 500);
      ensure(failed, "the fake peer never failed a transaction (harness)", "one 500", sends.map((r) => r.status));
      const retry = sends.find((r) => r.seq > failed.seq);
      ensure(retry, "the failed transaction was never retried", "a retry", "none");
      ensure(retry.txnId === failed.txnId && retry.sha === failed.sha, "the retry is not the identical transaction", { txn_id: failed.txnId, sha256: failed.sha }, { txn_id: retry.txnId, sha256: retry.sha });
      ensure(retry.nonce !== failed.nonce, "the retry reused the signature nonce", "a fresh nonce", retry.nonce);
      const gap = retry.at - failed.at;
      ensure(gap >= 240, "the retry came sooner than the 250 ms back-off", "≥ 250 ms", `${gap} ms`);
      ensure(eventSeqs(retry, ch).includes(out.seqs[0]!), "the retry does not carry the event", out.seqs[0], eventSeqs(retry, ch));
      ctx.note(`retried after ${gap} ms`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/delivery/honours-429",
    name: "after a 429 the hub sends the fake peer nothing before retry_after_ms has elapsed",
    requirements: ["RATE-07", "TXN-31"],
    level: "MUST",
    prerequisites: ["adv/participant/publish-fanout@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const wait = 700;
      const failWith = { errcode: "SMCP_RATE_LIMITED" as const, retryAfterMs: wait };
      const out = await ctx.fake.withSendBehaviour({ failWith, failNext: 1 }, () => publishAndAwait(ctx, role, 1));
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
];
