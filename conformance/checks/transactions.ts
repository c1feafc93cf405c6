// Conformance harness: Naomi transactions sent by the fake peer to each instance under test — membership, idempotency per
// (origin, txn_id) and (sender, submission_id), reserved types, spoofed senders, events from a non-hub (spec §7-§9).
import { finaliseEvent } from "../../protocol/events.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { Event, Submission, TransactionResult } from "../../protocol/types.ts";
import { answerSummary, ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type Role } from "../context.ts";
import { advChannel, known, noteAdv } from "./support/state.ts";
import { expectSameJson } from "./support/json-value.ts";
import { backfillPath, markerOf, sendTxn, submission, transaction, uid, withMarker } from "./support/requests.ts";

/** The Transaction schema's `maxItems` for `submissions` (schemas/json-schema/Transaction.json): one more is schema-invalid. */
const SCHEMA_MAX_SUBMISSIONS = 1000;

/** The transaction answered 200 with the item rejected per item (a rejected item never fails the transaction, §8.5). */
function expectItemRejected(a: HttpAnswer, id: string, codes: string[], where: string): void {
  const r = expectOk<TransactionResult>(a, "TransactionResult", where, 200);
  const item = r.rejected.find((x) => x.id === id);
  ensure(item, `${where}: item ${id} was not rejected`, `rejected ∋ {id: ${id}, errcode ∈ ${codes.join("|")}}`, r);
  ensure(codes.includes(item.errcode), `${where}: wrong errcode`, codes.join(" or "), item.errcode);
  ensure(!r.processed.includes(id), `${where}: item both rejected and processed`, "not processed", r.processed);
}

export const setupChannel = perTarget((role) => ({
  id: "adv/setup/channel",
  name: `${role} creates a channel for the adversarial checks (hubbed by ${role})`,
  requirements: ["CTRL-13"],
  level: "MUST",
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const info = await t.control.createChannel(`adv-${ctx.runId}-${role[0]}`);
    noteAdv(ctx, role, { channel: info.channel });
  },
}));

