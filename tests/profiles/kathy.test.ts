// Kathy profile (spec §18.3): alice publishes configuration to a channel, bob applies only the keys he opted into —
// conflict rule, secrets refused at publish (0 occurrences at bob), audit trail, state across a restart, with exact counts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KathyAuditList, KathyConfigList, KathyPublishResult } from "../../protocol/types.ts";
import type { Instance } from "../../reference-impl/instance.ts";
import { connect, control, enc, start } from "../support/instances.ts";
import { removeDir, tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";

const CH = "!kathy:alice.example";

async function ok<T>(p: Promise<{ status: number; body: unknown }>, status = 200): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as T;
}

describe("Kathy: alice shares configuration, bob applies what he opted into", () => {
  let dir: string;
  let alice: Instance;
  let bob: Instance;
  const pub = (body: Record<string, unknown>) => control(alice, "POST", "/control/v1/kathy/publish", { channel: CH, ...body });

  beforeAll(async () => {
    dir = tempDir("kathy");
    alice = await start("alice.example", join(dir, "alice"));
    bob = await start("bob.example", join(dir, "bob"));
    await connect(alice, bob);
    await ok(control(alice, "POST", "/control/v1/channels", { name: "kathy" }), 201);
    await ok(control(alice, "POST", `/control/v1/channels/${enc(CH)}/invites`, { server: "bob.example" }));
    await until("bob joined", async () => ((await control(bob, "GET", `/control/v1/channels/${enc(CH)}`)).body as { joined?: boolean }).joined);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    removeDir(dir);
  });

  it("lists kathy in discovery components and refuses a subscription to a channel it does not hold", async () => {
    expect((await ok<{ components: string[] }>(control(bob, "GET", "/control/v1/instance"))).components).toContain("kathy");
    const r = await control(bob, "PUT", `/control/v1/kathy/subscriptions/${enc("!nope:alice.example")}`, { patterns: ["ui.*"] });
    expect([r.status, (r.body as { errcode: string }).errcode]).toEqual([404, "SMCP_UNKNOWN_CHANNEL"]);
  });

  it("refuses secrets at publish with a clear error, publishing nothing", async () => {
    const before = (await ok<{ local_seq: number }>(control(alice, "GET", `/control/v1/channels/${enc(CH)}`))).local_seq;
    const cases = [
      { op: "set", key: "db.url", value: "x", secret: true },
      { op: "set", key: "db.password", value: "hunter2" },
      { op: "set", key: "smtp.api_key", value: "k" },
      { op: "set", key: "ops.note", value: `token ${alice.controlToken}` },
      { op: "set", key: "ops.client", value: { url: "https://x", client_secret: "s" } },
      { op: "set", key: "ops.header", value: "Bearer abcdefghijklmnop" },
    ];
    for (const c of cases) {
      const r = await pub(c);
      expect([r.status, (r.body as { errcode: string }).errcode], JSON.stringify(c)).toEqual([400, "SMCP_INVALID"]);
      expect((r.body as { error: string }).error).toMatch(/secret/);
    }
    const after = (await ok<{ local_seq: number }>(control(alice, "GET", `/control/v1/channels/${enc(CH)}`))).local_seq;
    expect(after).toBe(before);
  });

  it("applies only opted-in keys, highest version wins, ties go to the later seq, stale versions audited", async () => {
    await ok(control(bob, "PUT", `/control/v1/kathy/subscriptions/${enc(CH)}`, { patterns: ["ui.*", "feature.**"] }));
    const steps: Array<Record<string, unknown>> = [
      { op: "set", key: "ui.theme", value: "dark", version: 1 },
      { op: "set", key: "ui.theme", value: "light", version: 3 },
      { op: "set", key: "ui.theme", value: "blue", version: 2 },
      { op: "set", key: "db.url", value: "postgres://db" },
      { op: "set", key: "ui.lang", value: "en", version: 1 },
      { op: "set", key: "ui.lang", value: "fr", version: 1 },
      { op: "set", key: "feature.x.enabled", value: true },
      { op: "unset", key: "feature.x.enabled" },
      { op: "set", key: "ui.deep.key", value: 1 },
    ];
    const results: KathyPublishResult[] = [];
    for (const s of steps) results.push(await ok<KathyPublishResult>(pub(s)));
    expect(results.map((r) => r.version)).toEqual([1, 3, 2, 1, 1, 1, 1, 2, 1]);
    const last = results.at(-1)!.seq;
    await until("bob evaluated every event", async () => ((await ok<{ subscriptions: Array<{ evaluated_seq: number }> }>(control(bob, "GET", "/control/v1/kathy/subscriptions"))).subscriptions[0]?.evaluated_seq ?? 0) >= last);
    const config = await ok<KathyConfigList>(control(bob, "GET", "/control/v1/kathy/config"));
    expect(config.entries.map((e) => [e.key, e.value, e.version, e.sender])).toEqual([["ui.lang", "fr", 1, "alice.example"], ["ui.theme", "light", 3, "alice.example"]]);
    expect(config.entries.filter((e) => !/^ui\.[^.]+$|^feature\./.test(e.key)).length).toBe(0);
    const audit = await ok<KathyAuditList>(control(bob, "GET", "/control/v1/kathy/audit?limit=1000"));
    expect(audit.records.map((r) => [r.key, r.version, r.outcome, r.reason ?? null])).toEqual([
      ["ui.theme", 1, "applied", null], ["ui.theme", 3, "applied", null], ["ui.theme", 2, "ignored", "stale_version"],
      ["db.url", 1, "ignored", "not_subscribed"], ["ui.lang", 1, "applied", null], ["ui.lang", 1, "applied", null],
      ["feature.x.enabled", 1, "applied", null], ["feature.x.enabled", 2, "applied", null], ["ui.deep.key", 1, "ignored", "not_subscribed"],
    ]);
    expect(audit.records.map((r) => r.seq)).toEqual(results.map((r) => r.seq));
    expect(new Set(audit.records.map((r) => r.sender))).toEqual(new Set(["alice.example"]));
  });

  it("pages the audit trail and keeps it, and the applied config, across a restart", async () => {
    const p1 = await ok<KathyAuditList>(control(bob, "GET", "/control/v1/kathy/audit?limit=4"));
    const p2 = await ok<KathyAuditList>(control(bob, "GET", `/control/v1/kathy/audit?limit=4&after=${p1.next}`));
    const p3 = await ok<KathyAuditList>(control(bob, "GET", `/control/v1/kathy/audit?limit=4&after=${p2.next}`));
    expect([p1.records.length, p2.records.length, p3.records.length, p3.next]).toEqual([4, 4, 1, null]);
    const before = await ok<KathyConfigList>(control(bob, "GET", "/control/v1/kathy/config"));
    await bob.close();
    bob = await start("bob.example", join(dir, "bob"));
    await connect(alice, bob);
    expect(await ok<KathyConfigList>(control(bob, "GET", "/control/v1/kathy/config"))).toEqual(before);
    const r = await ok<KathyPublishResult>(pub({ op: "set", key: "ui.theme", value: "sepia" }));
    expect(r.version).toBe(4);
    await until("bob applied ui.theme v4", async () => (await ok<KathyConfigList>(control(bob, "GET", "/control/v1/kathy/config"))).entries.find((e) => e.key === "ui.theme")?.version === 4, 15_000);
    expect((await ok<KathyAuditList>(control(bob, "GET", "/control/v1/kathy/audit?limit=1000"))).records.length).toBe(10);
  }, 30_000);

  it("re-evaluates the channel under new patterns", async () => {
    await ok(control(bob, "PUT", `/control/v1/kathy/subscriptions/${enc(CH)}`, { patterns: ["db.*"] }));
    await until("db.url applied", async () => (await ok<KathyConfigList>(control(bob, "GET", "/control/v1/kathy/config"))).entries.map((e) => e.key).join() === "db.url");
  });

  it("never stores alice's secrets at bob", async () => {
    const seed = readFileSync(join(dir, "alice", "ed25519.key"), "utf8").trim().replace(/^ed25519-seed:/, "");
    let occurrences = 0;
    for (const f of readdirSync(join(dir, "bob"), { recursive: true, encoding: "utf8" })) {
      let bytes: string;
      try { bytes = readFileSync(join(dir, "bob", f)).toString("latin1"); } catch { continue; }
      for (const secret of [alice.controlToken, seed, "hunter2"]) occurrences += bytes.split(secret).length - 1;
    }
    expect(occurrences).toBe(0);
  });
});
