// Conformance harness: the seed's success criteria — discovery both ways, a shared channel, events both ways through the
// hub in one order, a Roshumba tool call Alice → Bob's vikunja, and the latency bound (spec §6, §7-§10).
import { keyDocumentVerifies } from "../../protocol/key-document.ts";
import { parseIJson } from "../../protocol/canonical-json.ts";
import { keyIdFor, parsePublicKey } from "../../protocol/keys.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import { eventProblem, isReservedType } from "../../protocol/events.ts";
import type { Event, InstanceInfo, KeyDocument, ServerDiscovery } from "../../protocol/types.ts";
import { ensure, expectOk, fail, show } from "../assert.ts";
import { other, perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { createdTask, known, noteLatency, notePublished, published, setCreatedTask, setSharedChannel, sharedChannel } from "./support/state.ts";
import { uid, unsignedGet } from "./support/requests.ts";
import { chainProblem, percentile, taskOf, tasksOf, verifyKeyOfDiscovery } from "./support/matchers.ts";
import { expectJsonMembers, expectSameJson, sameJson } from "./support/json-value.ts";

const SEVEN_DAYS = 7 * 24 * 3600 * 1000;

const instanceInfo = perTarget((role) => ({
  id: "sc/control/instance",
  name: `${role}'s Control API describes the instance, which runs the conformance profile component vikunja`,
  requirements: ["CTRL-05", "CONF-01", "KEY-02"],
  level: "MUST",
  async run(ctx) {
    const t = target(ctx, role);
    const info: InstanceInfo = await t.control.instance();
    if (t.name && t.name !== info.server_name) fail("server_name differs from the one the deployment started", t.name, info.server_name);
    t.name = info.server_name;
    t.federationUrl = /^https?:\/\/[^\s/?#]+$/.test(info.endpoint) ? info.endpoint : t.baseUrl;
    ensure(info.components.includes("vikunja"), "component vikunja missing (conformance profile)", "components ∋ vikunja", info.components);
    ensure(info.key_id === keyIdFor(parsePublicKey(info.public_key) ?? Buffer.alloc(0)), "key_id is not derived from public_key (§4.1)", keyIdFor(parsePublicKey(info.public_key) ?? Buffer.alloc(0)), info.key_id);
    ctx.note(`${role} = ${info.server_name} (${info.version})`);
  },
}));

const wellKnown = perTarget((role) => ({
  id: "sc/discovery/well-known",
  name: `the harness fetches ${role}'s /.well-known/smcp/server and self-signed /federation/v1/keys and validates them`,
  requirements: ["DISC-01", "DISC-02", "DISC-04", "VER-10", "DISC-06", "CONF-01", "KEY-02", "KEY-03", "KEY-12", "KEY-13", "KEY-14", "KEY-15"],
  level: "MUST",
  prerequisites: ["sc/control/instance@@"],
  async run(ctx) {
    const t = target(ctx, role);
    const wk = await unsignedGet(ctx, `${t.federationUrl ?? t.baseUrl}/.well-known/smcp/server`, `well-known@${role}`);
    const doc = expectOk<ServerDiscovery>(wk, "ServerDiscovery", "GET /.well-known/smcp/server", 200);
    ensure(doc.server_name === t.name, "discovery server_name is not the instance's name (§6.1)", t.name, doc.server_name);
    // Any 1.x instance that lists 1.0 (VER-10); `version` is the one it prefers, among those it lists (DISC-04).
    const isOneX = /^1\.[0-9]+$/.test(doc.version) && doc.versions.includes(doc.version) && doc.versions.includes("1.0");
    ensure(isOneX, "version must be a 1.x version that versions lists, and versions must list 1.0 (§6.1, §14)", { version: "1.x", versions: ["1.0", "..."] }, { version: doc.version, versions: doc.versions });
    ensure(doc.components.includes("vikunja"), "discovery components lack vikunja (conformance profile)", "components ∋ vikunja", doc.components);
    const key = verifyKeyOfDiscovery(doc);
    ensure(doc.key_id === keyIdFor(key.publicKey), "key_id is not derived from public_key (§4.1)", keyIdFor(key.publicKey), doc.key_id);
    const kd = expectOk<KeyDocument>(await unsignedGet(ctx, `${doc.endpoint}/federation/v1/keys`, `keys@${role}`), "KeyDocument", "GET /federation/v1/keys", 200);
    ensure(kd.server_name === t.name, "key document server_name mismatch", t.name, kd.server_name);
    const listed = kd.verify_keys.find((k) => k.key_id === doc.key_id);
    ensure(listed && listed.public_key === doc.public_key, "key document does not list the discovery key", doc.public_key, kd.verify_keys);
    ensure(keyDocumentVerifies(kd, key), "key document self-signature does not verify (§4.3)", "valid signature by signed_by", kd.signature);
    ensure(listed.valid_until_ts <= Date.now() + SEVEN_DAYS + 60_000, "valid_until_ts more than 7 days ahead (§4.3)", `≤ now + 7 d`, listed.valid_until_ts);
    t.discovery = doc;
    t.key = key;
    ctx.fake.addInstance(t.name, doc.endpoint, key);
    ctx.note(`endpoint ${doc.endpoint}, key ${doc.key_id}, limits ${JSON.stringify(doc.limits)}`);
  },
}));

const hostMap = perTarget((role) => ({
  id: "sc/setup/host-map",
  name: `${role} accepts PUT /control/v1/hosts mapping its peer's name to its loopback address`,
  requirements: ["DISC-20", "CTRL-10", "CONF-09"],
  level: "MUST",
  prerequisites: ["sc/discovery/well-known@alice", "sc/discovery/well-known@bob"],
  async run(ctx) {
    const t = target(ctx, role);
    const peer = known(ctx, other(role));
    await t.control.mapHost(peer.name, peer.discovery.endpoint);
  },
}));

function finds(from: Role): Check {
  const to = other(from);
  return {
    id: `sc/discovery/${from}-finds-${to}`,
    name: `${from} discovers ${to} through its well-known document (POST /control/v1/peers)`,
    requirements: ["DISC-21", "CTRL-08", "CTRL-07", "REG-01"],
    level: "MUST",
    prerequisites: [`sc/setup/host-map@${from}`],
    async run(ctx) {
      const t = target(ctx, from);
      const peer = known(ctx, to);
      const info = await t.control.discover(peer.name);
      ensure(info.server_name === peer.name, "discovered the wrong server", peer.name, info.server_name);
      ensure(info.key_id === peer.discovery.key_id && info.public_key === peer.discovery.public_key, "discovered key differs from the peer's well-known key", peer.discovery.public_key, info.public_key);
      ensure(info.components.includes("vikunja"), "peer's components not learnt", "components ∋ vikunja", info.components);
      const list = expectOk<{ peers: Array<{ server_name: string }> }>(await t.control.request("GET", "/control/v1/peers"), "PeerList", "GET /control/v1/peers");
      ensure(list.peers.some((p) => p.server_name === peer.name), "peer missing from GET /control/v1/peers", peer.name, list.peers.map((p) => p.server_name));
    },
  };
}

const channelCreate: Check = {
  id: "sc/channel/create",
  name: "a channel created on alice has alice as hub, admin and only member",
  requirements: ["CTRL-13", "CHAN-01", "NAME-10", "EVT-03"],
  level: "MUST",
  prerequisites: ["sc/discovery/alice-finds-bob", "sc/discovery/bob-finds-alice"],
  async run(ctx) {
    const a = known(ctx, "alice");
    const info = await a.control.createChannel(`conf-${ctx.runId}`);
    ensure(info.channel === `!conf-${ctx.runId}:${a.name}`, "channel ID is not !name:hub (§2.3)", `!conf-${ctx.runId}:${a.name}`, info.channel);
    ensure(info.hub === a.name && info.role === "hub" && info.joined, "creator is not the joined hub", { hub: a.name, role: "hub", joined: true }, info);
    expectSameJson(info.members, [a.name], "a new channel's members are the hub alone");
    const evs = await a.control.events(info.channel);
    ensure(evs.events[0]?.type === "smcp:channel.create" && evs.events[0].seq === 1, "seq 1 is not smcp:channel.create (§7)", "smcp:channel.create at seq 1", evs.events[0]);
    setSharedChannel(ctx, info.channel);
  },
};

const bobJoins: Check = {
  id: "sc/channel/bob-joins",
  name: "alice invites bob; bob accepts and both see bob as a member",
  requirements: ["CHAN-06", "CHAN-09", "CHAN-11", "CHAN-13", "CTRL-15", "CTRL-12", "CTRL-11"],
  level: "MUST",
  prerequisites: ["sc/channel/create"],
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const ch = sharedChannel(ctx);
    const outcome = await a.control.invite(ch, b.name);
    ensure(outcome.accepted && outcome.server === b.name && outcome.channel === ch, "invite not accepted", { channel: ch, server: b.name, accepted: true }, outcome);
    const isJoin = (e: Event): boolean => e.type === "smcp:member.join" && (e.data as { server?: string }).server === b.name;
    const seen = await b.control.waitForEvents(ch, (evs) => evs.some(isJoin), ctx.options.deliveryTimeoutMs);
    ensure(seen.some(isJoin), "bob never received its smcp:member.join event", "smcp:member.join {server: bob}", seen.map((e) => e.type));
    const hubView = await a.control.channel(ch);
    ensure(hubView.members.includes(b.name), "alice does not list bob as member", b.name, hubView.members);
    const bobView = await b.control.channel(ch);
    ensure(bobView.role === "participant" && bobView.joined && bobView.hub === a.name, "bob's view of the channel is wrong", { role: "participant", joined: true, hub: a.name }, bobView);
    ensure(bobView.members.includes(a.name) && bobView.members.includes(b.name), "bob's member list lacks alice or bob", [a.name, b.name], bobView.members);
    for (const [who, inst] of [["alice", a], ["bob", b]] as const) {
      const list = expectOk<{ channels: Array<{ channel: string }> }>(await inst.control.request("GET", "/control/v1/channels"), "ChannelList", `${who} GET /control/v1/channels`);
      ensure(list.channels.some((c) => c.channel === ch), `${who} does not list the channel it hubs or joined`, ch, list.channels.map((c) => c.channel));
    }
    for (const view of [hubView, bobView]) {
      const sorted = [...view.members].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expectSameJson(view.members, sorted, "members are not sorted by byte order (§12.3)");
    }
  },
};

const repeatInvite: Check = {
  id: "sc/channel/repeat-invite",
  name: "inviting bob again is accepted again and produces no second smcp:member.join",
  requirements: ["CHAN-12", "CHAN-13"],
  level: "MUST",
  prerequisites: ["sc/channel/bob-joins"],
  async run(ctx) {
    const a = known(ctx, "alice");
    const b = known(ctx, "bob");
    const ch = sharedChannel(ctx);
    const outcome = await a.control.invite(ch, b.name);
    ensure(outcome.accepted, "repeated invite not accepted", true, outcome);
    const joins = (await a.control.allEvents(ch)).filter((e) => e.type === "smcp:member.join" && (e.data as { server?: string }).server === b.name);
    ensure(joins.length === 1, "one join produced more than one smcp:member.join", 1, joins.length);
  },
};

function deliver(from: Role): Check {
  const to = other(from);
  return {
    id: from === "alice" ? "sc/events/alice-to-bob" : "sc/events/bob-to-alice-via-hub",
    name: from === "alice" ? "an event published on alice (the hub) appears on bob" : "an event published on bob reaches alice through the hub, and comes back to bob",
    requirements: from === "alice" ? ["CTRL-18", "DLV-01", "TXN-01"] : ["TXN-08", "TXN-14", "CTRL-18", "DLV-01"],
    level: "MUST",
    prerequisites: ["sc/channel/bob-joins"],
    async run(ctx) {
      const src = known(ctx, from);
      const dst = known(ctx, to);
      const ch = sharedChannel(ctx);
      const data = { text: `hello from ${from}`, marker: uid(ctx, "m") };
      const pub = await src.control.publish(ch, "conformance:message", data);
      ensure(pub.channel === ch, "PublishResult names another channel", ch, pub.channel);
      notePublished(ctx, pub);
      for (const t of from === "alice" ? [dst] : [dst, src]) {
        const seen = await t.control.waitForEvents(ch, (evs) => evs.some((e) => e.event_id === pub.event_id), ctx.options.deliveryTimeoutMs);
        const ev = seen.find((e) => e.event_id === pub.event_id);
        ensure(ev, `event ${pub.event_id} never appeared on ${t.role}`, pub.event_id, seen.map((e) => e.event_id));
        expectJsonMembers(ev, { seq: pub.seq, sender: src.name, type: "conformance:message", data }, `event on ${t.role} differs from what was published`);
      }
    },
  };
}

/** Both instances hold the same chain: same event IDs in the same seq order, all hub-signed and content-addressed. */
async function sameChain(ctx: CheckContext): Promise<Event[]> {
  const a = known(ctx, "alice");
  const b = known(ctx, "bob");
  const ch = sharedChannel(ctx);
  const hub = await a.control.allEvents(ch);
  const bobSeen = await b.control.waitForEvents(ch, (evs) => evs.length >= hub.length, ctx.options.deliveryTimeoutMs);
  const p = chainProblem(hub) ?? chainProblem(bobSeen);
  if (p) fail(`the channel is not a gap-free chain: ${p}`, "seq 1..n, each prev_event naming seq-1", hub.map((e) => [e.seq, e.event_id]));
  const ids = (evs: Event[]): string[] => evs.map((e) => e.event_id);
  expectSameJson(ids(bobSeen), ids(hub), "alice and bob hold different events or orders");
  for (const e of hub) {
    const problem = eventProblem(a.key, e);
    if (problem) fail(`event seq ${e.seq} does not verify: ${problem}`, "content-addressed event_id and valid hub_signature (§7.3, §7.4)", e);
    if (isReservedType(e.type) && e.sender !== a.name) fail(`smcp: event at seq ${e.seq} not sent by the hub`, a.name, e.sender);
  }
  for (const p of published(ctx)) {
    const n = hub.filter((e) => e.event_id === p.event_id).length;
    ensure(n === 1, `published event ${p.event_id} is held ${n} times`, 1, n);
  }
  return hub;
}

const sameOrder: Check = {
  id: "sc/events/same-order",
  name: "alice and bob hold the same events in the same order (event IDs compared by seq), each verifying",
  requirements: ["EVT-09", "EVT-10", "EVT-14", "EVT-17", "EVT-02", "CTRL-22"],
  level: "MUST",
  prerequisites: ["sc/events/alice-to-bob", "sc/events/bob-to-alice-via-hub"],
  async run(ctx) {
    const evs = await sameChain(ctx);
    ctx.note(`${evs.length} events, identical on both`);
  },
};

const callTarget = (ctx: CheckContext): string => `smcp://${known(ctx, "bob").name}/vikunja`;

/** Consent comes from the callee (CALL-21): bob hubs a channel and invites alice, which lets alice call bob's tools. */
const bobGrantsAlice: Check = {
  id: "sc/calls/bob-grants-alice",
  name: "bob hubs a channel and invites alice, so that alice may call bob's tools",
  requirements: ["CALL-21", "CTRL-13", "CTRL-15"],
  level: "MUST",
  prerequisites: ["sc/discovery/alice-finds-bob", "sc/discovery/bob-finds-alice"],
  async run(ctx) {
    const b = known(ctx, "bob");
    const ch = (await b.control.createChannel(`calls-${ctx.runId}`)).channel;
    const outcome = await b.control.invite(ch, known(ctx, "alice").name);
    ensure(outcome.accepted, "alice did not accept bob's invite (conformance profile, CONF-10)", true, outcome);
  },
};

const createTask: Check = {
  id: "sc/calls/create-task",
  name: "Roshumba routes create_task from alice to bob's vikunja and the result comes back",
  requirements: ["CTRL-26", "CALL-07", "CALL-08", "CONF-02", "CONF-06"],
  level: "MUST",
  prerequisites: ["sc/calls/bob-grants-alice"],
  async run(ctx) {
    const title = `conformance task ${ctx.runId}`;
    const r = await known(ctx, "alice").control.call({ target: callTarget(ctx), tool: "create_task", params: { title } as never });
    ensure(r.target === callTarget(ctx) && r.tool === "create_task", "result names another target/tool", { target: callTarget(ctx), tool: "create_task" }, r);
    const task = taskOf(r, "create_task");
    ensure(task.title === title && task.done === false, "created task differs", { title, done: false }, task);
    ensure(Number.isSafeInteger(task.id) && (task.id as number) > 0, "task IDs must be positive integers (§16)", "a positive integer", task.id);
    setCreatedTask(ctx, task.id);
  },
};

const listTasks: Check = {
  id: "sc/calls/list-tasks",
  name: "list_tasks through alice shows the task created on bob",
  requirements: ["CONF-03"],
  level: "MUST",
  prerequisites: ["sc/calls/create-task"],
  async run(ctx) {
    const r = await known(ctx, "alice").control.call({ target: callTarget(ctx), tool: "list_tasks", params: {} as never });
    const tasks = tasksOf(r, "list_tasks");
    ensure(tasks.some((t) => t.id === createdTask(ctx)), "created task missing from list_tasks", createdTask(ctx), tasks);
    const ids = tasks.map((t) => t.id as number);
    ensure(ids.every((id, i) => i === 0 || id > ids[i - 1]!), "list_tasks is not in ascending id order (§16)", "ascending ids", ids);
  },
};

const completeTask: Check = {
  id: "sc/calls/complete-task",
  name: "complete_task through alice marks bob's task done",
  requirements: ["CONF-04"],
  level: "MUST",
  prerequisites: ["sc/calls/list-tasks"],
  async run(ctx) {
    const alice = known(ctx, "alice").control;
    const r = await alice.call({ target: callTarget(ctx), tool: "complete_task", params: { id: createdTask(ctx) } as never });
    const done = taskOf(r, "complete_task");
    ensure(done.id === createdTask(ctx) && done.done === true, "complete_task did not return the task done", { id: createdTask(ctx), done: true }, done);
    const again = taskOf(await alice.call({ target: callTarget(ctx), tool: "complete_task", params: { id: createdTask(ctx) } as never }), "complete_task again");
    expectSameJson(again, done, "completing a done task again does not return the same");
    const tasks = tasksOf(await alice.call({ target: callTarget(ctx), tool: "list_tasks", params: {} as never }), "list_tasks");
    ensure(tasks.find((t) => t.id === createdTask(ctx))?.done === true, "task not done after complete_task", true, tasks);
  },
};

const defaultLimits = perTarget((role) => ({
  id: "sc/discovery/default-limits",
  name: `${role} advertises the default limits (1 MiB bodies, 100 items, 64 KiB data, 200/s, burst 400, 60 s skew)`,
  requirements: ["DISC-10", "RATE-02", "SIGN-26"],
  level: "SHOULD",
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx) {
    const want = DEFAULT_LIMITS;
    const got = known(ctx, role).discovery.limits;
    expectJsonMembers(got, want, "limits differ from the defaults");
  },
}));

