// Conformance harness: the fake peer as a participant in a channel each instance under test hubs — invites, the
// transactions and heads the hub sends, backfill served by the hub (spec §7.4, §8, §9).
import { eventProblem, headVerifies } from "../../protocol/events.ts";
import type { BackfillPage, Event, Transaction } from "../../protocol/types.ts";
import { ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, type Check } from "../context.ts";
import type { InboundRecord, StrayRecord } from "../fake-peer.ts";
import { advChannel, known } from "./support/state.ts";
import { backfillPath, uid } from "./support/requests.ts";
import { chainProblem } from "./support/matchers.ts";
import { expectSameJson } from "./support/json-value.ts";

/** Where a stray request came from, as far as the harness can tell. */
function strayNote(s: StrayRecord | undefined): string {
  if (!s) return "";
  const when = s.during ? `arrived during ${s.during}` : "arrived between checks";
  const channels = s.record.concerns?.join(", ") ?? "";
  return ` (not charged to a check: ${when}, but concerns ${channels}${s.cause ? `, last acted on by ${s.cause}` : ", which no check acted on"})`;
}

function joinedFake(e: Event, fake: string): boolean {
  return e.type === "smcp:member.join" && (e.data as { server?: unknown }).server === fake;
}

export const invited = perTarget((role) => ({
  id: "adv/participant/invited",
  name: "the instance invites the fake peer (signed POST /federation/v1/invite) and sends it the join event",
  requirements: ["CHAN-06", "CTRL-15", "DLV-01", "CHAN-13"],
  level: "MUST",
  prerequisites: ["adv/setup/channel@@", "adv/setup/fake-peer@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const ch = advChannel(ctx, role);
    const outcome = await t.control.invite(ch, ctx.fake.name);
    ensure(outcome.accepted && outcome.server === ctx.fake.name, "invite outcome is not accepted", { accepted: true, server: ctx.fake.name }, outcome);
    ensure(ctx.fake.invitedTo.has(ch), "the fake peer never received POST /federation/v1/invite", ch, [...ctx.fake.invitedTo]);
    const got = await ctx.fake.waitUntil(() => [...(ctx.fake.participant.get(ch)?.events.values() ?? [])].some((e) => joinedFake(e, ctx.fake.name)), ctx.options.deliveryTimeoutMs);
    ensure(got, "the hub never sent the fake peer its smcp:member.join event", "a transaction carrying smcp:member.join {server: fake}", "nothing");
  },
}));

