// Security tests of Naomi against invite floods (spec §9.1 CHAN-27, §9.4 DLV-36, DLV-37): a hub with a valid key once got
// 5,000 invites accepted in 3.5 s and then drew 5,000 backfill requests every 30-60 s for ever. Participations are
// bounded per hub and per instance, and backfill from a failing hub is serialised, backs off and gives up until the hub
// sends a request again.
import { afterAll, describe, expect, it } from "vitest";
import type { ChannelList, InviteAnswer } from "../protocol/types.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { DEFAULTS } from "../reference-impl/config.ts";
import { control, startFakePeer } from "./support/instances.ts";
import { removeDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";
import { startPlain, type Node } from "./support/cluster.ts";

const nodes: Node[] = [];
const peers: FakePeer[] = [];

afterAll(async () => {
  await Promise.all([...nodes.map((n) => n.inst.close()), ...peers.map((p) => p.close())]);
  for (const n of nodes) removeDir(n.dir);
});

async function node(name: string, extra: Parameters<typeof startPlain>[1]): Promise<Node> {
  const n = await startPlain(name, extra);
  nodes.push(n);
  return n;
}

async function peer(name: string, targets: Node[]): Promise<FakePeer> {
  const p = await startFakePeer(name, targets.map((t) => t.inst));
  peers.push(p);
  return p;
}

/** `count` invites from `hub` into channels `!<prefix><i>:hub`, `width` at a time; the answers in order. */
async function flood(hub: FakePeer, target: Node, prefix: string, count: number, width = 50): Promise<InviteAnswer[]> {
  const answers: InviteAnswer[] = [];
  for (let i = 0; i < count; i += width) {
    const batch = Array.from({ length: Math.min(width, count - i) }, (_, j) => hub.sendInvite(target.inst.serverName, `!${prefix}${i + j}:${hub.name}`));
    for (const a of await Promise.all(batch)) {
      expect(a.status).toBe(200);
      answers.push(a.body as InviteAnswer);
    }
  }
  return answers;
}

async function participations(n: Node): Promise<Map<string, number>> {
  const list = (await control(n.inst, "GET", "/control/v1/channels")).body as ChannelList;
  const byHub = new Map<string, number>();
  for (const c of list.channels) if (c.role === "participant" && c.joined) byHub.set(c.hub, (byHub.get(c.hub) ?? 0) + 1);
  return byHub;
}

describe("invite floods", () => {
  it("CHAN-27: of 5,000 invites from one hub exactly 100 are accepted, and of 1,010 more from ten other hubs exactly 900: 1,000 in all", async () => {
    // The rate limit and the per-address connection cap (RATE-11) are lifted so that every invite reaches Naomi: this
    // measures the participation bounds alone.
    const victim = await node("victim.example", { rateLimit: { perSecond: 1_000_000, burst: 1_000_000 }, edge: { maxConnectionsPerAddress: 100_000 } });
    const mallory = await peer("mallory.example", [victim]);
    const started = performance.now();
    const answers = await flood(mallory, victim, "f", 5000);
    const seconds = (performance.now() - started) / 1000;
    expect(answers.filter((a) => a.accepted)).toHaveLength(DEFAULTS.maxParticipationsPerHub);
    expect(answers.filter((a) => !a.accepted)).toHaveLength(5000 - DEFAULTS.maxParticipationsPerHub);
    expect(answers.slice(0, 100).every((a) => a.accepted)).toBe(true);
    // A repeated invite for a channel already joined is still accepted (CHAN-12); a new one is not.
    expect((await mallory.sendInvite("victim.example", `!f0:${mallory.name}`)).body).toMatchObject({ accepted: true });
    expect((await mallory.sendInvite("victim.example", `!new:${mallory.name}`)).body).toMatchObject({ accepted: false });
    expect(await participations(victim)).toEqual(new Map([["mallory.example", 100]]));
    // Ten more hubs, 101 invites each: nine fill the instance bound, the tenth gets nothing.
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => peer(`h${i}.example`, [victim])));
    const accepted: number[] = [];
    for (const h of others) accepted.push((await flood(h, victim, "g", 101)).filter((a) => a.accepted).length);
    expect(accepted).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 0]);
    const total = [...(await participations(victim)).values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(DEFAULTS.maxParticipations);
    console.log(`[invite-flood] 5000 invites from one hub in ${seconds.toFixed(2)} s: 100 accepted, 4900 declined; 1010 from ten more hubs: ${accepted.reduce((a, b) => a + b, 0)} accepted; ${total} participations in all`);
  }, 120_000);

  it("DLV-36, DLV-37: backfill from a failing hub is one request at a time, backs off, stops after 10 failures, and resumes when the hub talks", async () => {
    // Short periods so that ten failures fit in about a second: idle checks every 50 ms, back-off 50 ms, 100 ms, 100 ms...
    const victim = await node("chased.example", { idleBackfillMs: 50, backfillRetryMaxMs: 100 });
    const hub = await peer("deadhub.example", [victim]);
    // The hub really hubs its 100 channels at first: the participant joins them and backfills them successfully.
    for (let i = 0; i < 100; i++) {
      const ch = hub.hubCreate(`d${i}`);
      ch.members.add("chased.example");
      hub.hubAppend(ch.id, "smcp:member.join", { server: "chased.example" });
    }
    const answers = await flood(hub, victim, "d", 100);
    expect(answers.every((a) => a.accepted)).toBe(true);
    const backfills = () => hub.records.filter((r) => r.route === "backfill");
    await until("every channel backfilled once", async () => {
      const list = (await control(victim.inst, "GET", "/control/v1/channels")).body as ChannelList;
      return list.channels.length === 100 && list.channels.every((c) => c.local_seq === 2);
    }, 30_000);
    // Now the hub dies for backfill: every channel it hubbed is gone (404 SMCP_UNKNOWN_CHANNEL).
    hub.hubChannels.clear();
    const failed = () => backfills().filter((r) => r.status !== 200).length;
    await until("ten failed backfill requests", () => failed() >= DEFAULTS.backfillGiveUpAfter, 20_000);
    // Without the give-up another request would come every 100 ms; twenty idle periods pass and none does.
    await new Promise((r) => setTimeout(r, 1000));
    // Exactly ten although 100 channels were idle: one request per back-off period, not one per channel.
    expect(failed()).toBe(DEFAULTS.backfillGiveUpAfter);
    // The hub talks again (an empty transaction, TXN-07): backfill resumes, fails ten more times, and stops again.
    expect((await hub.sendTransaction("chased.example", {})).status).toBe(200);
    await until("ten more failed backfill requests", () => failed() >= 2 * DEFAULTS.backfillGiveUpAfter, 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(failed()).toBe(2 * DEFAULTS.backfillGiveUpAfter);
    console.log(`[invite-flood] dead hub with 100 channels: ${failed()} failed backfill requests in two rounds of ${DEFAULTS.backfillGiveUpAfter}, then none`);
  }, 120_000);
});

