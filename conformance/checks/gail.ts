// Conformance harness: the Gail profile (spec §18.2) — bob aggregates alice's logs through its log channel
// !gail:bob; driven only through both instances' Control APIs, so any implementation of the profile can be checked.
import type { GailEmitResult, GailForwardingStatus, GailRecordPage, GailSourceList, InstanceInfo } from "../../protocol/types.ts";
import { ensure, expectError, expectOk, fail } from "../assert.ts";
import type { Check, CheckContext, Target } from "../context.ts";
import { freePort } from "../deployment.ts";
import { pollFor } from "./support/poll.ts";
import { known } from "./support/state.ts";

const PROFILE = "gail" as const;
const PEERS = ["sc/discovery/alice-finds-bob", "sc/discovery/bob-finds-alice"];
const logChannel = (ctx: CheckContext) => `!gail:${ctx.bob.name}`;
/** A component name of this run's records: the checks count only their own, against long-lived instances too. */
const component = (ctx: CheckContext, what: string) => `c${ctx.runId.toLowerCase().replace(/[^a-z0-9]/g, "")}-${what}`;
const enc = encodeURIComponent;
const waitMs = (ctx: CheckContext) => ctx.options.deliveryTimeoutMs + 8_000;

async function emit(t: Target, level: string, comp: string, msg: string, fields: Record<string, unknown> = {}): Promise<boolean> {
  return expectOk<GailEmitResult>(await t.control.request("POST", "/control/v1/gail/emit", { level, component: comp, msg, fields }), "GailEmitResult", "POST /control/v1/gail/emit", 200).queued;
}

async function forward(t: Target, config: Record<string, unknown>): Promise<GailForwardingStatus> {
  return expectOk<GailForwardingStatus>(await t.control.request("PUT", "/control/v1/gail/forwarding", config), "GailForwardingStatus", "PUT /control/v1/gail/forwarding", 200);
}

/** Every record bob holds matching `filter`, page by page with `limit`. */
export async function aggregated(t: Target, filter: Record<string, unknown>, limit = 1000): Promise<GailRecordPage["records"]> {
  const out: GailRecordPage["records"] = [];
  let after: number | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = expectOk<GailRecordPage>(
      await t.control.request("POST", "/control/v1/gail/records/query", { ...filter, limit, ...(after !== undefined ? { after } : {}) }), "GailRecordPage", "POST /control/v1/gail/records/query", 200,
    );
    ensure(page.records.length <= limit, "a page holds more records than its limit", `≤ ${limit}`, page.records.length);
    out.push(...page.records);
    if (page.next === null) return out;
    ensure(page.records.length > 0 && page.next !== after, "a page with a next cursor made no progress", "records and a new cursor", page);
    after = page.next;
  }
  return fail("the record pages never ended");
}

/** Waits until bob holds `count` records of `comp` from alice; returns them. */
async function awaitRecords(ctx: CheckContext, comp: string, count: number): Promise<GailRecordPage["records"]> {
  const got = await pollFor(async () => {
    const r = await aggregated(ctx.bob, { source: ctx.alice.name, component: comp });
    return r.length >= count ? r : undefined;
  }, waitMs(ctx));
  if (got) return got;
  return fail(`bob never held ${count} records of ${comp} from alice`, count, (await aggregated(ctx.bob, { source: ctx.alice.name, component: comp })).length);
}