export const asParticipant: Check[] = [
  ...perTarget((role) => ({
    id: "adv/participant/backfill",
    name: "the hub serves its member a gap-free, verifying backfill with a signed head, and honours limit",
    requirements: ["CHAN-16", "DLV-18", "DLV-19", "DLV-08", "EVT-03"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, "after=0") }), "BackfillPage", "backfill", 200);
      ensure(page.channel === ch && page.events.length > 0, "backfill page empty or for another channel", ch, page);
      const p = chainProblem(page.events);
      if (p) fail(`backfill is not the chain 1..n: ${p}`, "consecutive events from after+1", page.events.map((e) => e.seq));
      for (const e of page.events) {
        const problem = eventProblem(t.key, e);
        if (problem) fail(`backfilled seq ${e.seq}: ${problem}`, "verifying event", e);
      }
      const first = page.events[0]!;
      ensure(first.type === "smcp:channel.create" && (first.data as { creator?: unknown }).creator === t.name, "seq 1 is not smcp:channel.create by the hub", { type: "smcp:channel.create", data: { creator: t.name } }, first);
      ensure(page.events.some((e) => joinedFake(e, ctx.fake.name)), "backfill lacks the fake peer's join", "smcp:member.join", page.events.map((e) => e.type));
      ensure(headVerifies(t.key, page.head) && page.head.channel === ch, "backfill head does not verify (§9.3)", "head signed by the hub", page.head);
      const last = page.events[page.events.length - 1]!;
      ensure(page.head.seq >= last.seq && (page.head.seq !== last.seq || page.head.event_id === last.event_id), "head is behind or contradicts the events", { seq: last.seq, event_id: last.event_id }, page.head);
      const held = ctx.fake.participant.get(ch)!;
      for (const e of page.events) {
        const got = held.events.get(e.seq);
        if (got && got.event_id !== e.event_id) fail(`seq ${e.seq} differs between transaction and backfill (equivocation)`, got.event_id, e.event_id);
      }
      const one = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, "after=0&limit=1") }), "BackfillPage", "backfill limit=1", 200);
      ensure(one.events.length === 1 && one.events[0]!.seq === 1, "limit=1 not honoured", "exactly seq 1", one.events.map((e) => e.seq));
    },
  })),
  ...perTarget((role) => ({
    id: "adv/participant/publish-fanout",
    name: "an event published on the hub reaches the fake participant, verifying, in a transaction that carries a signed head",
    requirements: ["DLV-01", "DLV-09", "DLV-10"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const pub = await t.control.publish(ch, "conformance:probe", { marker: uid(ctx, "probe") });
      const got = await ctx.fake.waitUntil(() => ctx.fake.participant.get(ch)?.events.get(pub.seq)?.event_id === pub.event_id, ctx.options.deliveryTimeoutMs);
      ensure(got, "the published event never reached the fake participant", pub.event_id, "nothing within the delivery timeout");
      const carrying = ctx.fake.records.filter((r) => r.route === "send" && r.origin === t.name && ((r.body as Transaction | undefined)?.events ?? []).some((e) => e.event_id === pub.event_id));
      for (const r of carrying) {
        const heads = (r.body as Transaction).heads ?? [];
        ensure(heads.some((h) => h.channel === ch), "a transaction carrying events lacks the channel's signed head (§9.3)", `heads ∋ ${ch}`, heads);
      }
    },
  })),
  ...perTarget((role) => ({
    id: "adv/participant/chain",
    name: "everything the hub sent the fake peer forms one verifying chain with no equivocation",
    requirements: ["TXN-34", "DLV-06", "DLV-02"],
    level: "MUST",
    prerequisites: ["adv/participant/backfill@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, "after=0&limit=1000") }), "BackfillPage", "backfill", 200);
      const held = ctx.fake.participant.get(ch)!;
      const join = page.events.find((e) => joinedFake(e, ctx.fake.name))!;
      const early = [...held.events.keys()].filter((s) => s < join.seq);
      ensure(early.length === 0, "the hub pushed events from before the fake peer's join (those are for backfill, §9.2)", `seq ≥ ${join.seq}`, early);
      for (const [seq, e] of held.events) {
        const auth = page.events.find((x) => x.seq === seq);
        ensure(auth && auth.event_id === e.event_id, `seq ${seq} sent in a transaction is not the hub's stored event`, auth?.event_id, e.event_id);
      }
      ctx.note(`${held.events.size} events received by transaction, ${page.events.length} held by the hub`);
    },
  })),
  ...perTarget((role) => ({
    id: "adv/participant/canonical-json",
    name: "an event whose data needs JCS's UTF-16 member order and ECMAScript number forms reaches the fake peer with an event ID and hub signature that recompute",
    requirements: ["JCS-05", "JCS-06", "JCS-07", "JCS-13", "NAME-14"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      // U+1F600 sorts before U+FB33 by UTF-16 code units but after it by code points (spec §3.1, JCS-06).
      const data = { "\u{1F600}": "grin", "\uFB33": "dalet", é: "\u2028 \"quoted\" \\", half: 1.5, tiny: 1e-7, big: 2 ** 52, neg: -42, marker: uid(ctx, "jcs") };
      const since = ctx.fake.records.length;
      const pub = await t.control.publish(ch, "conformance:jcs", data);
      const refused = (): boolean => ctx.fake.records.slice(since).some((r) => r.origin === t.name && r.problems.some((p) => p.includes(pub.event_id)));
      const held = (): boolean => ctx.fake.participant.get(ch)?.events.get(pub.seq)?.event_id === pub.event_id;
      await ctx.fake.waitUntil(() => held() || refused(), ctx.options.deliveryTimeoutMs);
      const problems = ctx.fake.records.slice(since).filter((r) => r.origin === t.name).flatMap((r) => r.problems);
      ensure(held(), "the event did not verify at the fake participant (its event ID or signature is not over the JCS bytes)", pub.event_id, problems.length ? problems : "nothing delivered");
      const got = ctx.fake.participant.get(ch)!.events.get(pub.seq)!;
      expectSameJson(got.data, data, "the event's data changed on the way");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/participant/path-decoding",
    name: "a channel ID in a path segment is decoded exactly once: unencoded ! and : work, a doubly encoded ID is not the channel",
    requirements: ["NAME-13"],
    level: "MUST",
    prerequisites: ["adv/participant/backfill@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const plain = await ctx.fake.send(t.name, { method: "GET", path: `/federation/v1/channels/${ch}/events?after=0&limit=1` });
      expectOk(plain, "BackfillPage", "backfill with ! and : unencoded", 200);
      const twice = await ctx.fake.send(t.name, { method: "GET", path: backfillPath(encodeURIComponent(ch), "after=0&limit=1") });
      expectError(twice, ["SMCP_INVALID", "SMCP_UNKNOWN_CHANNEL"], "doubly percent-encoded channel ID (decoded twice?)");
    },
  })),
  ...perTarget((role) => ({
    id: "adv/participant/hub-member",
    name: "a channel the instance creates carries its own server name and lists the hub among its members",
    requirements: ["NAME-11", "NAME-12", "CHAN-03"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      ensure(ch.endsWith(`:${t.name}`), "the created channel's ID names another server", `!…:${t.name}`, ch);
      const info = await t.control.channel(ch);
      ensure(info.hub === t.name && info.role === "hub" && info.members.includes(t.name) && info.members.includes(ctx.fake.name), "ChannelInfo does not show the instance as hub and member", { hub: t.name, role: "hub", members: [t.name, ctx.fake.name] }, info);
    },
  })),
];

