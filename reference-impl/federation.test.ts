// Integration tests of the reference instance (Paulina, Vendela, Naomi, Roshumba): real instances on 127.0.0.1:0
// walking the success criteria through the control API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validate } from "../protocol/schemas.ts";
import type { ChannelInfo, PeerInfo, PeerList, PublishResult } from "../protocol/types.ts";
import type { Instance } from "./instance.ts";
import { connect, control, enc, start, waitForEvents } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import { until } from "../tests/support/until.ts";

describe("two and three instances federating", () => {
  let alice: Instance;
  let bob: Instance;
  let carol: Instance;
  const dirs: string[] = [];
  const channel = "!general:alice.example";

  beforeAll(async () => {
    dirs.push(tempDir("alice"), tempDir("bob"), tempDir("carol"));
    alice = await start("alice.example", dirs[0]!, { includeVikunja: true });
    bob = await start("bob.example", dirs[1]!);
    carol = await start("carol.example", dirs[2]!);
    await connect(alice, bob, carol);
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close(), carol?.close()]);
    dirs.forEach(removeDir);
  });

  it("DISCOVERY: each instance discovers the other and sees its key (spec §6)", async () => {
    const ab = await control(alice, "POST", "/control/v1/peers", { server_name: "bob.example" });
    expect(ab.status).toBe(200);
    expect(validate("PeerInfo", ab.body)).toEqual([]);
    expect((ab.body as PeerInfo).key_id).toBe(bob.keyId);
    const ba = await control(bob, "POST", "/control/v1/peers", { server_name: "alice.example" });
    expect((ba.body as PeerInfo).key_id).toBe(alice.keyId);
    expect((ba.body as PeerInfo).components).toContain("vikunja");
    const unknown = await control(alice, "POST", "/control/v1/peers", { server_name: "nobody.invalid" });
    expect(unknown.status).toBe(502);
    expect((unknown.body as { errcode: string }).errcode).toBe("SMCP_PEER_UNREACHABLE");
  });

  it("CHANNELS: a channel spanning alice and bob; invite is idempotent (spec §9.1)", async () => {
    const created = await control(alice, "POST", "/control/v1/channels", { name: "general" });
    expect(created.status).toBe(201);
    expect((created.body as ChannelInfo).role).toBe("hub");
    const dup = await control(alice, "POST", "/control/v1/channels", { name: "general" });
    expect(dup.status).toBe(409);
    const invited = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: "bob.example" });
    expect(invited.body).toEqual({ channel, server: "bob.example", accepted: true });
    const again = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: "bob.example" });
    expect(again.body).toEqual({ channel, server: "bob.example", accepted: true });
    const events = await waitForEvents(bob, channel, 2);
    expect(events.map((e) => e.type)).toEqual(["smcp:channel.create", "smcp:member.join"]);
    const info = (await control(bob, "GET", `/control/v1/channels/${enc(channel)}`)).body as ChannelInfo;
    expect(info).toMatchObject({ role: "participant", hub: "alice.example", joined: true, members: ["alice.example", "bob.example"] });
  });

  it("EVENTS: alice's and bob's events reach both in the same order (spec §7, §8)", async () => {
    const a1 = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: { text: "hi bob" } });
    expect(a1.status).toBe(200);
    const b1 = await control(bob, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: { text: "hi alice" } });
    expect(b1.status).toBe(200);
    expect(validate("PublishResult", b1.body)).toEqual([]);
    expect((b1.body as PublishResult).seq).toBe(4);
    const onAlice = await waitForEvents(alice, channel, 4);
    const onBob = await waitForEvents(bob, channel, 4);
    expect(onBob.map((e) => e.event_id)).toEqual(onAlice.map((e) => e.event_id));
    expect(onBob.slice(2).map((e) => (e.data as { text: string }).text)).toEqual(["hi bob", "hi alice"]);
    expect(onBob[3]!.sender).toBe("bob.example");
  });

  it("EVENTS: long-poll wakes when an event arrives and never passes local_seq (spec §12.3)", async () => {
    const waiting = control(bob, "GET", `/control/v1/channels/${enc(channel)}/events?after=4&wait_ms=10000`);
    await control(alice, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: { n: 5 } });
    const page = (await waiting).body as { events: Array<{ seq: number }>; local_seq: number };
    expect(page.events.map((e) => e.seq)).toEqual([5]);
    expect(page.local_seq).toBe(5);
  });

  it("CALLS: bob calls alice's vikunja tool because they share a channel; carol may not (spec §10.4)", async () => {
    const made = await control(bob, "POST", "/control/v1/calls", {
      target: "smcp://alice.example/vikunja", tool: "create_task", params: { title: "federate" },
    });
    expect(made.status).toBe(200);
    expect(validate("RemoteCallResult", made.body)).toEqual([]);
    const refused = await control(carol, "POST", "/control/v1/calls", {
      target: "smcp://alice.example/vikunja", tool: "list_tasks", params: {},
    });
    expect(refused.status).toBe(403);
    expect((refused.body as { errcode: string }).errcode).toBe("SMCP_FORBIDDEN");
  });

  it("HEALTH: vendela pings peers and reports health and the outbound queue in PeerInfo (spec §6.5)", async () => {
    await alice.vendela.pingAll();
    const list = (await control(alice, "GET", "/control/v1/peers")).body as PeerList;
    expect(validate("PeerList", list)).toEqual([]);
    const bobInfo = list.peers.find((p) => p.server_name === "bob.example")!;
    expect(bobInfo.health.status).toBe("up");
    expect(bobInfo.health.rtt_ms).toBeGreaterThan(0);
    expect(bobInfo.outbound.state).toMatch(/idle|sending/);
  });

  it("CHANNELS: three members; removal delivers the leave to the removed server, then nothing (spec §9.5)", async () => {
    await control(alice, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: "carol.example" });
    await waitForEvents(carol, channel, 6);
    const removed = await control(alice, "DELETE", `/control/v1/channels/${enc(channel)}/members/carol.example`);
    expect(removed.status).toBe(200);
    expect((removed.body as ChannelInfo).members).toEqual(["alice.example", "bob.example"]);
    const carolEvents = await waitForEvents(carol, channel, 7);
    expect(carolEvents[6]).toMatchObject({ type: "smcp:member.leave", data: { server: "carol.example", by: "alice.example" } });
    const after = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: { n: 8 } });
    expect((after.body as PublishResult).seq).toBe(8);
    await waitForEvents(bob, channel, 8);
    const carolInfo = (await control(carol, "GET", `/control/v1/channels/${enc(channel)}`)).body as ChannelInfo;
    expect(carolInfo.joined).toBe(false);
    expect(carolInfo.local_seq).toBe(7);
    const publish = await control(carol, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: {} });
    expect(publish.status).toBe(403);
    expect((publish.body as { errcode: string }).errcode).toBe("SMCP_NOT_MEMBER");
  });
});

