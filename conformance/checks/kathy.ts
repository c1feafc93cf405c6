// Conformance harness: the Kathy profile (spec §18.3) — alice publishes configuration to a channel she hubs, bob
// applies only the keys he opted into; driven only through both instances' Control APIs.
import type { InstanceInfo, KathyAuditList, KathyConfigList, KathyPublishResult, KathySubscriptionList } from "../../protocol/types.ts";
import { ensure, expectError, expectOk, fail } from "../assert.ts";
import type { Check, CheckContext, Target } from "../context.ts";
import { pollFor } from "./support/poll.ts";
import { expectSameJson } from "./support/json-value.ts";

const PROFILE = "kathy" as const;
const PEERS = ["sc/discovery/alice-finds-bob", "sc/discovery/bob-finds-alice"];
const configChannel = (ctx: CheckContext) => `!kathy-${ctx.runId.toLowerCase().replace(/[^a-z0-9]/g, "")}:${ctx.alice.name}`;
const enc = encodeURIComponent;
const waitMs = (ctx: CheckContext) => ctx.options.deliveryTimeoutMs + 8_000;

function publish(ctx: CheckContext, body: Record<string, unknown>) {
  return ctx.alice.control.request("POST", "/control/v1/kathy/publish", { channel: configChannel(ctx), ...body });
}

async function published(ctx: CheckContext, body: Record<string, unknown>): Promise<KathyPublishResult> {
  return expectOk<KathyPublishResult>(await publish(ctx, body), "KathyPublishResult", `publish ${JSON.stringify(body)}`, 200);
}

async function auditOf(t: Target, channel: string): Promise<KathyAuditList["records"]> {
  const out: KathyAuditList["records"] = [];
  let after = 0;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = expectOk<KathyAuditList>(await t.control.request("GET", `/control/v1/kathy/audit?after=${after}&limit=3`), "KathyAuditList", "GET /control/v1/kathy/audit", 200);
    ensure(page.records.length <= 3, "an audit page holds more than its limit", "≤ 3", page.records.length);
    out.push(...page.records.filter((r) => r.channel === channel));
    if (page.next === null) return out;
    after = page.next;
  }
  return fail("the audit pages never ended");
}

async function configOf(t: Target, channel: string): Promise<KathyConfigList["entries"]> {
  return expectOk<KathyConfigList>(await t.control.request("GET", "/control/v1/kathy/config"), "KathyConfigList", "GET /control/v1/kathy/config", 200).entries.filter((e) => e.channel === channel);
}

/** Waits until bob has evaluated the channel up to `seq`. */
async function evaluatedUpTo(ctx: CheckContext, seq: number): Promise<void> {
  const done = await pollFor(async () => {
    const list = expectOk<KathySubscriptionList>(await ctx.bob.control.request("GET", "/control/v1/kathy/subscriptions"), "KathySubscriptionList", "GET /control/v1/kathy/subscriptions", 200);
    return (list.subscriptions.find((s) => s.channel === configChannel(ctx))?.evaluated_seq ?? 0) >= seq;
  }, waitMs(ctx));
  ensure(done, "bob never evaluated the configuration channel up to the last publish", seq, "less");
}

