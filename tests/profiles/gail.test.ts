// Gail profile (spec §18.2): two reference instances in-process — bob aggregates alice's logs; filters, paging,
// redaction of alice's real token and key (0 occurrences on bob), and the outbox's retention bound with exact counts.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GailForwardingStatus, GailRecordPage, GailSourceList } from "../../protocol/types.ts";
import type { Instance } from "../../reference-impl/instance.ts";
import { connect, control, enc, start } from "../support/instances.ts";
import { removeDir, tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";

const LOG = "!gail:bob.example";

async function ok<T>(p: Promise<{ status: number; body: unknown }>, status = 200): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as T;
}

async function allRecords(bob: Instance, filter: Record<string, unknown> = {}, limit = 1000): Promise<GailRecordPage["records"]> {
  const out: GailRecordPage["records"] = [];
  let after: number | undefined;
  for (;;) {
    const page = await ok<GailRecordPage>(control(bob, "POST", "/control/v1/gail/records/query", { ...filter, limit, ...(after !== undefined ? { after } : {}) }));
    out.push(...page.records);
    if (page.next === null) return out;
    after = page.next;
  }
}

const emit = (inst: Instance, level: string, component: string, msg: string, fields: Record<string, unknown> = {}) =>
  ok<{ queued: boolean }>(control(inst, "POST", "/control/v1/gail/emit", { level, component, msg, fields }));

describe("Gail: bob aggregates alice's logs", () => {
  let dir: string;
  let alice: Instance;
  let bob: Instance;

  beforeAll(async () => {
    dir = tempDir("gail");
    alice = await start("alice.example", join(dir, "alice"));
    bob = await start("bob.example", join(dir, "bob"));
    await connect(alice, bob);
    await ok(control(bob, "POST", "/control/v1/channels", { name: "gail" }), 201);
    await ok(control(bob, "POST", `/control/v1/channels/${enc(LOG)}/invites`, { server: "alice.example" }));
    await until("alice joined the log channel", async () => ((await control(alice, "GET", `/control/v1/channels/${enc(LOG)}`)).body as { joined?: boolean }).joined);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    removeDir(dir);
  });

  it("lists gail in discovery components", async () => {
    const info = await ok<{ components: string[] }>(control(alice, "GET", "/control/v1/instance"));
    expect(info.components).toContain("gail");
  });

  it("refuses a forwarding channel that is not a joined !gail: channel", async () => {
    const r = await control(alice, "PUT", "/control/v1/gail/forwarding", { channel: "!gail:carol.example" });
    expect([r.status, (r.body as { errcode: string }).errcode]).toEqual([404, "SMCP_UNKNOWN_CHANNEL"]);
    const r2 = await control(alice, "PUT", "/control/v1/gail/forwarding", { channel: "!logs:bob.example" });
    expect([r2.status, (r2.body as { errcode: string }).errcode]).toEqual([400, "SMCP_INVALID"]);
  });

  it("forwards exactly the chosen levels and components, and serves them with filters and paging", async () => {
    await ok(control(alice, "PUT", "/control/v1/gail/forwarding", { channel: LOG, min_level: "warn", components: ["app"], max_batch_records: 7 }));
    let queued = 0;
    for (let i = 0; i < 10; i++) queued += Number((await emit(alice, "info", "app", `info ${i}`)).queued);
    for (let i = 0; i < 20; i++) queued += Number((await emit(alice, i < 5 ? "error" : "warn", "app", `kept ${i} %_`, { i })).queued);
    for (let i = 0; i < 5; i++) queued += Number((await emit(alice, "error", "other", `other ${i}`)).queued);
    expect(queued).toBe(20);
    await until("20 records at bob", async () => (await allRecords(bob, { source: "alice.example" })).length === 20);
    const all = await allRecords(bob, { source: "alice.example" }, 7);
    expect(all.map((r) => r.msg)).toEqual(Array.from({ length: 20 }, (_, i) => `kept ${i} %_`));
    expect(new Set(all.map((r) => r.id)).size).toBe(20);
    expect((await allRecords(bob, { min_level: "error" })).length).toBe(5);
    expect((await allRecords(bob, { text: "kept 1" })).map((r) => r.msg)).toEqual(["kept 1 %_", ...Array.from({ length: 10 }, (_, i) => `kept 1${i} %_`)]);
    expect((await allRecords(bob, { text: "%_" })).length).toBe(20);
    expect((await allRecords(bob, { component: "other" })).length).toBe(0);
    const mid = all[9]!.ts;
    expect((await allRecords(bob, { since: mid, until: mid })).every((r) => r.ts === mid)).toBe(true);
    // Each batch carried at most 7 records: 20 records are at least 3 events.
    const seqs = new Set(all.map((r) => r.seq));
    expect(seqs.size).toBeGreaterThanOrEqual(3);
    const status = await ok<GailForwardingStatus>(control(alice, "GET", "/control/v1/gail/forwarding"));
    expect(status).toMatchObject({ enabled: true, outbox_records: 0, forwarded: 20, dropped: { records: 0, bytes: 0, age: 0 } });
  });

  it("never lets alice's control token, key seed or credentials reach bob", async () => {
    const seed = readFileSync(join(dir, "alice", "ed25519.key"), "utf8").trim().replace(/^ed25519-seed:/, "");
    const token = alice.controlToken;
    const hex = Buffer.from(seed, "base64url").toString("hex");
    await ok(control(alice, "PUT", "/control/v1/gail/forwarding", { channel: LOG, min_level: "info", secret_fields: ["db_pass"] }));
    await emit(alice, "warn", "app", `token is ${token} and seed ${seed}`, {
      authorization: `Bearer ${token}`, "X-SMCP-Authorization": "SMCP-Ed25519 origin=alice.example sig=abc", db_pass: "hunter2-hunter2",
      nested: { deeper: [`hex ${hex}`, { Control_Token: "x" }] }, header: `Bearer ${token}`, keyfile: `ed25519-seed:${seed}`,
    });
    await until("the secret-bearing record at bob", async () => (await allRecords(bob, { text: "token is" })).length === 1);
    const [r] = await allRecords(bob, { text: "token is" });
    expect(r!.msg).toBe("token is [REDACTED] and seed [REDACTED]");
    expect(r!.fields).toMatchObject({ authorization: "[REDACTED]", "X-SMCP-Authorization": "[REDACTED]", db_pass: "[REDACTED]", header: "Bearer [REDACTED]", keyfile: "ed25519-seed:[REDACTED]" });
    expect(JSON.stringify(r!.fields)).not.toContain("hunter2");
    // Every byte bob stored: database, WAL and logs.
    const files = readdirSync(join(dir, "bob"), { recursive: true, encoding: "utf8" }).map((f) => join(dir, "bob", f));
    let occurrences = 0;
    for (const f of files) {
      let bytes: Buffer;
      try { bytes = readFileSync(f); } catch { continue; }
      for (const secret of [token, seed, hex, "hunter2-hunter2"]) occurrences += bytes.toString("latin1").split(secret).length - 1;
    }
    expect(occurrences).toBe(0);
  });
});