describe("restart", () => {
  it("DURABILITY: a participant restarted from its data dir receives everything once, in order (spec §8, §9.2)", async () => {
    const dirs = [tempDir("alice"), tempDir("bob")];
    const alice = await start("alice.example", dirs[0]!);
    let bob = await start("bob.example", dirs[1]!);
    try {
      await connect(alice, bob);
      const ch = "!ops:alice.example";
      await control(alice, "POST", "/control/v1/channels", { name: "ops" });
      await control(alice, "POST", `/control/v1/channels/${enc(ch)}/invites`, { server: "bob.example" });
      await waitForEvents(bob, ch, 2);
      const port = Number(new URL(bob.url).port);
      await bob.close();
      expect(await alice.vendela.pingPeer("bob.example")).toMatchObject({ status: "down", last_error: expect.stringContaining("unreachable") });
      for (let i = 0; i < 5; i++) {
        const r = await control(alice, "POST", `/control/v1/channels/${enc(ch)}/events`, { type: "ops:tick", data: { i } });
        expect(r.status).toBe(200);
      }
      await until("alice to notice bob is down", async () => {
        const peers = (await control(alice, "GET", "/control/v1/peers")).body as PeerList;
        return (peers.peers.find((p) => p.server_name === "bob.example")?.outbound.failures ?? 0) > 0;
      });
      bob = await start("bob.example", dirs[1]!, { listenPort: port });
      const events = await waitForEvents(bob, ch, 7);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(events.slice(2).map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
      await until("alice's queue to drain", async () => {
        const peers = (await control(alice, "GET", "/control/v1/peers")).body as PeerList;
        const q = peers.peers.find((p) => p.server_name === "bob.example")!.outbound;
        return q.pending === 0 && q.state === "idle";
      });
      const again = await control(bob, "GET", `/control/v1/channels/${enc(ch)}/events?after=0&limit=1000`);
      expect((again.body as { events: unknown[] }).events).toHaveLength(7);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      dirs.forEach(removeDir);
    }
  });

  it("CTRL-20, TXN-15: with the hub down a participant answers 502 with retry_after_ms, keeps the submission and it is sequenced once later (spec §12.3, §8.3)", async () => {
    const dirs = [tempDir("alice"), tempDir("bob")];
    let alice = await start("alice.example", dirs[0]!);
    const bob = await start("bob.example", dirs[1]!);
    try {
      await connect(alice, bob);
      const ch = "!queue:alice.example";
      await control(alice, "POST", "/control/v1/channels", { name: "queue" });
      await control(alice, "POST", `/control/v1/channels/${enc(ch)}/invites`, { server: "bob.example" });
      await waitForEvents(bob, ch, 2);
      const port = Number(new URL(alice.url).port);
      await alice.close();
      const r = await control(bob, "POST", `/control/v1/channels/${enc(ch)}/events`, { type: "chat:message", data: { text: "while you were out" } });
      expect(r.status).toBe(502);
      expect((r.body as { errcode: string; retry_after_ms: number }).errcode).toBe("SMCP_PEER_UNREACHABLE");
      expect((r.body as { retry_after_ms: number }).retry_after_ms).toBeGreaterThan(0);
      alice = await start("alice.example", dirs[0]!, { listenPort: port });
      const events = await waitForEvents(bob, ch, 3);
      expect(events[2]).toMatchObject({ seq: 3, sender: "bob.example", data: { text: "while you were out" } });
      const onAlice = await waitForEvents(alice, ch, 3);
      expect(onAlice).toHaveLength(3);
      expect(bob.store.queuedSubmissionCount("alice.example")).toBe(0);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      dirs.forEach(removeDir);
    }
  });
});

describe("configuration", () => {
  it("DISC-09: an instance refuses to start with limits it could not advertise as valid Limits (spec §6.2)", async () => {
    const dir = tempDir("badlimits");
    await expect(start("bad.example", dir, { limits: { maxBodyBytes: 1000 } })).rejects.toThrow(/max_body_bytes/);
    await expect(start("bad.example", dir, { rateLimit: { perSecond: 0 } })).rejects.toThrow(/rate_per_second/);
    removeDir(dir);
  });
});
