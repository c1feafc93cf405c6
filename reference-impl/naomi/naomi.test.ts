// Unit tests of Naomi (event bus): hub sequencing, the outbound queue, transaction idempotency and participant gap
// handling, against an in-memory store and a scripted peer (spec §7, §8, §9).
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { finaliseEvent, headVerifies, signHead } from "../../protocol/events.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf, type SigningKey } from "../../protocol/keys.ts";
import { validate } from "../../protocol/schemas.ts";
import type { BackfillPage, Event, Transaction, TransactionResult } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import Database from "better-sqlite3";
import { MIGRATIONS, openDatabase, Store } from "../storage/db.ts";
import { removeDir, tempDir } from "../../tests/support/temp-dir.ts";
import { until } from "../../tests/support/until.ts";
import { Naomi, type NaomiOptions } from "./naomi.ts";

const logger = pino({ level: "silent" });

interface Sent {
  destination: string;
  method: string;
  path: string;
  body: unknown;
}

/** A peer whose answers the test scripts; records every request and the peak concurrency per destination. */
class ScriptedPeer implements FederationSender {
  sent: Sent[] = [];
  inflight = 0;
  maxInflight = 0;
  answer: (s: Sent) => HttpAnswer | Promise<HttpAnswer> = () => json(200, { processed: [], rejected: [], sequenced: [] });

  async request(destination: string, method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<HttpAnswer> {
    const s = { destination, method, path, body: body === undefined ? undefined : JSON.parse(JSON.stringify(body)) };
    this.sent.push(s);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await Promise.resolve();
      return await this.answer(s);
    } finally {
      this.inflight--;
    }
  }

  transactions(): Transaction[] {
    return this.sent.filter((s) => s.method === "PUT").map((s) => s.body as Transaction);
  }
}

/** The generated type of `data` is too narrow (Record<string, never>); any JSON object is valid on the wire. */
function asData(value: object): Event["data"] {
  return value as unknown as Event["data"];
}

function json(status: number, body: unknown): HttpAnswer {
  return { status, headers: {}, body, raw: Buffer.from(JSON.stringify(body)) };
}

function naomi(self: string, peer: ScriptedPeer, extra: Partial<NaomiOptions> = {}): { naomi: Naomi; store: Store; key: SigningKey } {
  const store = new Store(openDatabase(":memory:"));
  const key = signingKeyFromSeed(generateSeed());
  const n = new Naomi({
    self, key, store, sender: peer, logger, hubKey: async () => null, maxTxnItems: 100, maxEventDataBytes: 65536, queueBound: 10_000,
    gapDelayMs: 0, idleBackfillMs: 3_600_000, backoffBaseMs: 5, backoffMaxMs: 40, lingerMs: 10, acceptAllInvites: true, ...extra,
  });
  return { naomi: n, store, key };
}

/** A hub's chain of events, finalised with its key. */
function chain(hub: SigningKey, channel: string, count: number): Event[] {
  const events: Event[] = [];
  for (let seq = 1; seq <= count; seq++) {
    events.push(finaliseEvent(hub, {
      channel, seq, prev_event: seq === 1 ? null : events[seq - 2]!.event_id, type: seq === 1 ? "smcp:channel.create" : "chat:message",
      sender: "alice.example", origin_ts: 1000 + seq, hub_ts: 2000 + seq, data: asData(seq === 1 ? { creator: "alice.example" } : { n: seq }),
    }));
  }
  return events;
}

