// Conformance harness: per-origin state seen from two signing identities — the fake peer (mallory) and a second one
// (eve) — against each instance: txn_id, call_id, nonce, rate bucket and membership are keyed per origin (spec §5.5, §5.7, §8.4, §10).
import { newNonce } from "../../protocol/signing.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { Ping, RemoteCall, RemoteCallResult, Submission, Transaction, TransactionResult } from "../../protocol/types.ts";
import { answerSummary, ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { sendTogether, type FakePeer } from "../fake-peer.ts";
import { expectSameJson, sameJson } from "./support/json-value.ts";
import { taskOf } from "./support/matchers.ts";
import { awaitServedAgain, burst } from "./support/rate.ts";
import { backfillPath, fakeListTasks, markerOf, remoteCall, submission, uid, withMarker } from "./support/requests.ts";
import { advChannel, known, limitsOf, noteAdv, secondChannel, secondIdentity, startSecondIdentity } from "./support/state.ts";

const PING = "/federation/v1/ping";

/** A submission from `from` to `channel`, with a unique marker. */
function submissionAs(ctx: CheckContext, role: Role, from: FakePeer, channel: string): Submission {
  return submission(ctx, role, { sender: from.name, channel });
}

/** The exact bytes of a transaction from `from` (kept, so that a repeat is byte-identical). */
function txnBytes(from: FakePeer, parts: Omit<Transaction, "origin" | "origin_ts">): Buffer {
  return Buffer.from(JSON.stringify({ origin: from.name, origin_ts: Date.now(), ...parts }));
}

function putTxn(from: FakePeer, to: string, txnId: string, bytes: Buffer): Promise<HttpAnswer> {
  return from.send(to, { method: "PUT", path: `/federation/v1/send/${txnId}`, rawBody: bytes });
}

function callAs(from: FakePeer, to: string, body: RemoteCall): Promise<HttpAnswer> {
  return from.send(to, { method: "POST", path: "/federation/v1/call", body: { ...body, origin: from.name } });
}

/** The answer to a repeat of another origin's key: refused as the other's conflict, or answered with the other's result, is the keyed-by-ID-alone bug. */
function notTheOthers(a: HttpAnswer, others: unknown, where: string): void {
  if (a.status === 409) fail(`${where}: refused as a conflict — the key is the ID alone, not (origin, ID)`, "200, processed as its own", answerSummary(a));
  if (a.status === 200 && sameJson(a.body, others)) fail(`${where}: answered with the other origin's stored result — the key is the ID alone, not (origin, ID)`, "its own result", answerSummary(a));
}

function sequencedOnce(r: TransactionResult, sub: Submission, where: string): void {
  ensure(r.processed.includes(sub.submission_id) && r.sequenced.some((s) => s.submission_id === sub.submission_id), `${where}: the submission was not processed and sequenced`, { processed: [sub.submission_id] }, r);
}

export const setupSecondIdentity = perTarget((role) => ({
  id: "adv/setup/second-identity",
  name: `${role} maps and discovers the harness's second signing identity, with its own name and key, and serves its signed requests`,
  requirements: ["DISC-20", "CTRL-10", "CTRL-08", "SIGN-01"],
  level: "MUST",
  prerequisites: ["adv/setup/fake-peer@@"],
  async run(ctx) {
    const t = target(ctx, role);
    const eve = await startSecondIdentity(ctx);
    await t.control.mapHost(eve.name, eve.url);
    const info = await t.control.discover(eve.name);
    ensure(info.key_id === eve.key.keyId, "discovered key of the second identity differs from its well-known key", eve.key.keyId, info.key_id);
    const ping = expectOk<Ping>(await eve.send(known(ctx, role).name, { method: "GET", path: PING }), "Ping", "signed ping from the second identity", 200);
    ensure(ping.server_name === t.name, "ping answered for another server", t.name, ping.server_name);
  },
}));

/** Before eve is a member of anything: mallory's membership must not lend her rights. */
export const identityBeforeMembership: Check[] = [
  ...perTarget((role) => ({
    id: "adv/identity/nonce-per-origin",
    name: "a nonce used by one origin does not block another origin, and is refused again from the first (replay cache keyed by (origin, nonce))",
    requirements: ["SIGN-38"],
    level: "MUST",
    prerequisites: ["adv/sign/baseline@@", "adv/setup/second-identity@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const eve = secondIdentity(ctx);
      const nonce = newNonce();
      expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { nonce } }), "Ping", "mallory's ping recording the nonce", 200);
      const b = await eve.send(t.name, { method: "GET", path: PING, sign: { nonce } });
      if (b.status === 401) fail("another origin's request reusing the nonce was refused — the replay cache is keyed by nonce alone, not (origin, nonce)", "200", answerSummary(b));
      expectOk(b, "Ping", "eve's ping reusing mallory's nonce", 200);
      expectError(await ctx.fake.send(t.name, { method: "GET", path: PING, sign: { nonce } }), "SMCP_REPLAY", "mallory's nonce again, freshly signed");
      expectError(await eve.send(t.name, { method: "GET", path: PING, sign: { nonce } }), "SMCP_REPLAY", "eve's nonce again, freshly signed");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/identity/membership-per-origin",
    name: "one origin's membership gives another none: a non-member's call gets 403 SMCP_FORBIDDEN, its submission per-item SMCP_NOT_MEMBER, its backfill 403 SMCP_NOT_MEMBER",
    requirements: ["CALL-21", "CALL-22", "TXN-11", "DLV-17"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@", "adv/setup/second-identity@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const eve = secondIdentity(ctx);
      const ch = advChannel(ctx, role);
      const before = (await fakeListTasks(ctx, t)).length;
      expectError(await callAs(eve, t.name, remoteCall(ctx, t, "create_task", { title: uid(ctx, "eve-not-member") })), "SMCP_FORBIDDEN", "call from a server that shares no channel (another origin is a member)");
      ensure((await fakeListTasks(ctx, t)).length === before, "the non-member's call ran the tool", before, "one more task");
      const sub = submissionAs(ctx, role, eve, ch);
      const r = expectOk<TransactionResult>(await putTxn(eve, t.name, eve.nextTxnId(), txnBytes(eve, { submissions: [sub] })), "TransactionResult", "non-member's submission", 200);
      const item = r.rejected.find((x) => x.id === sub.submission_id);
      ensure(item?.errcode === "SMCP_NOT_MEMBER" && !r.processed.includes(sub.submission_id), "a non-member's submission to a channel another origin belongs to was not rejected with SMCP_NOT_MEMBER", { rejected: [{ id: sub.submission_id, errcode: "SMCP_NOT_MEMBER" }] }, r);
      ensure((await withMarker(ctx, role, markerOf(sub))).length === 0, "the non-member's submission was sequenced", 0, "sequenced");
      expectError(await eve.send(t.name, { method: "GET", path: backfillPath(ch, "after=0") }), "SMCP_NOT_MEMBER", "backfill by a non-member of a channel another origin belongs to");
    },
  })),
];

