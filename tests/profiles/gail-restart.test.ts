// Gail profile (spec §18.2 GAIL-11, GAIL-15): `smcp serve` processes killed with SIGKILL — every record produced
// within retention reaches the aggregator exactly once across the kill, whether it was queued or mid-send.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GailForwardingStatus, GailRecordPage } from "../../protocol/types.ts";
import { freePort, InstanceProcess } from "../support/process.ts";
import { removeDir, tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";

const LOG = "!gail:bob.example";
const enc = encodeURIComponent;

async function ok<T>(p: Promise<{ status: number; body: unknown }>, status = 200): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as T;
}

async function records(bob: InstanceProcess): Promise<GailRecordPage["records"]> {
  const out: GailRecordPage["records"] = [];
  let after: number | undefined;
  for (;;) {
    const page = await ok<GailRecordPage>(bob.control("POST", "/control/v1/gail/records/query", { source: "alice.example", limit: 1000, ...(after !== undefined ? { after } : {}) }));
    out.push(...page.records);
    if (page.next === null) return out;
    after = page.next;
  }
}

describe("Gail across SIGKILL", () => {
  let dir: string;
  let alice: InstanceProcess;
  let bob: InstanceProcess;

  beforeAll(async () => {
    dir = tempDir("gail-kill");
    const [pa, pb] = [await freePort(), await freePort()];
    mkdirSync(join(dir, "alice"));
    mkdirSync(join(dir, "bob"));
    const peers = { "alice.example": `http://127.0.0.1:${pa}`, "bob.example": `http://127.0.0.1:${pb}` };
    alice = await InstanceProcess.start({ name: "alice.example", port: pa, dataDir: join(dir, "alice"), peers });
    bob = await InstanceProcess.start({ name: "bob.example", port: pb, dataDir: join(dir, "bob"), peers });
    await ok(bob.control("POST", "/control/v1/channels", { name: "gail" }), 201);
    await ok(bob.control("POST", `/control/v1/channels/${enc(LOG)}/invites`, { server: "alice.example" }));
    await until("alice joined", async () => ((await alice.control("GET", `/control/v1/channels/${enc(LOG)}`)).body as { joined?: boolean }).joined);
    await ok(alice.control("PUT", "/control/v1/gail/forwarding", { channel: LOG, min_level: "info", components: ["app"], max_batch_records: 5 }));
  }, 60_000);
  afterAll(async () => {
    await alice?.stop();
    await bob?.stop();
    removeDir(dir);
  });

  it("delivers every record queued while the aggregator was down, after the forwarder was killed and restarted", async () => {
    await bob.kill9();
    for (let i = 0; i < 40; i++) await ok(alice.control("POST", "/control/v1/gail/emit", { level: "info", component: "app", msg: `down ${i}` }));
    await alice.restart();
    await bob.restart();
    await until("40 records at bob", async () => (await records(bob)).length >= 40, 30_000);
    const got = await records(bob);
    expect(got.map((r) => r.msg)).toEqual(Array.from({ length: 40 }, (_, i) => `down ${i}`));
    const status = await ok<GailForwardingStatus>(alice.control("GET", "/control/v1/gail/forwarding"));
    expect(status).toMatchObject({ enabled: true, outbox_records: 0, dropped: { records: 0, bytes: 0, age: 0 } });
  }, 60_000);

  it("delivers every record exactly once when the forwarder is killed mid-send", async () => {
    const before = (await records(bob)).length;
    for (let i = 0; i < 150; i++) await ok(alice.control("POST", "/control/v1/gail/emit", { level: "info", component: "app", msg: `burst ${i}` }));
    await alice.kill9();
    await alice.restart();
    await until("150 more records at bob", async () => (await records(bob)).length >= before + 150, 30_000);
    await until("alice's outbox drained", async () => (await ok<GailForwardingStatus>(alice.control("GET", "/control/v1/gail/forwarding"))).outbox_records === 0, 30_000);
    const got = (await records(bob)).slice(before);
    expect(got.map((r) => r.msg)).toEqual(Array.from({ length: 150 }, (_, i) => `burst ${i}`));
    expect(new Set(got.map((r) => r.id)).size).toBe(150);
  }, 60_000);
});