const setup: Check = {
  id: "gail/setup/log-channel",
  name: "both instances list gail; bob hubs !gail:bob with alice as member; alice refuses a channel that is not a log channel and accepts bob's",
  requirements: ["GAIL-01", "GAIL-02", "GAIL-03"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: PEERS,
  async run(ctx) {
    for (const t of [ctx.alice, ctx.bob]) {
      const info = expectOk<InstanceInfo>(await t.control.request("GET", "/control/v1/instance"), "InstanceInfo", "GET /control/v1/instance", 200);
      ensure(info.components.includes("gail"), `${t.role} does not list gail in its components`, "components ∋ gail", info.components);
    }
    const created = await ctx.bob.control.request("POST", "/control/v1/channels", { name: "gail" });
    if (created.status !== 201) expectError(created, "SMCP_CONFLICT", "bob creates its log channel (it may exist from an earlier run)");
    const invite = expectOk<{ accepted: boolean }>(await ctx.bob.control.request("POST", `/control/v1/channels/${enc(logChannel(ctx))}/invites`, { server: ctx.alice.name }), "InviteOutcome", "bob invites alice to its log channel", 200);
    ensure(invite.accepted, "alice declined the log channel's invite", true, invite.accepted);
    expectError(await ctx.alice.control.request("PUT", "/control/v1/gail/forwarding", { channel: `!logs:${ctx.bob.name}` }), "SMCP_INVALID", "forwarding to a channel that is not !gail:<server>");
    expectError(await ctx.alice.control.request("PUT", "/control/v1/gail/forwarding", { channel: `!gail:nobody-${ctx.runId.toLowerCase()}.example` }), "SMCP_UNKNOWN_CHANNEL", "forwarding to a log channel alice does not hold");
    const joined = await pollFor(async () => {
      const a = await ctx.alice.control.request("GET", `/control/v1/channels/${enc(logChannel(ctx))}`);
      return a.status === 200 && (a.body as { joined: boolean }).joined;
    }, waitMs(ctx));
    ensure(joined, "alice never joined bob's log channel", true, false);
    const status = await forward(ctx.alice, { channel: logChannel(ctx), min_level: "warn", components: [component(ctx, "app"), component(ctx, "secret"), component(ctx, "edge")], max_batch_records: 3 });
    ensure(status.enabled && status.config?.channel === logChannel(ctx), "the forwarding configuration was not applied", { enabled: true, channel: logChannel(ctx) }, status);
  },
};

const filtered: Check = {
  id: "gail/forward/filtered-and-paged",
  name: "alice forwards exactly the records at or above warn of the chosen component; bob serves them with every filter and cursor paging",
  requirements: ["GAIL-04", "GAIL-05", "GAIL-12", "GAIL-15", "GAIL-16", "GAIL-18", "GAIL-20"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["gail/setup/log-channel"],
  async run(ctx) {
    const app = component(ctx, "app");
    const flags: boolean[] = [];
    for (let i = 0; i < 4; i++) flags.push(await emit(ctx.alice, "info", app, `below ${i}`));
    for (let i = 0; i < 7; i++) flags.push(await emit(ctx.alice, i < 2 ? "error" : "warn", app, `kept ${i} 100%_`, { i }));
    for (let i = 0; i < 3; i++) flags.push(await emit(ctx.alice, "error", component(ctx, "other"), `other ${i}`));
    const queued = flags.filter(Boolean).length;
    ensure(queued === 7, "emit reported a different number of queued records than the filter allows", 7, flags);
    const all = await awaitRecords(ctx, app, 7);
    const msgs = all.map((r) => r.msg);
    ensure(msgs.join("|") === Array.from({ length: 7 }, (_, i) => `kept ${i} 100%_`).join("|"), "bob holds other records than alice forwarded, or in another order", "kept 0..6", msgs);
    ensure(new Set(all.map((r) => r.id)).size === 7, "record IDs repeat", 7, all.map((r) => r.id));
    ensure(all.every((r) => r.source === ctx.alice.name), "a record's source is not the forwarder", ctx.alice.name, all.map((r) => r.source));
    const paged = await aggregated(ctx.bob, { source: ctx.alice.name, component: app }, 2);
    ensure(paged.map((r) => r.msg).join("|") === msgs.join("|"), "paging with limit 2 gives other records than one page", msgs, paged.map((r) => r.msg));
    const errors = await aggregated(ctx.bob, { source: ctx.alice.name, component: app, min_level: "error" });
    ensure(errors.length === 2, "min_level error does not select exactly the two error records", 2, errors.map((r) => [r.level, r.msg]));
    const text = await aggregated(ctx.bob, { component: app, text: "100%_" });
    ensure(text.length === 7, "the text filter is not a literal substring match", 7, text.length);
    const none = await aggregated(ctx.bob, { component: component(ctx, "other") });
    ensure(none.length === 0, "records of a component alice does not forward reached bob", 0, none.length);
    const ts = all[3]!.ts;
    const range = await aggregated(ctx.bob, { component: app, since: ts, until: ts });
    ensure(range.length > 0 && range.every((r) => r.ts === ts), "the since/until range is not inclusive or not applied", `records with ts ${ts}`, range.map((r) => r.ts));
    ensure(new Set(all.map((r) => r.seq)).size >= 3, "7 records came in fewer than 3 batches despite max_batch_records 3", "≥ 3 events", new Set(all.map((r) => r.seq)).size);
    const sources = expectOk<GailSourceList>(await ctx.bob.control.request("GET", "/control/v1/gail/sources"), "GailSourceList", "GET /control/v1/gail/sources", 200);
    ensure(sources.sources.some((s) => s.server === ctx.alice.name && s.records >= 7), "bob's sources do not list alice with her records", ctx.alice.name, sources.sources);
  },
};

const secrets: Check = {
  id: "gail/secrets/never-leave",
  name: "alice's control token and credentials in a record's message and fields never reach bob (0 occurrences in everything bob serves)",
  requirements: ["GAIL-07", "GAIL-08"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["gail/setup/log-channel"],
  async run(ctx) {
    const comp = component(ctx, "secret");
    const token = ctx.alice.token;
    await emit(ctx.alice, "warn", comp, `control token ${token} in the message`, {
      authorization: `Bearer ${token}`, "X-SMCP-Authorization": `SMCP-Ed25519 origin=${ctx.alice.name} sig=AAAA`, nested: { list: [`x ${token} y`, { control_token: token }] },
      note: `header was Bearer ${token}`,
    });
    const [r] = await awaitRecords(ctx, comp, 1);
    const served = JSON.stringify(await aggregated(ctx.bob, {})) + JSON.stringify(r);
    const occurrences = served.split(token).length - 1;
    ensure(occurrences === 0, "alice's control token reached bob", 0, occurrences);
    ensure(!served.includes("SMCP-Ed25519 origin="), "an X-SMCP-Authorization value reached bob", "[REDACTED]", r!.fields);
    ensure(r!.msg.includes("[REDACTED]"), "the message lost more than the secret, or was not redacted", "control token [REDACTED] in the message", r!.msg);
  },
};

const durable: Check = {
  id: "gail/restart/outbox-kept",
  name: "records alice queued while bob was unreachable are delivered to bob exactly once after alice is killed and restarted",
  requirements: ["GAIL-09", "GAIL-11", "GAIL-15", "GAIL-16"],
  level: "MUST",
  profile: PROFILE,
  restarts: ["alice"],
  prerequisites: ["gail/setup/log-channel"],
  async run(ctx) {
    const comp = component(ctx, "restart");
    await forward(ctx.alice, { channel: logChannel(ctx), min_level: "info", components: [comp] });
    // bob is unreachable for alice while she queues (her host map points at a closed port), so the records wait
    // in her outbox when she is killed; the mapping is restored after the restart.
    const bobUrl = known(ctx, "bob").discovery.endpoint;
    try {
      await restartWhileQueued(ctx, comp, bobUrl);
    } finally {
      await ctx.alice.control.mapHost(ctx.bob.name, bobUrl);
    }
  },
};

const edges: Check = {
  id: "gail/forward/bounded-and-invalid",
  name: "a record's oversized fields are replaced before they leave alice; bob ignores and counts a batch that is not GailLogBatch data and keeps taking later ones",
  requirements: ["GAIL-06", "GAIL-17", "GAIL-20"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["gail/setup/log-channel"],
  async run(ctx) {
    const comp = component(ctx, "edge");
    const blob = "b".repeat(9000);
    await emit(ctx.alice, "warn", comp, "big fields", { blob });
    const [big] = await awaitRecords(ctx, comp, 1);
    const size = Buffer.byteLength(JSON.stringify(big!.fields));
    ensure(size <= 8192 && !JSON.stringify(big!.fields).includes(blob), "fields over 8192 bytes reached bob", "≤ 8192 bytes", size);
    const invalidBefore = await invalidBatches(ctx);
    expectOk(await ctx.alice.control.request("POST", `/control/v1/channels/${enc(logChannel(ctx))}/events`, { type: "gail:log.batch", data: { records: [], dropped: { records: 0, bytes: 0, age: 0 } } }), "PublishResult", "alice publishes an empty (invalid) batch", 200);
    await emit(ctx.alice, "warn", comp, "after the invalid batch");
    await awaitRecords(ctx, comp, 2);
    const invalidAfter = await invalidBatches(ctx);
    ensure(invalidAfter === invalidBefore + 1, "bob did not count the invalid batch exactly once", invalidBefore + 1, invalidAfter);
  },
};

async function invalidBatches(ctx: CheckContext): Promise<number> {
  const list = expectOk<GailSourceList>(await ctx.bob.control.request("GET", "/control/v1/gail/sources"), "GailSourceList", "GET /control/v1/gail/sources", 200);
  return list.sources.find((s) => s.server === ctx.alice.name)?.invalid_batches ?? 0;
}

const retention: Check = {
  id: "gail/bound/retention-counted",
  name: "while bob is unreachable alice's outbox keeps at most retention_records; every record is delivered or counted dropped, and bob is told the count",
  requirements: ["GAIL-10", "GAIL-11", "GAIL-20"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["gail/setup/log-channel"],
  async run(ctx) {
    const comp = component(ctx, "bound");
    const status = () => ctx.alice.control.request("GET", "/control/v1/gail/forwarding").then((a) => expectOk<GailForwardingStatus>(a, "GailForwardingStatus", "GET /control/v1/gail/forwarding", 200));
    const bobUrl = known(ctx, "bob").discovery.endpoint;
    await forward(ctx.alice, { channel: logChannel(ctx), min_level: "info", components: [comp], retention_records: 5, max_batch_records: 1 });
    // Records of earlier checks still queued would blur the count: start from an empty outbox.
    const start = await pollFor(async () => {
      const st = await status();
      return st.outbox_records === 0 ? st : undefined;
    }, waitMs(ctx));
    if (!start) return fail("alice's outbox never drained before the check", 0, (await status()).outbox_records);
    const n = 12;
    let held: GailForwardingStatus;
    try {
      await ctx.alice.control.mapHost(ctx.bob.name, `http://127.0.0.1:${await freePort()}`);
      for (let i = 0; i < n; i++) await emit(ctx.alice, "info", comp, `bound ${i}`);
      held = await status();
    } finally {
      await ctx.alice.control.mapHost(ctx.bob.name, bobUrl);
    }
    // The bound plus the batch in flight (one record here), which is committed to the hub and never dropped.
    ensure(held.outbox_records <= 6, "the outbox holds more than retention_records and the batch in flight", "≤ 6", held.outbox_records);
    const dropped = held.dropped.records - start.dropped.records;
    ensure(held.outbox_records + dropped + (held.forwarded - start.forwarded) === n, "records neither queued, forwarded nor counted dropped", n, { outbox: held.outbox_records, dropped, forwarded: held.forwarded - start.forwarded });
    const drained = await pollFor(async () => ((await status()).outbox_records === 0 ? true : undefined), waitMs(ctx));
    ensure(drained, "alice's outbox never drained once bob was reachable again", 0, (await status()).outbox_records);
    const got = await awaitRecords(ctx, comp, n - dropped);
    ensure(got.length === n - dropped, "bob holds other than the records not dropped", n - dropped, got.length);
    const finalDropped = (await status()).dropped.records;
    const told = await pollFor(async () => {
      const list = expectOk<GailSourceList>(await ctx.bob.control.request("GET", "/control/v1/gail/sources"), "GailSourceList", "GET /control/v1/gail/sources", 200);
      const mine = list.sources.find((x) => x.server === ctx.alice.name);
      return mine?.dropped.records === finalDropped ? true : undefined;
    }, waitMs(ctx));
    ensure(told, "bob's source entry does not report alice's drop count from her newest batch", finalDropped, "another count");
  },
};

/** Queues `n` records while bob is unreachable for alice, kills and restarts alice, and expects each at bob exactly once. */
async function restartWhileQueued(ctx: CheckContext, comp: string, bobUrl: string): Promise<void> {
  await ctx.alice.control.mapHost(ctx.bob.name, `http://127.0.0.1:${await freePort()}`);
  const n = 30;
  for (let i = 0; i < n; i++) await emit(ctx.alice, "info", comp, `restart ${i}`);
  const before = expectOk<GailForwardingStatus>(await ctx.alice.control.request("GET", "/control/v1/gail/forwarding"), "GailForwardingStatus", "GET /control/v1/gail/forwarding", 200);
  ctx.note(`alice's outbox held ${before.outbox_records} records at the kill`);
  await ctx.alice.restart!();
  await ctx.alice.control.mapHost(ctx.bob.name, bobUrl);
  const all = await awaitRecords(ctx, comp, n);
  const status = await pollFor(async () => {
    const s = expectOk<GailForwardingStatus>(await ctx.alice.control.request("GET", "/control/v1/gail/forwarding"), "GailForwardingStatus", "GET /control/v1/gail/forwarding", 200);
    return s.outbox_records === 0 ? s : undefined;
  }, waitMs(ctx));
  ensure(status, "alice's outbox never drained after the restart", 0, "records left");
  const again = await aggregated(ctx.bob, { source: ctx.alice.name, component: comp });
  const msgs = again.map((r) => r.msg);
  ensure(again.length === n && msgs.join("|") === Array.from({ length: n }, (_, i) => `restart ${i}`).join("|"), "records lost or duplicated across the restart", n, msgs.length === n ? msgs : msgs.length);
  ensure(all.length === n, "more records than alice produced", n, all.length);
}

export const gailChecks: Check[] = [setup, filtered, secrets, edges, retention];
export const gailDurabilityChecks: Check[] = [durable];