export const setupSecondMember = perTarget((role) => ({
  id: "adv/setup/second-identity-member",
  name: `${role} creates a second channel and invites the second identity (not the fake peer) into it`,
  requirements: ["CTRL-13", "CTRL-15", "CHAN-06"],
  level: "MUST",
  // Runs after adv/identity/membership-per-origin (index order): that check needs eve a member of nothing.
  prerequisites: ["adv/setup/second-identity@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const eve = secondIdentity(ctx);
    const info = await t.control.createChannel(`adv-${ctx.runId}-${role[0]}-eve`);
    const outcome = await t.control.invite(info.channel, eve.name);
    ensure(outcome.accepted && outcome.server === eve.name, "invite outcome is not accepted", { accepted: true, server: eve.name }, outcome);
    ensure(eve.invitedTo.has(info.channel) && !ctx.fake.invitedTo.has(info.channel), "the invite did not reach the second identity (alone)", info.channel, { eve: [...eve.invitedTo], mallory: [...ctx.fake.invitedTo] });
    noteAdv(ctx, role, { secondChannel: info.channel });
  },
}));

export const identityAsMembers: Check[] = [
  ...perTarget((role) => ({
    id: "adv/identity/txn-id-per-origin",
    name: "one txn_id from two origins is two transactions, each applied once — also carrying one submission_id from two senders; a repeat from one origin gets its own stored result, other bytes 409",
    requirements: ["TXN-16", "TXN-17", "TXN-22"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@", "adv/setup/second-identity-member@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const eve = secondIdentity(ctx);
      const txnId = ctx.fake.nextTxnId();
      const subM = submissionAs(ctx, role, ctx.fake, advChannel(ctx, role));
      // Eve reuses mallory's submission_id: submissions are keyed per (sender, submission_id), so eve's is new (TXN-22).
      const subE = { ...submissionAs(ctx, role, eve, secondChannel(ctx, role)), submission_id: subM.submission_id };
      const [bytesM, bytesE] = [txnBytes(ctx.fake, { submissions: [subM] }), txnBytes(eve, { submissions: [subE] })];
      const rM = expectOk<TransactionResult>(await putTxn(ctx.fake, t.name, txnId, bytesM), "TransactionResult", "mallory's transaction", 200);
      sequencedOnce(rM, subM, "mallory's transaction");
      const a = await putTxn(eve, t.name, txnId, bytesE);
      notTheOthers(a, rM, "eve's transaction under mallory's txn_id");
      const rE = expectOk<TransactionResult>(a, "TransactionResult", "eve's transaction under mallory's txn_id", 200);
      sequencedOnce(rE, subE, "eve's transaction under mallory's txn_id");
      expectSameJson(expectOk(await putTxn(ctx.fake, t.name, txnId, bytesM), "TransactionResult", "mallory's repeat", 200), rM, "mallory's byte-identical repeat did not get mallory's stored result");
      expectSameJson(expectOk(await putTxn(eve, t.name, txnId, bytesE), "TransactionResult", "eve's repeat", 200), rE, "eve's byte-identical repeat did not get eve's stored result");
      ensure((await withMarker(ctx, role, markerOf(subM))).length === 1, "mallory's submission was not sequenced exactly once", 1, "another count");
      ensure((await withMarker(ctx, role, markerOf(subE), secondChannel(ctx, role))).length === 1, "eve's submission was not sequenced exactly once", 1, "another count");
      const other = submissionAs(ctx, role, ctx.fake, advChannel(ctx, role));
      expectError(await putTxn(ctx.fake, t.name, txnId, txnBytes(ctx.fake, { submissions: [other] })), "SMCP_CONFLICT", "mallory's txn_id again with other bytes");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/identity/call-id-per-origin",
    name: "one call_id from two origins runs the tool twice; a byte-identical repeat from one origin gets its own stored result and runs nothing",
    requirements: ["CALL-10", "CALL-12"],
    level: "MUST",
    prerequisites: ["adv/calls/member-call@@", "adv/setup/second-identity-member@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const eve = secondIdentity(ctx);
      const callId = uid(ctx, "shared-call");
      const before = (await fakeListTasks(ctx, t)).length;
      const bodyM = remoteCall(ctx, t, "create_task", { title: uid(ctx, "from-mallory") }, callId);
      const bodyE = { ...remoteCall(ctx, t, "create_task", { title: uid(ctx, "from-eve") }, callId), origin: eve.name };
      const rM = expectOk<RemoteCallResult>(await callAs(ctx.fake, t.name, bodyM), "RemoteCallResult", "mallory's call", 200);
      const a = await callAs(eve, t.name, bodyE);
      notTheOthers(a, rM, "eve's call under mallory's call_id");
      const rE = expectOk<RemoteCallResult>(a, "RemoteCallResult", "eve's call under mallory's call_id", 200);
      const [taskM, taskE] = [taskOf(rM, "mallory's create_task"), taskOf(rE, "eve's create_task")];
      ensure(taskE.title === (bodyE.params as { title: string }).title && taskE.id !== taskM.id, "eve's call did not run the tool for eve", { title: (bodyE.params as { title: string }).title }, taskE);
      ensure((await fakeListTasks(ctx, t)).length === before + 2, "the tool did not run once per origin", before + 2, "another count");
      expectSameJson(expectOk(await callAs(ctx.fake, t.name, bodyM), "RemoteCallResult", "mallory's repeat", 200), rM, "mallory's byte-identical repeat did not get mallory's stored result");
      expectSameJson(expectOk(await callAs(eve, t.name, bodyE), "RemoteCallResult", "eve's repeat", 200), rE, "eve's byte-identical repeat did not get eve's stored result");
      ensure((await fakeListTasks(ctx, t)).length === before + 2, "a repeat ran the tool again", before + 2, "more");
      // The same, both calls arriving at once: a call in flight is joined only by its own origin's repeats (CALL-11).
      const sharedAtOnce = uid(ctx, "shared-at-once");
      const atOnceM = remoteCall(ctx, t, "create_task", { title: uid(ctx, "at-once-mallory") }, sharedAtOnce);
      const atOnceE = { ...remoteCall(ctx, t, "create_task", { title: uid(ctx, "at-once-eve") }, sharedAtOnce), origin: eve.name };
      const call = (body: RemoteCall) => ({ method: "POST" as const, path: "/federation/v1/call", body });
      const [m2, e2] = await sendTogether([ctx.fake.paced(t.name, call(atOnceM)), eve.paced(t.name, call(atOnceE))]);
      const rM2 = expectOk<RemoteCallResult>(m2!, "RemoteCallResult", "mallory's call sent together with eve's", 200);
      notTheOthers(e2!, rM2, "eve's call arriving with mallory's under the same call_id");
      const rE2 = expectOk<RemoteCallResult>(e2!, "RemoteCallResult", "eve's call sent together with mallory's", 200);
      ensure(taskOf(rE2, "eve's create_task").title === (atOnceE.params as { title: string }).title, "eve's concurrent call did not run the tool for eve", (atOnceE.params as { title: string }).title, taskOf(rE2, "eve's create_task"));
      ensure((await fakeListTasks(ctx, t)).length === before + 4, "two origins' concurrent calls under one call_id did not run the tool once each", before + 4, "another count");
    },
  })),
];

export const rateBucketPerOrigin = perTarget((role) => ({
  id: "adv/identity/rate-bucket-per-origin",
  name: "one origin's exhausted rate bucket does not refuse another origin: its pings are served while the first gets 429",
  requirements: ["RATE-01", "RATE-04"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@", "adv/setup/second-identity@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const eve = secondIdentity(ctx);
    const { sent, limited } = await burst(ctx, role);
    if (!limited) fail(`no 429 for mallory after ${sent} signed requests in a burst (adv/limits/rate-limited says more)`, "429 once mallory's bucket is empty", `${sent} served`);
    // While mallory's bucket is empty, mallory and eve send at once: eve's bucket (RATE-01: her own, long refilled since
    // her few earlier requests) must serve every one; a quarter of the burst size stays well inside it.
    const n = Math.max(1, Math.min(20, Math.floor(limitsOf(t).rate_burst / 4)));
    const keep = ctx.recorder.current.length;
    const [fromEve] = await Promise.all([
      Promise.all(Array.from({ length: n }, () => eve.send(t.name, { method: "GET", path: PING }))),
      Promise.all(Array.from({ length: n }, () => ctx.fake.send(t.name, { method: "GET", path: PING }))),
    ]);
    ctx.recorder.current.length = Math.min(ctx.recorder.current.length, keep + 3);
    const refused = fromEve.filter((a) => a.status !== 200);
    if (refused.length > 0) fail(`${refused.length} of ${n} pings from another origin were refused while mallory's bucket was empty — the bucket is not per origin`, `${n} × 200`, answerSummary(refused[0]!));
    ctx.note(`mallory limited after ${sent} requests; ${n} pings from ${eve.name} served meanwhile`);
    await awaitServedAgain(ctx, role, limited.retry_after_ms ?? 1_000);
  },
}));