export const fakePeerRequestsValid = perTarget((role) => ({
  id: "adv/final/requests-to-fake-peer-valid",
  name: "every request the instance sent the fake peer during the run was expected, authentic and schema-valid",
  // Every inbound request passes the fake peer's full §5.6 verification (destination, ts window, key ID, signature over
  // the signed form, empty-body hash) and every event its §7.3/§7.4 checks, so these sender rules are observed on all of them.
  requirements: ["SIGN-05", "SIGN-12", "TXN-03", "CHAN-06", "TXN-02", "SIGN-10", "SIGN-11", "SIGN-16", "SIGN-20", "SIGN-24", "NAME-05", "KEY-01", "JCS-15", "EVT-08"],
  level: "MUST",
  prerequisites: ["adv/setup/fake-peer@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const all = ctx.fake.identities.flatMap((p) => p.records);
    const mine = all.filter((r) => r.origin === t.name);
    const bad = mine.filter((r) => r.problems.length > 0);
    const anonymous = all.filter((r) => r.origin === undefined && r.problems.length > 0);
    if (bad.length > 0 || anonymous.length > 0) {
      // Each bad request is the headline; one no check was charged with (late traffic of an earlier check) says so.
      const strays = new Map(ctx.fake.strays().map((s) => [s.record, s]));
      const line = (r: InboundRecord): string => `${r.method} ${r.path}${strayNote(strays.get(r))}: ${r.problems.join("; ")}`;
      fail(`${bad.length} bad requests from ${t.name}, ${anonymous.length} unauthenticated bad requests from someone: ${line([...bad, ...anonymous][0]!)}`, "none", [...bad, ...anonymous].map(line).join("\n"));
    }
    for (const p of ctx.fake.identities) {
      const bodies = new Map<string, string | undefined>();
      for (const r of p.records.filter((x) => x.origin === t.name && x.route === "send" && x.txnId !== undefined)) {
        const prior = bodies.get(r.txnId!);
        if (bodies.has(r.txnId!) && prior !== r.sha) fail(`txn_id ${r.txnId} was used for two different transactions to ${p.name} (TXN-02)`, "a new txn_id per new transaction", { first: prior, then: r.sha });
        bodies.set(r.txnId!, r.sha);
      }
    }
    const byRoute = new Map<string, number>();
    for (const r of mine) byRoute.set(r.route, (byRoute.get(r.route) ?? 0) + 1);
    ctx.note(`${mine.length} requests: ${[...byRoute].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  },
}));
