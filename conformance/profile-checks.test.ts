// Conformance harness self-test: the Gail and Kathy profile checks (spec §18.2, §18.3) pass against two reference
// instances, and each fails against the same instances with the bug an implementer would make planted.
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { sendRaw } from "../protocol/http-client.ts";
import type { ServerDiscovery } from "../protocol/types.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { Redactor } from "../reference-impl/gail/redaction.ts";
import { dispatcher, start } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";
import { checkById, harnessAgainst, SELF_TEST_TOKEN, type Harness } from "../tests/support/harness-self-test.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";
import { verifyKeyOfDiscovery } from "./checks/support/matchers.ts";
import type { CheckResult } from "./runner.ts";
import { runOne } from "./runner.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

interface Pair {
  h: Harness;
  alice: () => Instance;
  bob: () => Instance;
  /** What a restart does besides stopping and starting (a planted bug: state lost), on the stopped instance's database. */
  onRestart: { alice?: (db: Database.Database) => void; bob?: (db: Database.Database) => void };
}

/** Two reference instances, mapped to each other, as alice and bob of one harness context; restart keeps data and port. */
async function pair(): Promise<Pair> {
  const dir = tempDir("profiles");
  const insts: Record<"alice" | "bob", Instance> = {
    alice: await start("alice.example", `${dir}/alice`, { controlToken: SELF_TEST_TOKEN }),
    bob: await start("bob.example", `${dir}/bob`, { controlToken: SELF_TEST_TOKEN }),
  };
  const targets = {} as Record<"alice" | "bob", { name: string; url: string; key: ReturnType<typeof verifyKeyOfDiscovery> }>;
  for (const role of ["alice", "bob"] as const) {
    const doc = (await sendRaw(dispatcher, `${insts[role].url}/.well-known/smcp/server`, { method: "GET", headers: {}, timeoutMs: 5000 })).body as ServerDiscovery;
    targets[role] = { name: insts[role].serverName, url: insts[role].url, key: verifyKeyOfDiscovery(doc) };
  }
  const h = await harnessAgainst(targets);
  const p: Pair = { h, alice: () => insts.alice, bob: () => insts.bob, onRestart: {} };
  for (const role of ["alice", "bob"] as const) {
    h.ctx[role].restart = async () => {
      const old = insts[role];
      const port = Number(new URL(old.url).port);
      await old.close();
      const planted = p.onRestart[role];
      if (planted) {
        const db = new Database(`${dir}/${role}/smcp.sqlite`);
        planted(db);
        db.close();
      }
      insts[role] = await start(old.serverName, `${dir}/${role}`, { controlToken: SELF_TEST_TOKEN, listenPort: port });
    };
  }
  await h.ctx.alice.control.mapHost("bob.example", insts.bob.url);
  await h.ctx.bob.control.mapHost("alice.example", insts.alice.url);
  closers.push(async () => {
    await h.close();
    await insts.alice.close();
    await insts.bob.close();
    removeDir(dir);
  });
  return p;
}

async function run(p: Pair, ids: string[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const id of ids) out.push(await runOne(checkById(id), p.h.ctx));
  return out;
}

const GAIL = ["gail/setup/log-channel", "gail/forward/filtered-and-paged", "gail/secrets/never-leave", "gail/forward/bounded-and-invalid", "gail/bound/retention-counted", "gail/restart/outbox-kept"];
const KATHY = ["kathy/setup/subscribed", "kathy/apply/opted-in-and-conflict-rule", "kathy/secrets/refused-at-publish", "kathy/restart/applied-kept"];

function expectFails(r: CheckResult, pattern: RegExp): void {
  expect([r.status, r.category]).toEqual(["fail", "requirement"]);
  expect(`${r.details.join(" ")} ${JSON.stringify(r.expected)} ${JSON.stringify(r.actual)}`).toMatch(pattern);
}

type GailPrivate = { apply(c: unknown): void; status(): unknown; configure(c: unknown): unknown };
type KathyPrivate = { opts: { publish(ch: string, t: string, d: Record<string, unknown>): Promise<{ channel: string; event_id: string; seq: number }> } };