describe("Gail: the outbox's retention bound", () => {
  let dir: string;
  let alice: Instance;
  let bob: Instance;

  beforeAll(async () => {
    dir = tempDir("gail-bound");
    alice = await start("alice.example", join(dir, "alice"));
    bob = await start("bob.example", join(dir, "bob"));
    await connect(alice, bob);
    await ok(control(bob, "POST", "/control/v1/channels", { name: "gail" }), 201);
    await ok(control(bob, "POST", `/control/v1/channels/${enc(LOG)}/invites`, { server: "alice.example" }));
    await until("alice joined", async () => ((await control(alice, "GET", `/control/v1/channels/${enc(LOG)}`)).body as { joined?: boolean }).joined);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    removeDir(dir);
  });

  it("keeps at most retention_records while the hub is away, counts every drop, and reports them to the aggregator", async () => {
    // The hub is unreachable: alice's host map points at a closed port.
    await ok(control(alice, "PUT", "/control/v1/hosts/bob.example", { base_url: "http://127.0.0.1:9" }), 204);
    await ok(control(alice, "PUT", "/control/v1/gail/forwarding", { channel: LOG, min_level: "info", components: ["app"], retention_records: 10 }));
    for (let i = 0; i < 25; i++) await emit(alice, "info", "app", `r${i}`);
    // Back-pressure (GAIL-13): one batch handed to Naomi's queue, the rest wait in the outbox — no stacking.
    expect(alice.store.queuedSubmissionCount("bob.example")).toBe(1);
    const held = await ok<GailForwardingStatus>(control(alice, "GET", "/control/v1/gail/forwarding"));
    expect(held.outbox_records).toBeLessThanOrEqual(10);
    expect(held.outbox_records + held.dropped.records + held.forwarded).toBe(25);
    await ok(control(alice, "PUT", "/control/v1/hosts/bob.example", { base_url: bob.url }), 204);
    await until("the outbox drained", async () => (await ok<GailForwardingStatus>(control(alice, "GET", "/control/v1/gail/forwarding"))).outbox_records === 0, 20_000);
    const status = await ok<GailForwardingStatus>(control(alice, "GET", "/control/v1/gail/forwarding"));
    const records = await allRecords(bob, { source: "alice.example" });
    // Delivered = produced within retention, dropped = the rest, counted: the first record was handed to Naomi's
    // durable queue before the outage showed, then the outbox kept the newest 10 of the 24 that followed.
    expect(status.dropped.records).toBe(14);
    expect(records.length).toBe(25 - status.dropped.records);
    expect(records.map((r) => r.msg)).toEqual(["r0", ...Array.from({ length: 10 }, (_, i) => `r${15 + i}`)]);
    expect(status.forwarded).toBe(11);
    const sources = await ok<GailSourceList>(control(bob, "GET", "/control/v1/gail/sources"));
    expect(sources.sources.find((s) => s.server === "alice.example")?.dropped.records).toBe(status.dropped.records);
  }, 30_000);
});