describe("hub sequencing", () => {
  it("SEQ: seq 1 is smcp:channel.create, then +1 with prev_event chaining, each verifiable (spec §7.2)", async () => {
    const peer = new ScriptedPeer();
    const { naomi: hub, store, key } = naomi("alice.example", peer);
    const info = hub.createChannel("general");
    expect(info).toMatchObject({ channel: "!general:alice.example", local_seq: 1, members: ["alice.example"] });
    await hub.publish(info.channel, "chat:message", { a: 1 });
    await hub.publish(info.channel, "chat:message", { a: 2 });
    const events = store.events(info.channel, 0, 100, 100);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[0]!.type).toBe("smcp:channel.create");
    expect(events[0]!.prev_event).toBeNull();
    expect(events[2]!.prev_event).toBe(events[1]!.event_id);
    events.forEach((e) => expect(validate("Event", e)).toEqual([]));
    expect(peer.sent).toHaveLength(0); // nobody else is a member yet
    hub.close();
    expect(headVerifies(verifyKeyOf(key), signHead(key, { channel: info.channel, seq: 3, event_id: events[2]!.event_id, hub_ts: 1 }))).toBe(true);
  });

  it("SEQ: a submission is sequenced at most once per (sender, submission_id), fanned out to the sender too (spec §8.4)", async () => {
    const peer = new ScriptedPeer();
    const { naomi: hub } = naomi("alice.example", peer);
    const channel = hub.createChannel("general").channel;
    peer.answer = () => json(200, { channel, accepted: true, events_since: null });
    await hub.invite(channel, "bob.example");
    peer.answer = () => json(200, { processed: [], rejected: [], sequenced: [] });
    const bobKey = verifyKeyOf(signingKeyFromSeed(generateSeed()));
    const sub = { submission_id: "s-1", channel, type: "chat:message", sender: "bob.example", origin_ts: 1, data: {} as Event["data"] };
    const txn: Transaction = { origin: "bob.example", origin_ts: 1, submissions: [sub, sub] };
    const first = hub.handleTransaction("bob.example", bobKey, "t1", "sha-1", txn);
    expect(first.sequenced).toHaveLength(2);
    expect(first.sequenced[0]).toEqual(first.sequenced[1]);
    expect(first.sequenced[0]!.seq).toBe(3);
    const again = hub.handleTransaction("bob.example", bobKey, "t2", "sha-2", { origin: "bob.example", origin_ts: 2, submissions: [sub] });
    expect(again.sequenced).toEqual([first.sequenced[0]]);
    expect(hub.get(channel).local_seq).toBe(3);
    await until("the event to reach bob", () => peer.transactions().flatMap((t) => t.events ?? []).some((e) => e.seq === 3));
    hub.close();
  });

  it("SEQ: participants may not use the smcp: namespace; non-members are refused (spec §7.1, §9)", () => {
    const peer = new ScriptedPeer();
    const { naomi: hub } = naomi("alice.example", peer);
    const channel = hub.createChannel("general").channel;
    const key = verifyKeyOf(signingKeyFromSeed(generateSeed()));
    const r = hub.handleTransaction("mallory.example", key, "t", "h", {
      origin: "mallory.example", origin_ts: 1,
      submissions: [{ submission_id: "x", channel, type: "chat:message", sender: "mallory.example", origin_ts: 1, data: {} }],
    });
    expect(r.rejected).toEqual([expect.objectContaining({ id: "x", errcode: "SMCP_NOT_MEMBER" })]);
    hub.close();
  });
});