const setup: Check = {
  id: "kathy/setup/subscribed",
  name: "both instances list kathy; alice hubs a configuration channel with bob as member; bob opts into conf.* and flag.**",
  requirements: ["KATHY-01", "KATHY-02", "KATHY-04"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: PEERS,
  async run(ctx) {
    for (const t of [ctx.alice, ctx.bob]) {
      const info = expectOk<InstanceInfo>(await t.control.request("GET", "/control/v1/instance"), "InstanceInfo", "GET /control/v1/instance", 200);
      ensure(info.components.includes("kathy"), `${t.role} does not list kathy in its components`, "components ∋ kathy", info.components);
    }
    const ch = configChannel(ctx);
    expectError(await ctx.bob.control.request("PUT", `/control/v1/kathy/subscriptions/${enc(ch)}`, { patterns: ["conf.*"] }), "SMCP_UNKNOWN_CHANNEL", "subscribing to a channel bob does not hold");
    expectOk(await ctx.alice.control.request("POST", "/control/v1/channels", { name: ch.slice(1, ch.indexOf(":")) }), "ChannelInfo", "alice creates the configuration channel", 201);
    const invite = expectOk<{ accepted: boolean }>(await ctx.alice.control.request("POST", `/control/v1/channels/${enc(ch)}/invites`, { server: ctx.bob.name }), "InviteOutcome", "alice invites bob", 200);
    ensure(invite.accepted, "bob declined the invite", true, invite.accepted);
    const joined = await pollFor(async () => {
      const a = await ctx.bob.control.request("GET", `/control/v1/channels/${enc(ch)}`);
      return a.status === 200 && (a.body as { joined: boolean }).joined;
    }, waitMs(ctx));
    ensure(joined, "bob never joined the configuration channel", true, false);
    const sub = expectOk<{ patterns: string[] }>(await ctx.bob.control.request("PUT", `/control/v1/kathy/subscriptions/${enc(ch)}`, { patterns: ["conf.*", "flag.**"] }), "KathySubscriptionInfo", "bob subscribes", 200);
    expectSameJson(sub.patterns, ["conf.*", "flag.**"], "the subscription's patterns");
  },
};

const STEPS: Array<{ body: Record<string, unknown>; version: number; outcome: string; reason?: string }> = [
  { body: { op: "set", key: "conf.mode", value: "a", version: 1 }, version: 1, outcome: "applied" },
  { body: { op: "set", key: "conf.mode", value: "c", version: 3 }, version: 3, outcome: "applied" },
  { body: { op: "set", key: "conf.mode", value: "b", version: 2 }, version: 2, outcome: "ignored", reason: "stale_version" },
  { body: { op: "set", key: "other.mode", value: "x" }, version: 1, outcome: "ignored", reason: "not_subscribed" },
  { body: { op: "set", key: "conf.tie", value: "first", version: 1 }, version: 1, outcome: "applied" },
  { body: { op: "set", key: "conf.tie", value: "second", version: 1 }, version: 1, outcome: "applied" },
  { body: { op: "set", key: "flag.search.on", value: true }, version: 1, outcome: "applied" },
  { body: { op: "unset", key: "flag.search.on" }, version: 2, outcome: "applied" },
  { body: { op: "set", key: "flag.search.on", value: false, version: 1 }, version: 1, outcome: "ignored", reason: "stale_version" },
  { body: { op: "set", key: "conf.deep.key", value: 1 }, version: 1, outcome: "ignored", reason: "not_subscribed" },
];

const apply: Check = {
  id: "kathy/apply/opted-in-and-conflict-rule",
  name: "bob applies only opted-in keys (0 others), highest version per key, ties to the later seq, unset as a tombstone, and audits every event",
  requirements: ["KATHY-03", "KATHY-05", "KATHY-06", "KATHY-07", "KATHY-08", "KATHY-12", "KATHY-13"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["kathy/setup/subscribed"],
  async run(ctx) {
    const results: KathyPublishResult[] = [];
    for (const s of STEPS) results.push(await published(ctx, s.body));
    ensure(results.map((r) => r.version).join() === STEPS.map((s) => s.version).join(), "published versions differ (absent version: one more than the highest seen)", STEPS.map((s) => s.version), results.map((r) => r.version));
    await evaluatedUpTo(ctx, results.at(-1)!.seq);
    const ch = configChannel(ctx);
    const config = (await configOf(ctx.bob, ch)).map((e) => [e.key, e.value, e.version, e.sender]);
    expectSameJson(config, [["conf.mode", "c", 3, ctx.alice.name], ["conf.tie", "second", 1, ctx.alice.name]], "bob's applied configuration");
    const audit = await auditOf(ctx.bob, ch);
    const got = audit.map((r) => [r.seq, r.event_id, r.sender, r.key, r.version, r.outcome, r.reason ?? null]);
    const want = STEPS.map((s, i) => [results[i]!.seq, results[i]!.event_id, ctx.alice.name, s.body.key, s.version, s.outcome, s.reason ?? null]);
    expectSameJson(got, want, "bob's audit trail");
  },
};

const secrets: Check = {
  id: "kathy/secrets/refused-at-publish",
  name: "alice refuses secret entries (marked, credential key, her own token in the value) with 400 SMCP_INVALID, publishing nothing; bob never applies one that arrives anyway",
  requirements: ["KATHY-09", "KATHY-10", "KATHY-11"],
  level: "MUST",
  profile: PROFILE,
  prerequisites: ["kathy/setup/subscribed"],
  async run(ctx) {
    const ch = configChannel(ctx);
    const seqOf = async () => expectOk<{ local_seq: number }>(await ctx.alice.control.request("GET", `/control/v1/channels/${enc(ch)}`), "ChannelInfo", "the configuration channel", 200).local_seq;
    const before = await seqOf();
    const token = ctx.alice.token;
    const cases = [
      { op: "set", key: "conf.plain", value: "x", secret: true },
      { op: "set", key: "conf.password", value: "hunter2" },
      { op: "set", key: "conf.api_key", value: "k-123" },
      { op: "set", key: "conf.note", value: `token ${token}` },
      { op: "set", key: "conf.client", value: { url: "https://x.example", client_secret: "s" } },
      { op: "set", key: "conf.nothing" },
    ];
    for (const c of cases) {
      const err = expectError(await publish(ctx, c), "SMCP_INVALID", `publishing ${JSON.stringify({ ...c, value: c.value === undefined ? undefined : "…" })}`);
      if (c.value !== undefined) ensure(/secret/i.test(err.error), "the refusal does not say the entry is secret", "an error naming the secret", err.error);
    }
    const after = await seqOf();
    ensure(after === before, "a refused entry was published", before, after);
    // A non-conforming publisher's secret entry, sent as a plain event (CTRL-18): bob must not apply it (KATHY-11).
    const raw = expectOk<{ seq: number }>(await ctx.alice.control.request("POST", `/control/v1/channels/${enc(ch)}/events`, { type: "kathy:config.set", data: { key: "conf.password", value: "hunter2", version: 1 } }), "PublishResult", "a raw secret entry", 200);
    await evaluatedUpTo(ctx, raw.seq);
    const audit = (await auditOf(ctx.bob, ch)).find((r) => r.seq === raw.seq);
    ensure(audit?.outcome === "ignored" && audit.reason === "secret", "bob did not ignore a secret entry as secret", { outcome: "ignored", reason: "secret" }, audit);
    const bobSide = JSON.stringify(await configOf(ctx.bob, ch)) + JSON.stringify(await auditOf(ctx.bob, ch));
    ensure(!bobSide.includes(token) && !bobSide.includes("hunter2"), "a secret reached bob's configuration or audit", 0, "occurrences");
  },
};

const durable: Check = {
  id: "kathy/restart/applied-kept",
  name: "bob's applied configuration and audit trail survive his kill and restart, and he applies the next change",
  requirements: ["KATHY-08"],
  level: "MUST",
  profile: PROFILE,
  restarts: ["bob"],
  prerequisites: ["kathy/apply/opted-in-and-conflict-rule"],
  async run(ctx) {
    const ch = configChannel(ctx);
    const config = await configOf(ctx.bob, ch);
    const audit = await auditOf(ctx.bob, ch);
    await ctx.bob.restart!();
    expectSameJson(await configOf(ctx.bob, ch), config, "bob's applied configuration after the restart");
    expectSameJson(await auditOf(ctx.bob, ch), audit, "bob's audit trail after the restart");
    const r = await published(ctx, { op: "set", key: "conf.mode", value: "d" });
    ensure(r.version === 4, "the next version of conf.mode is not 4", 4, r.version);
    await evaluatedUpTo(ctx, r.seq);
    const mode = (await configOf(ctx.bob, ch)).find((e) => e.key === "conf.mode");
    ensure(mode?.value === "d" && mode.version === 4, "bob did not apply the change published after his restart", { value: "d", version: 4 }, mode);
  },
};

export const kathyChecks: Check[] = [setup, apply, secrets];
export const kathyDurabilityChecks: Check[] = [durable];