describe("Gail and Kathy profile checks against two reference instances", () => {
  declaresProofs(import.meta.url, [...GAIL, ...KATHY]);

  it("pass: every Gail and Kathy check, restarts included", async () => {
    const p = await pair();
    const results = await run(p, [...GAIL, ...KATHY]);
    expect(results.map((r) => [r.id, r.status, r.status === "pass" ? undefined : `${r.details.join(" ")} ${r.expected} ${r.actual}`].filter((x) => x !== undefined))).toEqual([...GAIL, ...KATHY].map((id) => [id, "pass"]));
  }, 120_000);

  it("gail/setup fails when forwarding accepts any channel (no log-channel check)", async () => {
    const p = await pair();
    const g = p.alice().gail as unknown as GailPrivate;
    g.configure = (c) => (g.apply(c), g.status());
    expectFails((await run(p, [GAIL[0]!]))[0]!, /accepted|SMCP_INVALID/);
  }, 60_000);

  it("gail/forward fails when the level filter is ignored", async () => {
    const p = await pair();
    const tap = p.alice().gail!.tap;
    const set = tap.setFilter.bind(tap);
    tap.setFilter = (f) => set(f && { ...f, minLevel: "trace" });
    const [setup, filtered] = await run(p, GAIL.slice(0, 2));
    expect(setup!.status).toBe("pass");
    expectFails(filtered!, /queued/);
  }, 60_000);

  it("gail/secrets fails when records are not redacted", async () => {
    const p = await pair();
    const { text, value } = Redactor.prototype;
    Redactor.prototype.text = (s: string) => s;
    Redactor.prototype.value = (v: unknown) => v;
    try {
      const [setup, , secrets] = await run(p, [GAIL[0]!, GAIL[1]!, GAIL[2]!]);
      expect(setup!.status).toBe("pass");
      expectFails(secrets!, /token reached bob/);
    } finally {
      Object.assign(Redactor.prototype, { text, value });
    }
  }, 60_000);

  it("gail/restart fails when the outbox does not survive the restart", async () => {
    const p = await pair();
    p.onRestart.alice = (db) => void db.prepare("DELETE FROM gail_outbox").run();
    const results = await run(p, [GAIL[0]!, GAIL[5]!]);
    expect(results[0]!.status).toBe("pass");
    expectFails(results[1]!, /never held|lost/);
  }, 90_000);

  it("gail/forward/bounded-and-invalid fails when the aggregator drops an invalid batch without counting it", async () => {
    const p = await pair();
    const store = p.bob().gail!.records as unknown as { takeBatch(e: { data: { records?: unknown[] } }): void };
    const take = store.takeBatch.bind(store);
    store.takeBatch = (e) => (e.data.records?.length === 0 ? undefined : take(e));
    const results = await run(p, [GAIL[0]!, GAIL[3]!]);
    expect(results[0]!.status).toBe("pass");
    expectFails(results[1]!, /invalid batch/);
  }, 60_000);

  it("gail/bound fails when records pushed out by the bound are not counted", async () => {
    const p = await pair();
    const outbox = (p.alice().gail as unknown as { outbox: { add(name: string, n: number): void } }).outbox;
    const add = outbox.add.bind(outbox);
    outbox.add = (name, n) => (name === "dropped_records" ? undefined : add(name, n));
    const results = await run(p, [GAIL[0]!, GAIL[4]!]);
    expect(results[0]!.status).toBe("pass");
    expectFails(results[1]!, /neither queued|drop count|other than/);
  }, 60_000);

  it("kathy/setup fails when a subscription to an unknown channel is accepted", async () => {
    const p = await pair();
    const k = p.bob().kathy!;
    k.subscribe = async (channel, patterns) => (k.store.subscribe(channel, patterns), k.store.subscription(channel)!);
    expectFails((await run(p, [KATHY[0]!]))[0]!, /accepted|SMCP_UNKNOWN_CHANNEL/);
  }, 60_000);

  it("kathy/apply fails when keys are applied whatever the patterns", async () => {
    const p = await pair();
    expect((await run(p, [KATHY[0]!]))[0]!.status).toBe("pass");
    const store = p.bob().kathy!.store;
    const sub = store.subscription.bind(store);
    store.subscription = (c) => { const s = sub(c); return s && { ...s, patterns: ["**"] }; };
    expectFails((await run(p, [KATHY[1]!]))[0]!, /applied configuration|audit/);
  }, 60_000);

  it("kathy/apply fails when the last writer wins (no version rule)", async () => {
    const p = await pair();
    const store = p.bob().kathy!.store;
    store.entry = () => undefined;
    const [setup, apply] = await run(p, KATHY.slice(0, 2));
    expect(setup!.status).toBe("pass");
    expectFails(apply!, /applied configuration|audit/);
  }, 60_000);

  it("kathy/secrets fails when secret entries are published", async () => {
    const p = await pair();
    const k = p.alice().kathy!;
    const inner = (k as unknown as KathyPrivate).opts.publish;
    k.publish = async (b) => {
      const r = await inner(b.channel, b.op === "set" ? "kathy:config.set" : "kathy:config.unset", { key: b.key, value: b.value ?? null, version: b.version ?? 1 });
      return { channel: r.channel, key: b.key, version: b.version ?? 1, event_id: r.event_id, seq: r.seq };
    };
    const [setup, secrets] = await run(p, [KATHY[0]!, KATHY[2]!]);
    expect(setup!.status).toBe("pass");
    expectFails(secrets!, /SMCP_INVALID|accepted/);
  }, 60_000);

  it("kathy/restart fails when the applied configuration is lost in a restart", async () => {
    const p = await pair();
    p.onRestart.bob = (db) => void db.prepare("DELETE FROM kathy_entries").run();
    const results = await run(p, [KATHY[0]!, KATHY[1]!, KATHY[3]!]);
    expect(results.slice(0, 2).map((r) => r.status)).toEqual(["pass", "pass"]);
    expectFails(results[2]!, /after the restart/);
  }, 90_000);
});