const textMirror: Check = {
  id: "sc/calls/text-mirror",
  name: "vikunja results also carry structuredContent as JSON in a text content block",
  requirements: ["CONF-07"],
  level: "SHOULD",
  prerequisites: ["sc/calls/create-task"],
  async run(ctx) {
    const r = await known(ctx, "alice").control.call({ target: callTarget(ctx), tool: "list_tasks", params: {} as never });
    const texts = r.result.content.filter((c) => c.type === "text").map((c) => (c as { text?: unknown }).text);
    const mirrored = texts.some((t) => {
      try {
        return typeof t === "string" && sameJson(parseIJson(Buffer.from(t, "utf8")), r.result.structuredContent);
      } catch {
        return false;
      }
    });
    ensure(mirrored, "no text block mirrors structuredContent", show(r.result.structuredContent), texts);
  },
};

const latency: Check = {
  id: "sc/latency/direct-calls",
  name: "N direct calls alice → bob (control → alice → bob → vikunja → back): p99 below the bound (a seed success criterion, so MUST here although CALL-20 is a SHOULD)",
  requirements: ["CALL-20"],
  level: "MUST",
  prerequisites: ["sc/calls/list-tasks"],
  async run(ctx) {
    const alice = known(ctx, "alice").control;
    const n = ctx.options.latencyCalls;
    const times: number[] = [];
    let keep = 0;
    for (let i = 0; i < n; i++) {
      if (i === 3) keep = ctx.recorder.current.length;
      const started = performance.now();
      const r = await alice.call({ target: callTarget(ctx), tool: "list_tasks", params: {} as never });
      times.push(performance.now() - started);
      if (r.result.isError === true) fail(`call ${i + 1} of ${n} reported an error`, "a result", r.result);
      if (i >= 3) ctx.recorder.current.length = keep; // the wire log keeps the first three calls only
    }
    times.sort((x, y) => x - y);
    const r2 = (v: number): number => Math.round(v * 100) / 100;
    const stats = { calls: n, p50: r2(percentile(times, 50)), p95: r2(percentile(times, 95)), p99: r2(percentile(times, 99)), max: r2(times[times.length - 1] ?? NaN), boundMs: ctx.options.latencyP99Ms };
    noteLatency(ctx, stats);
    ctx.note(`${n} calls: p50 ${stats.p50} ms, p95 ${stats.p95} ms, p99 ${stats.p99} ms, max ${stats.max} ms (bound p99 < ${stats.boundMs} ms)`);
    ensure(stats.p99 < stats.boundMs, "p99 latency at or above the bound", `p99 < ${stats.boundMs} ms`, `p99 ${stats.p99} ms`);
  },
};