describe("group commit (spec §8.4: answered only after it is stored)", () => {
  /** Counts the store's outermost SQLite transactions and records when each commit returned. */
  function countCommits(store: Store, log: string[]): () => number {
    let commits = 0;
    let depth = 0;
    const tx = store.tx.bind(store);
    store.tx = <T>(fn: () => T): T => {
      depth++;
      try {
        const result = tx(fn);
        if (depth === 1) (commits++, log.push("commit"));
        return result;
      } finally {
        depth--;
      }
    };
    return () => commits;
  }

  it("SEQ: concurrent publishes are sequenced in call order in one SQLite transaction, each answered after its commit", async () => {
    const { naomi: hub, store } = naomi("alice.example", new ScriptedPeer());
    const channel = hub.createChannel("general").channel;
    const log: string[] = [];
    const commits = countCommits(store, log);
    const answers = Array.from({ length: 8 }, (_, i) => hub.publish(channel, "chat:message", { i }).then((r) => (log.push(`answer ${i}`), r)));
    const results = await Promise.all(answers);
    expect(commits()).toBe(1);
    expect(log).toEqual(["commit", ...results.map((_, i) => `answer ${i}`)]);
    expect(results.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    const events = store.events(channel, 1, 100, 100);
    expect(events.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(events.map((e) => e.event_id)).toEqual(results.map((r) => r.event_id));
    events.forEach((e, i) => expect(e.prev_event).toBe(i === 0 ? store.event(channel, 1)!.event_id : events[i - 1]!.event_id));
    expect(hub.get(channel).local_seq).toBe(9);
    hub.close();
  });

  it("SEQ: a publish that fails in a batch fails alone: the batch rolls back and the others are sequenced on their own, without a gap", async () => {
    const { naomi: hub, store } = naomi("alice.example", new ScriptedPeer());
    const channel = hub.createChannel("general").channel;
    const insert = store.insertEvent.bind(store);
    store.insertEvent = (event, json) => {
      if ((event.data as { poison?: boolean }).poison) throw new Error("disk says no");
      insert(event, json);
    };
    const outcomes = await Promise.allSettled([
      hub.publish(channel, "chat:message", { i: 0 }),
      hub.publish(channel, "chat:message", { i: 1, poison: true }),
      hub.publish(channel, "chat:message", { i: 2 }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const events = store.events(channel, 1, 100, 100);
    expect(events.map((e) => [e.seq, (e.data as { i: number }).i])).toEqual([[2, 0], [3, 2]]);
    expect(outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value.event_id] : []))).toEqual(events.map((e) => e.event_id));
    expect(events[1]!.prev_event).toBe(events[0]!.event_id);
    expect(hub.get(channel).local_seq).toBe(3);
    hub.close();
  });

  it("SEQ: when every commit fails, every publish of the batch is answered with an error and nothing is stored; the chain then continues", async () => {
    const { naomi: hub, store } = naomi("alice.example", new ScriptedPeer());
    const channel = hub.createChannel("general").channel;
    const before = await hub.publish(channel, "chat:message", { i: 0 });
    const setSeqs = store.setSeqs.bind(store);
    store.setSeqs = () => {
      throw new Error("disk full");
    };
    const outcomes = await Promise.allSettled([1, 2, 3].map((i) => hub.publish(channel, "chat:message", { i })));
    expect(outcomes.every((o) => o.status === "rejected")).toBe(true);
    expect(store.events(channel, 0, 100, 100).map((e) => e.seq)).toEqual([1, 2]);
    store.setSeqs = setSeqs;
    const after = await hub.publish(channel, "chat:message", { i: 4 });
    expect(after.seq).toBe(3);
    expect(store.event(channel, 3)!.event_id).toBe(after.event_id);
    expect(store.events(channel, 2, 3, 1)[0]!.prev_event).toBe(before.event_id);
    expect(hub.get(channel).local_seq).toBe(3);
    hub.close();
  });
});

describe("transaction idempotency", () => {
  it("TXN: same (origin, txn_id) and body hash returns the stored result; another hash is SMCP_CONFLICT (spec §8)", () => {
    const peer = new ScriptedPeer();
    const { naomi: n } = naomi("bob.example", peer);
    const key = verifyKeyOf(signingKeyFromSeed(generateSeed()));
    const txn: Transaction = { origin: "alice.example", origin_ts: 1 };
    const a = n.handleTransaction("alice.example", key, "t1", "hash-a", txn);
    expect(n.handleTransaction("alice.example", key, "t1", "hash-a", txn)).toEqual(a);
    expect(() => n.handleTransaction("alice.example", key, "t1", "hash-b", txn)).toThrow(SmcpError);
    try {
      n.handleTransaction("alice.example", key, "t1", "hash-b", txn);
    } catch (err) {
      expect((err as SmcpError).errcode).toBe("SMCP_CONFLICT");
    }
    // The same txn_id from another origin is a different transaction.
    expect(n.handleTransaction("carol.example", key, "t1", "hash-b", { origin: "carol.example", origin_ts: 1 })).toEqual(a);
    n.close();
  });

  it("TXN-05: more than max_txn_items items is 413 SMCP_TOO_LARGE (spec §8.2)", () => {
    const { naomi: n } = naomi("bob.example", new ScriptedPeer(), { maxTxnItems: 2 });
    const key = verifyKeyOf(signingKeyFromSeed(generateSeed()));
    const sub = { submission_id: "s", channel: "!c:bob.example", type: "a:b", sender: "alice.example", origin_ts: 1, data: {} };
    expect(() => n.handleTransaction("alice.example", key, "t", "h", { origin: "alice.example", origin_ts: 1, submissions: [sub, sub, sub] })).toThrow(
      expect.objectContaining({ errcode: "SMCP_TOO_LARGE", message: expect.stringMatching(/max_txn_items/) }),
    );
    n.close();
  });
});

describe("participant gap handling", () => {
  function participant(peer: ScriptedPeer, hubKey: SigningKey) {
    const p = naomi("bob.example", peer, { hubKey: async () => verifyKeyOf(hubKey) });
    const channel = "!general:alice.example";
    p.naomi.handleInvite("alice.example", { origin: "alice.example", channel, inviter: "alice.example", invitee: "bob.example", origin_ts: 1 });
    return { ...p, channel };
  }

  it("GAP: events ahead of a gap are stored, local_seq stays contiguous, the gap is backfilled from the hub (spec §7.5, §9.4)", async () => {
    const hubKey = signingKeyFromSeed(generateSeed());
    const peer = new ScriptedPeer();
    const { naomi: bob, channel } = participant(peer, hubKey);
    const events = chain(hubKey, channel, 4);
    const head = signHead(hubKey, { channel, seq: 4, event_id: events[3]!.event_id, hub_ts: 5000 });
    peer.answer = (s) => {
      const after = Number(new URL(s.path, "http://x").searchParams.get("after"));
      const page: BackfillPage = { channel, events: events.filter((e) => e.seq > after), head };
      return json(200, page);
    };
    const r = bob.handleTransaction("alice.example", verifyKeyOf(hubKey), "t1", "h1", {
      origin: "alice.example", origin_ts: 1, events: [events[0]!, events[2]!],
    });
    expect(r.processed).toEqual([events[0]!.event_id, events[2]!.event_id]);
    expect(bob.get(channel)).toMatchObject({ local_seq: 1, known_seq: 3 });
    const early = await bob.read(channel, 0, 100, 0);
    expect(early.events.map((e) => e.seq)).toEqual([1]); // never past the gap
    await until("the gap to be filled", () => bob.get(channel).local_seq === 4);
    expect(bob.get(channel)).toMatchObject({ local_seq: 4, known_seq: 4, members: ["alice.example"] });
    expect(peer.sent[0]!.path).toBe(`/federation/v1/channels/${encodeURIComponent(channel)}/events?after=1&limit=1000`);
    bob.close();
  });

  it("GAP: same seq with another event_id is SMCP_EQUIVOCATION and the first is kept; a forged event is SMCP_BAD_EVENT (spec §7.5)", () => {
    const hubKey = signingKeyFromSeed(generateSeed());
    const { naomi: bob, store, channel } = participant(new ScriptedPeer(), hubKey);
    const events = chain(hubKey, channel, 2);
    const key = verifyKeyOf(hubKey);
    bob.handleTransaction("alice.example", key, "t1", "h1", { origin: "alice.example", origin_ts: 1, events });
    const fork = finaliseEvent(hubKey, { ...events[1]!, data: asData({ n: 999 }) });
    const forged = { ...events[1]!, seq: 3, prev_event: events[1]!.event_id };
    const r: TransactionResult = bob.handleTransaction("alice.example", key, "t2", "h2", { origin: "alice.example", origin_ts: 2, events: [fork, forged] });
    expect(r.rejected.map((x) => x.errcode)).toEqual(["SMCP_EQUIVOCATION", "SMCP_BAD_EVENT"]);
    expect(store.event(channel, 2)!.event_id).toBe(events[1]!.event_id);
    bob.close();
  });

  it("GAP: events from a server that is not the hub are SMCP_NOT_HUB (spec §7.5)", () => {
    const hubKey = signingKeyFromSeed(generateSeed());
    const { naomi: bob, channel } = participant(new ScriptedPeer(), hubKey);
    const events = chain(hubKey, channel, 1);
    const r = bob.handleTransaction("mallory.example", verifyKeyOf(hubKey), "t", "h", { origin: "mallory.example", origin_ts: 1, events });
    expect(r.rejected[0]!.errcode).toBe("SMCP_NOT_HUB");
    bob.close();
  });
});

describe("outbound queue", () => {
  async function hubWithMember(peer: ScriptedPeer, extra: Partial<NaomiOptions> = {}) {
    const { naomi: hub, store } = naomi("alice.example", peer, extra);
    const channel = hub.createChannel("general").channel;
    const ok = peer.answer;
    peer.answer = (s) => (s.path === "/federation/v1/invite" ? json(200, { channel, accepted: true, events_since: null }) : ok(s));
    await hub.invite(channel, "bob.example");
    return { hub, store, channel };
  }

  it("QUEUE: one transaction in flight per destination, batches of at most max_txn_items, with signed heads (spec §8, §9.3)", async () => {
    const peer = new ScriptedPeer();
    const ok = () => json(200, { processed: [], rejected: [], sequenced: [] });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    peer.answer = async () => {
      if (!held) (held = true), await gate; // hold the first transaction while events pile up
      return ok();
    };
    const { hub, channel } = await hubWithMember(peer, { maxTxnItems: 10 });
    for (let i = 0; i < 35; i++) await hub.publish(channel, "chat:message", { i });
    expect(hub.outboundInfo("bob.example").state).toBe("sending");
    release();
    await until("seq 2..37 delivered", () => hub.outboundInfo("bob.example").pending === 0 && peer.transactions().flatMap((t) => t.events ?? []).length >= 36);
    const txns = peer.transactions();
    expect(peer.maxInflight).toBe(1);
    expect(Math.max(...txns.map((t) => t.events?.length ?? 0))).toBeLessThanOrEqual(10);
    expect(txns.flatMap((t) => t.events ?? []).map((e) => e.seq)).toEqual(Array.from({ length: 37 }, (_, i) => i + 1).slice(1));
    expect(txns.every((t) => t.heads?.[0]?.channel === channel)).toBe(true);
    hub.close();
  });

  it("TXN-06: transactions stay within the destination's advertised max_txn_items and max_body_bytes, all events delivered in order (spec §8.2)", async () => {
    const peer = new ScriptedPeer();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const sizes: number[] = [];
    peer.answer = async (s) => {
      if (s.method === "PUT") sizes.push(Buffer.byteLength(JSON.stringify(s.body)));
      if (!held) (held = true), await gate; // hold the first transaction while events pile up
      return json(200, { processed: [], rejected: [], sequenced: [] });
    };
    const limits = { max_txn_items: 4, max_body_bytes: 65536 };
    const { hub, channel } = await hubWithMember(peer, { destinationLimits: (d) => (d === "bob.example" ? limits : undefined) });
    for (let i = 0; i < 12; i++) await hub.publish(channel, "chat:message", { i, text: "x".repeat(20_000) });
    release();
    await until("seq 2..14 delivered", () => hub.outboundInfo("bob.example").pending === 0 && peer.transactions().flatMap((t) => t.events ?? []).length >= 13);
    const txns = peer.transactions();
    expect(Math.max(...txns.map((t) => t.events?.length ?? 0))).toBeLessThanOrEqual(4);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(65536);
    expect(txns.some((t) => (t.events?.length ?? 0) === 3)).toBe(true); // three 20 kB events fit, a fourth would not
    expect(txns.flatMap((t) => t.events ?? []).map((e) => e.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 2));
    hub.close();
  });

  it("QUEUE: a lone event is sent at once; while events stream, a batch lingers for those published meanwhile (spec §8.6 TXN-33)", async () => {
    const peer = new ScriptedPeer();
    let release: (() => void) | undefined;
    peer.answer = async () => {
      if (release === undefined) await new Promise<void>((r) => (release = r));
      return json(200, { processed: [], rejected: [], sequenced: [] });
    };
    // The injected clock runs with real time (timers still fire) but can be moved ahead without waiting.
    let ahead = 0;
    const { hub, channel } = await hubWithMember(peer, { lingerMs: 300, now: () => Date.now() + ahead });
    await until("the join in flight", () => release !== undefined);
    release!(); // the join (seq 2) goes through
    await until("the join delivered", () => hub.outboundInfo("bob.example").state === "idle" && hub.outboundInfo("bob.example").pending === 0);
    ahead += 150; // past the 100 ms streaming window: the next event is a lone one
    release = undefined;
    const before = peer.transactions().length;
    await hub.publish(channel, "chat:message", { i: 3 });
    expect(peer.transactions().length).toBe(before + 1); // sent at once, no linger
    await hub.publish(channel, "chat:message", { i: 4 }); // queued behind the one in flight
    await until("the held transaction", () => release !== undefined);
    release!();
    // The answer makes it a stream: seq 4 lingers, so seq 5 published now shares its transaction.
    await until("the first answered", () => hub.outboundInfo("bob.example").state !== "sending");
    await hub.publish(channel, "chat:message", { i: 5 });
    expect(peer.transactions().length).toBe(before + 1);
    await until("the lingering batch sent", () => peer.transactions().length === before + 2);
    expect(peer.transactions().at(-1)!.events!.map((e) => e.seq)).toEqual([4, 5]);
    expect(peer.maxInflight).toBe(1);
    hub.close();
  });

  it("QUEUE: read positions moved by answers are stored with one SQLite transaction per turn, so a restart resends nothing delivered (DLV-03)", async () => {
    const peer = new ScriptedPeer();
    const { hub, store, channel } = await hubWithMember(peer);
    await hub.invite(channel, "carol.example");
    await until("the joins delivered", () => ["bob.example", "carol.example"].every((d) => hub.outboundInfo(d).pending === 0));
    await new Promise((r) => setImmediate(r));
    const log: string[] = [];
    const tx = store.tx.bind(store);
    store.tx = <T>(fn: () => T): T => (log.push("tx"), tx(fn));
    await hub.publish(channel, "chat:message", { i: 1 });
    log.length = 0;
    await until("both answered", () => ["bob.example", "carol.example"].every((d) => hub.outboundInfo(d).pending === 0));
    await new Promise((r) => setImmediate(r));
    expect(log.length).toBeLessThanOrEqual(2); // one per turn with answers: both answers in one turn here make one
    for (const d of ["bob.example", "carol.example"]) expect(store.cursors(d)).toEqual([{ channel, acked_seq: 4, end_seq: null }]);
    hub.close();
  });

  it("QUEUE: failures back off and retry until delivered; state shows backoff (spec §8)", async () => {
    const peer = new ScriptedPeer();
    const { hub, channel } = await hubWithMember(peer);
    let failuresLeft = 3;
    peer.answer = () => (failuresLeft-- > 0 ? json(503, { errcode: "SMCP_INTERNAL", error: "down" }) : json(200, { processed: [], rejected: [], sequenced: [] }));
    await hub.publish(channel, "chat:message", {});
    await until("a back-off state", () => hub.outboundInfo("bob.example").state === "backoff" || failuresLeft < 0);
    await until("delivery", () => hub.outboundInfo("bob.example").pending === 0 && failuresLeft < 0);
    expect(hub.outboundInfo("bob.example")).toMatchObject({ state: "idle", failures: 0, pending: 0 });
    hub.close();
  });

  it("QUEUE: over the bound the destination is suspended and recovers with a heads-only transaction (spec §9.2)", async () => {
    const peer = new ScriptedPeer();
    const { hub, channel } = await hubWithMember(peer, { queueBound: 3 });
    peer.answer = () => json(503, { errcode: "SMCP_INTERNAL", error: "down" });
    for (let i = 0; i < 6; i++) await hub.publish(channel, "chat:message", { i });
    expect(hub.outboundInfo("bob.example").state).toBe("suspended");
    expect(hub.outboundInfo("bob.example").pending).toBe(0); // the queue was dropped (DLV-04)
    peer.answer = () => json(200, { processed: [], rejected: [], sequenced: [] });
    hub.peerAlive("bob.example");
    await until("recovery", () => hub.outboundInfo("bob.example").state === "idle");
    const last = peer.transactions().at(-1)!;
    expect(last.heads?.[0]).toMatchObject({ channel, seq: 8 });
    hub.close();
  });
  it("QUEUE: a busy channel does not hold back the destination's other channels (spec §9.2 DLV-03)", async () => {
    const peer = new ScriptedPeer();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const { hub, channel } = await hubWithMember(peer, { maxTxnItems: 10 });
    const quiet = hub.createChannel("quiet").channel;
    const ok = peer.answer;
    peer.answer = (s) => (s.path === "/federation/v1/invite" ? json(200, { channel: quiet, accepted: true, events_since: null }) : ok(s));
    await hub.invite(quiet, "bob.example");
    await until("both joins delivered", () => hub.outboundInfo("bob.example").pending === 0 && hub.outboundInfo("bob.example").state === "idle");
    peer.answer = async (s) => {
      if (!held) (held = true), await gate; // hold one transaction while the busy channel piles up
      return ok(s);
    };
    await hub.publish(channel, "chat:message", { i: 0 });
    for (let i = 1; i < 60; i++) await hub.publish(channel, "chat:message", { i });
    await hub.publish(quiet, "chat:message", { quiet: true });
    const before = peer.transactions().length;
    release();
    await until("everything delivered", () => hub.outboundInfo("bob.example").pending === 0 && hub.outboundInfo("bob.example").state === "idle");
    const after = peer.transactions().slice(before);
    const at = after.findIndex((t) => (t.events ?? []).some((e) => e.channel === quiet));
    expect(after.length).toBeGreaterThanOrEqual(6); // 59 busy events in batches of at most 10
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThanOrEqual(1);
    hub.close();
  });

  it("QUEUE: a removed member gets its leave event and nothing after; on rejoining, its join and what follows (spec §9.5, DLV-03)", async () => {
    const peer = new ScriptedPeer();
    const { hub, channel } = await hubWithMember(peer);
    await hub.publish(channel, "chat:message", { i: 3 });
    hub.removeMember(channel, "bob.example"); // seq 4
    await hub.publish(channel, "chat:message", { i: 5 });
    await until("bob's queue drained", () => hub.outboundInfo("bob.example").pending === 0 && hub.outboundInfo("bob.example").state === "idle");
    expect(peer.transactions().flatMap((t) => t.events ?? []).map((e) => e.seq)).toEqual([2, 3, 4]);
    await hub.invite(channel, "bob.example"); // seq 6
    await hub.publish(channel, "chat:message", { i: 7 });
    await until("the rejoin delivered", () => peer.transactions().flatMap((t) => t.events ?? []).some((e) => e.seq === 7));
    expect(peer.transactions().flatMap((t) => t.events ?? []).map((e) => e.seq)).toEqual([2, 3, 4, 6, 7]);
    hub.close();
  });

  it("QUEUE: queued events survive a restart and are delivered from the stored read position (spec §9.2 DLV-03, DLV-06)", async () => {
    const dir = tempDir("naomi-queue");
    try {
      const file = `${dir}/smcp.sqlite`;
      const key = signingKeyFromSeed(generateSeed());
      const peer = new ScriptedPeer();
      peer.answer = (s) => (s.path === "/federation/v1/invite" ? json(200, { channel: "!general:alice.example", accepted: true, events_since: null }) : json(503, { errcode: "SMCP_INTERNAL", error: "down" }));
      const options = (store: Store): NaomiOptions => ({
        self: "alice.example", key, store, sender: peer, logger, hubKey: async () => null, maxTxnItems: 100, maxEventDataBytes: 65536,
        queueBound: 10_000, gapDelayMs: 0, idleBackfillMs: 3_600_000, backoffBaseMs: 60_000, backoffMaxMs: 60_000, lingerMs: 10,
      });
      let store = new Store(openDatabase(file));
      let hub = new Naomi(options(store));
      const channel = hub.createChannel("general").channel;
      await hub.invite(channel, "bob.example");
      for (let i = 0; i < 5; i++) await hub.publish(channel, "chat:message", { i });
      await until("the first attempt failed", () => hub.outboundInfo("bob.example").failures > 0);
      expect(hub.outboundInfo("bob.example").pending).toBe(6);
      hub.close();
      store.close();
      peer.answer = () => json(200, { processed: [], rejected: [], sequenced: [] });
      const before = peer.transactions().length;
      store = new Store(openDatabase(file));
      hub = new Naomi(options(store));
      expect(hub.outboundInfo("bob.example").pending).toBe(6);
      hub.start();
      await until("delivered after the restart", () => hub.outboundInfo("bob.example").pending === 0 && peer.transactions().length > before);
      expect(peer.transactions().slice(before).flatMap((t) => t.events ?? []).map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7]);
      hub.close();
      store.close();
    } finally {
      removeDir(dir);
    }
  });

  it("QUEUE: a data dir whose queue holds one row per event (schema v1) is migrated to read positions without losing an event (DLV-06)", async () => {
    const dir = tempDir("naomi-migrate");
    try {
      const file = `${dir}/smcp.sqlite`;
      const key = signingKeyFromSeed(generateSeed());
      const channel = "!general:alice.example";
      const old = new Database(file);
      old.exec(MIGRATIONS[0]!);
      old.pragma("user_version = 1");
      old.prepare("INSERT INTO channels VALUES (?, 'alice.example', 'hub', 1, 5, 5, 1, NULL)").run(channel);
      for (const [server, joined, left] of [["alice.example", 1, null], ["bob.example", 2, null], ["carol.example", 3, null], ["dave.example", 3, 4]] as const) {
        old.prepare("INSERT INTO members VALUES (?, ?, ?, ?)").run(channel, server, joined, left);
      }
      const events = chain(key, channel, 5);
      for (const e of events) old.prepare("INSERT INTO events VALUES (?, ?, ?, ?)").run(channel, e.seq, e.event_id, JSON.stringify(e));
      for (const seq of [4, 5]) old.prepare("INSERT INTO outbound(destination, channel, seq) VALUES ('bob.example', ?, ?)").run(channel, seq);
      old.close();
      const store = new Store(openDatabase(file));
      expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
      const positions = (d: string) => store.cursors(d).map((c) => [c.acked_seq, c.end_seq]);
      expect(positions("bob.example")).toEqual([[3, null]]); // rows 4 and 5 still queued
      expect(positions("carol.example")).toEqual([[5, null]]); // nothing queued
      expect(positions("dave.example")).toEqual([[5, 4]]); // left at 4
      expect(store.outboundDestinations()).toEqual(["bob.example"]);
      const peer = new ScriptedPeer();
      const hub = new Naomi({
        self: "alice.example", key, store, sender: peer, logger, hubKey: async () => null, maxTxnItems: 100, maxEventDataBytes: 65536,
        queueBound: 10_000, gapDelayMs: 0, idleBackfillMs: 3_600_000, backoffBaseMs: 5, backoffMaxMs: 40, lingerMs: 10,
      });
      hub.start();
      await until("bob's queued events delivered", () => peer.transactions().length > 0 && hub.outboundInfo("bob.example").pending === 0);
      expect(peer.transactions().flatMap((t) => t.events ?? []).map((e) => e.event_id)).toEqual([events[3]!.event_id, events[4]!.event_id]);
      expect(peer.sent.map((s) => s.destination)).toEqual(["bob.example"]);
      hub.close();
      store.close();
    } finally {
      removeDir(dir);
    }
  });
});