export const beforeMembership: Check[] = [
  ...perTarget((role) => ({
    id: "adv/txn/non-member-submission",
    name: "a submission from a server that is not a member is rejected per item with SMCP_NOT_MEMBER and never sequenced",
    requirements: ["TXN-11", "TXN-26"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@", "adv/sign/baseline@@"],
    async run(ctx) {
      const sub = submission(ctx, role);
      expectItemRejected(await sendTxn(ctx, role, { submissions: [sub] }), sub.submission_id, ["SMCP_NOT_MEMBER"], "non-member submission");
      const held = await withMarker(ctx, role, markerOf(sub));
      ensure(held.length === 0, "the refused submission was sequenced anyway", 0, held.length);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/backfill/unknown-channel",
    name: "backfill of a channel of the receiver's that does not exist gets 404 SMCP_UNKNOWN_CHANNEL",
    requirements: ["DLV-16"],
    level: "MUST",
    prerequisites: ["adv/sign/baseline@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const a = await ctx.fake.send(t.name, { method: "GET", path: backfillPath(`!nope-${ctx.runId}:${t.name}`, "after=0") });
      expectError(a, "SMCP_UNKNOWN_CHANNEL", "backfill of an unknown channel");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/backfill/non-member",
    name: "backfill of an existing channel by a non-member gets 403 SMCP_NOT_MEMBER",
    requirements: ["DLV-17"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@", "adv/sign/baseline@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const a = await ctx.fake.send(t.name, { method: "GET", path: backfillPath(advChannel(ctx, role), "after=0") });
      expectError(a, "SMCP_NOT_MEMBER", "non-member backfill");
    },
  })),
];

export const routing: Check[] = [
  ...perTarget((role) => ({
    id: "adv/txn/empty",
    name: "a transaction with no events and no submissions is answered 200 with empty lists",
    requirements: ["TXN-07"],
    level: "MUST",
    prerequisites: ["adv/sign/baseline@@"],
    async run(ctx) {
      const r = expectOk<TransactionResult>(await sendTxn(ctx, role, {}), "TransactionResult", "empty transaction", 200);
      ensure(r.processed.length === 0 && r.rejected.length === 0 && r.sequenced.length === 0, "empty transaction answered with items", { processed: [], rejected: [], sequenced: [] }, r);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/submission-routing",
    name: "submissions for a channel hubbed elsewhere get per-item SMCP_NOT_HUB, for an unknown own channel SMCP_UNKNOWN_CHANNEL",
    requirements: ["TXN-10", "TXN-12", "TXN-24"],
    level: "MUST",
    prerequisites: ["adv/sign/baseline@@", "adv/setup/channel@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const elsewhere = submission(ctx, role, { channel: `!x-${ctx.runId}:elsewhere.test` });
      const unknown = submission(ctx, role, { channel: `!nope-${ctx.runId}:${t.name}` });
      const a = await sendTxn(ctx, role, { submissions: [elsewhere, unknown] });
      expectItemRejected(a, elsewhere.submission_id, ["SMCP_NOT_HUB"], "submission for another hub's channel");
      expectItemRejected(a, unknown.submission_id, ["SMCP_UNKNOWN_CHANNEL"], "submission for an unknown channel");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/backfill/not-hub",
    name: "backfill of a channel hubbed by another server gets 403 SMCP_NOT_HUB",
    requirements: ["DLV-16"],
    level: "MUST",
    prerequisites: ["adv/sign/baseline@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const a = await ctx.fake.send(t.name, { method: "GET", path: backfillPath(`!x-${ctx.runId}:elsewhere.test`, "after=0") });
      expectError(a, "SMCP_NOT_HUB", "backfill of another hub's channel");
    },
  })),
];

/** State shared by the idempotency checks of one target. */
const lastTxn = new Map<Role, { txnId: string; bytes: Buffer; result: TransactionResult; sub: Submission }>();

export const memberTransactions: Check[] = [
  ...perTarget((role) => ({
    id: "adv/txn/submission-sequenced",
    name: "a member's submission is sequenced by the hub, visible on the hub and fanned out back to the sender",
    requirements: ["TXN-13", "TXN-14", "DLV-01", "CHAN-05", "EVT-11"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const sub = submission(ctx, role);
      const txnId = ctx.fake.nextTxnId();
      const body = transaction(ctx, { submissions: [sub] });
      const bytes = Buffer.from(JSON.stringify(body));
      const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${txnId}`, rawBody: bytes });
      const r = expectOk<TransactionResult>(a, "TransactionResult", "member submission", 200);
      const seqd = r.sequenced.find((s) => s.submission_id === sub.submission_id);
      ensure(r.processed.includes(sub.submission_id) && seqd, "submission not processed and sequenced", { processed: [sub.submission_id], sequenced: [{ submission_id: sub.submission_id }] }, r);
      lastTxn.set(role, { txnId, bytes, result: r, sub });
      const held = await withMarker(ctx, role, markerOf(sub));
      ensure(held.length === 1 && held[0]!.event_id === seqd.event_id && held[0]!.seq === seqd.seq && held[0]!.sender === ctx.fake.name, "hub's stored event differs from the sequenced answer", seqd, held);
      const ev = held[0]!;
      expectSameJson({ type: ev.type, origin_ts: ev.origin_ts, data: ev.data }, { type: sub.type, origin_ts: sub.origin_ts, data: sub.data }, "the hub changed the submission's content (§7.2, EVT-11)");
      const ch = advChannel(ctx, role);
      const back = await ctx.fake.waitUntil(() => ctx.fake.participant.get(ch)?.events.get(seqd.seq)?.event_id === seqd.event_id, ctx.options.deliveryTimeoutMs);
      ensure(back, "the hub did not send the sequenced event back to its sender (fan-out includes the sender)", seqd.event_id, "nothing within the delivery timeout");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/duplicate-txn",
    name: "the same txn_id with identical bytes returns the stored result and creates no duplicate event",
    requirements: ["TXN-16"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const prior = lastTxn.get(role)!;
      const a = await ctx.fake.send(t.name, { method: "PUT", path: `/federation/v1/send/${prior.txnId}`, rawBody: prior.bytes });
      const r = expectOk<TransactionResult>(a, "TransactionResult", "repeated transaction", 200);
      expectSameJson(r, prior.result, "a repeated transaction returned another result");
      const held = await withMarker(ctx, role, markerOf(prior.sub));
      ensure(held.length === 1, "a repeated transaction sequenced the submission again", 1, held.length);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/concurrent-repeat",
    name: "two copies of one transaction sent at once are processed once and both answered with the same result",
    requirements: ["TXN-20", "TXN-16"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const sub = submission(ctx, role);
      const path = `/federation/v1/send/${ctx.fake.nextTxnId()}`;
      const bytes = Buffer.from(JSON.stringify(transaction(ctx, { submissions: [sub] })));
      const copy = { method: "PUT" as const, path, rawBody: bytes };
      const [a, b] = await ctx.fake.sendTogether(t.name, [copy, copy]);
      const ra = expectOk<TransactionResult>(a!, "TransactionResult", "first copy", 200);
      const rb = expectOk<TransactionResult>(b!, "TransactionResult", "second copy", 200);
      expectSameJson(rb, ra, "concurrent copies got different results");
      const held = await withMarker(ctx, role, markerOf(sub));
      ensure(held.length === 1, "concurrent copies sequenced the submission more than once", 1, held.length);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/mixed-items",
    name: "a rejected item does not fail its transaction: valid items are processed, every item is answered exactly once",
    requirements: ["TXN-26", "TXN-24"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const good = submission(ctx, role);
      const bad = submission(ctx, role, { type: "smcp:channel.create" });
      const other = submission(ctx, role, { channel: `!x-${ctx.runId}:elsewhere.test` });
      const r = expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [good, bad, other] }), "TransactionResult", "mixed transaction", 200);
      for (const s of [good, bad, other]) {
        const n = r.processed.filter((x) => x === s.submission_id).length + r.rejected.filter((x) => x.id === s.submission_id).length;
        ensure(n === 1, `item ${s.submission_id} answered ${n} times`, 1, r);
      }
      ensure(r.processed.includes(good.submission_id) && r.sequenced.some((x) => x.submission_id === good.submission_id), "the valid item was not processed", good.submission_id, r);
      ensure((await withMarker(ctx, role, markerOf(good))).length === 1, "the valid item was not sequenced", 1, 0);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/txn-conflict",
    name: "the same txn_id with different bytes gets 409 SMCP_CONFLICT",
    requirements: ["TXN-17"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const prior = lastTxn.get(role)!;
      const other = submission(ctx, role);
      const a = await sendTxn(ctx, role, { submissions: [other] }, prior.txnId);
      expectError(a, "SMCP_CONFLICT", "reused txn_id with another body");
      ensure((await withMarker(ctx, role, markerOf(other))).length === 0, "the conflicting transaction was applied", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/duplicate-submission",
    name: "the same submission_id in a new transaction is sequenced at most once (same event answered)",
    requirements: ["TXN-22"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const prior = lastTxn.get(role)!;
      const r = expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [prior.sub] }), "TransactionResult", "resubmission", 200);
      const first = prior.result.sequenced.find((s) => s.submission_id === prior.sub.submission_id)!;
      const again = r.sequenced.find((s) => s.submission_id === prior.sub.submission_id);
      ensure(again && again.event_id === first.event_id && again.seq === first.seq, "resubmission was not answered with the first event", first, r);
      const held = await withMarker(ctx, role, markerOf(prior.sub));
      ensure(held.length === 1, "the resubmission created a second event", 1, held.length);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/spoofed-sender",
    name: "a submission whose sender is not the transaction's origin is rejected per item with SMCP_ORIGIN_MISMATCH",
    requirements: ["TXN-09"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const sub = submission(ctx, role, { sender: known(ctx, role === "alice" ? "bob" : "alice").name });
      const a = await sendTxn(ctx, role, { submissions: [sub] });
      expectItemRejected(a, sub.submission_id, ["SMCP_ORIGIN_MISMATCH"], "spoofed sender");
      ensure((await withMarker(ctx, role, markerOf(sub))).length === 0, "a spoofed submission was sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/reserved-type",
    name: "a submission using the reserved smcp: namespace is rejected per item with SMCP_BAD_EVENT",
    requirements: ["EVT-01"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const sub = submission(ctx, role, { type: "smcp:member.join" });
      const a = await sendTxn(ctx, role, { submissions: [sub] });
      expectItemRejected(a, sub.submission_id, ["SMCP_BAD_EVENT"], "reserved type");
      ensure((await withMarker(ctx, role, markerOf(sub))).length === 0, "a reserved-type submission was sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/too-many-items",
    name: "a transaction with limits.max_txn_items + 1 items gets 413 SMCP_TOO_LARGE and nothing is sequenced",
    requirements: ["TXN-05"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const n = t.discovery.limits.max_txn_items + 1;
      const marker = uid(ctx, "bulk");
      const subs = Array.from({ length: n }, () => submission(ctx, role, { data: { marker } as never }));
      expectError(await sendTxn(ctx, role, { submissions: subs }), "SMCP_TOO_LARGE", `${n}-item transaction`);
      const held = await withMarker(ctx, role, marker);
      ensure(held.length === 0, "items of a refused transaction were sequenced", 0, held.length);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/data-too-large",
    name: "a submission whose data exceeds limits.max_event_data_bytes is rejected per item with SMCP_TOO_LARGE",
    requirements: ["EVT-12", "TXN-12"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const max = t.discovery.limits.max_event_data_bytes;
      const marker = uid(ctx, "big");
      const base = JSON.stringify({ marker, pad: "" });
      const sub = submission(ctx, role, { data: { marker, pad: "x".repeat(max + 1 - base.length) } as never });
      expectItemRejected(await sendTxn(ctx, role, { submissions: [sub] }), sub.submission_id, ["SMCP_TOO_LARGE"], `data of ${max + 1} bytes`);
      ensure((await withMarker(ctx, role, marker)).length === 0, "the oversized submission was sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/not-hub",
    name: "sequenced events for a channel, sent by a server that is not its hub, are rejected with SMCP_NOT_HUB",
    requirements: ["TXN-27"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const evs = await t.control.allEvents(ch);
      const last = evs[evs.length - 1]!;
      const forged = finaliseEvent(ctx.fake.key, {
        channel: ch, seq: last.seq + 1, prev_event: last.event_id, type: "conformance:forged", sender: ctx.fake.name,
        origin_ts: Date.now(), hub_ts: Date.now(), data: { marker: uid(ctx, "forged") } as unknown as Event["data"],
      });
      const a = await sendTxn(ctx, role, { events: [forged] });
      expectItemRejected(a, forged.event_id, ["SMCP_NOT_HUB"], "events from a non-hub");
      const after = await t.control.allEvents(ch);
      ensure(!after.some((e) => e.event_id === forged.event_id), "the forged event was stored", "absent", answerSummary(a));
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/non-canonical-data",
    name: "a submission whose data holds 1e21 (an integer beyond 2^53-1, no canonical form) is rejected per item with SMCP_BAD_EVENT",
    requirements: ["EVT-19", "JCS-08"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const marker = uid(ctx, "1e21");
      const sub = submission(ctx, role, { data: { marker, big: 1e21 } as never });
      expectItemRejected(await sendTxn(ctx, role, { submissions: [sub] }), sub.submission_id, ["SMCP_BAD_EVENT"], "data without a canonical form");
      ensure((await withMarker(ctx, role, marker)).length === 0, "a value without a canonical form was sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/repeat-before-item-limit",
    name: "a used txn_id sent again with other bytes and too many items gets 409 SMCP_CONFLICT (idempotency before the item limit)",
    requirements: ["TXN-37", "TXN-17"],
    level: "MUST",
    prerequisites: ["adv/txn/submission-sequenced@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const prior = lastTxn.get(role)!;
      const marker = uid(ctx, "bulk-repeat");
      const subs = Array.from({ length: t.discovery.limits.max_txn_items + 1 }, () => submission(ctx, role, { data: { marker } as never }));
      expectError(await sendTxn(ctx, role, { submissions: subs }, prior.txnId), "SMCP_CONFLICT", "reused txn_id, other bytes, too many items");
      ensure((await withMarker(ctx, role, marker)).length === 0, "items of a refused transaction were sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/schema-array-bound",
    name: `a transaction with ${SCHEMA_MAX_SUBMISSIONS + 1} submissions (over the schema's ${SCHEMA_MAX_SUBMISSIONS}) gets 400 SMCP_INVALID, not the item limit's 413`,
    requirements: ["TXN-40", "SIGN-28"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const marker = uid(ctx, "schema-bound");
      const subs = Array.from({ length: SCHEMA_MAX_SUBMISSIONS + 1 }, (_, i) => submission(ctx, role, { submission_id: `sb${i}-${ctx.runId}`, data: { marker } as never }));
      expectError(await sendTxn(ctx, role, { submissions: subs }), "SMCP_INVALID", `${SCHEMA_MAX_SUBMISSIONS + 1} submissions`);
      ensure((await withMarker(ctx, role, marker)).length === 0, "items of a refused transaction were sequenced", 0, "sequenced");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/txn/error-not-stored",
    name: "a transaction answered 413 is not stored: the same txn_id with a valid body is processed afresh (not 409)",
    requirements: ["TXN-19", "TXN-05"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const txnId = ctx.fake.nextTxnId();
      const marker = uid(ctx, "afresh");
      const subs = Array.from({ length: t.discovery.limits.max_txn_items + 1 }, () => submission(ctx, role, { data: { marker } as never }));
      expectError(await sendTxn(ctx, role, { submissions: subs }, txnId), "SMCP_TOO_LARGE", "too many items");
      const one = submission(ctx, role, { data: { marker } as never });
      const r = expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [one] }, txnId), "TransactionResult", "same txn_id, now within the limit", 200);
      ensure(r.processed.includes(one.submission_id), "the repeat was not processed afresh", { processed: [one.submission_id] }, r);
      ensure((await withMarker(ctx, role, marker)).length === 1, "not exactly the one valid submission was sequenced", 1, "another count");
    },
  })),
];