/** Placed last: nothing the adversarial checks did may have duplicated or lost an event on the real channel. */
export const finalIntegrity: Check = {
  id: "sc/final/no-duplicate-or-lost-events",
  name: "after the adversarial run the real channel still has no duplicate or lost event, identical on alice and bob",
  requirements: ["DLV-06", "TXN-16", "TXN-22", "EVT-09"],
  level: "MUST",
  prerequisites: ["sc/events/same-order"],
  async run(ctx) {
    const a = known(ctx, "alice");
    const before = published(ctx).length;
    const pub = await a.control.publish(sharedChannel(ctx), "conformance:message", { text: "final", marker: uid(ctx, "final") });
    notePublished(ctx, pub);
    const evs = await sameChain(ctx);
    ensure(new Set(evs.map((e) => e.event_id)).size === evs.length, "duplicate event IDs in the channel", "unique IDs", evs.map((e) => e.event_id));
    ctx.note(`${evs.length} events; all ${before + 1} harness-published events present exactly once`);
  },
};

export const successCriteria: Check[] = [
  ...instanceInfo,
  ...wellKnown,
  ...hostMap,
  ...defaultLimits,
  finds("alice"),
  finds("bob"),
  channelCreate,
  bobJoins,
  repeatInvite,
  deliver("alice"),
  deliver("bob"),
  sameOrder,
  bobGrantsAlice,
  createTask,
  listTasks,
  completeTask,
  textMirror,
  latency,
];
