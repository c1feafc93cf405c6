// Roshumba tests: incoming calls (authorization, targets, idempotency, at-most-once) and outgoing calls through a fake sender (spec §10).
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SmcpError } from "../../protocol/errors.ts";
import { validate } from "../../protocol/schemas.ts";
import type { RemoteCall, RemoteCallResult } from "../../protocol/types.ts";
import { ComponentHost } from "../components/host.ts";
import { openDatabase } from "../storage/db.ts";
import { errorOf, fixtureConfig, quietLogger } from "../../tests/support/components.ts";
import { tempDir } from "../../tests/support/temp-dir.ts";
import { until } from "../../tests/support/until.ts";
import { Roshumba } from "./router.ts";
import { CallStore } from "./store.ts";
import { FakeSender } from "../../tests/support/fake-sender.ts";

const SELF = "b.example";
const PEER = "a.example";
const STRANGER = "evil.example";

let host: ComponentHost;
let dir: string;

beforeAll(async () => {
  dir = tempDir("roshumba");
  host = await ComponentHost.start({ dataDir: dir, components: [fixtureConfig()], logger: quietLogger });
});
afterAll(async () => {
  await host.close();
});

function openDb(file = ":memory:"): Database.Database {
  return openDatabase(file);
}

function router(db = openDb(), sender = new FakeSender()): Roshumba {
  return new Roshumba({ self: SELF, db, components: host, federation: sender, mayCall: (o) => o === PEER, logger: quietLogger });
}

let seq = 0;
function uniqueTitle(): string {
  return `task ${++seq} ${Date.now()}`;
}

function createCall(callId: string, title: string, extra: Partial<RemoteCall> = {}): RemoteCall {
  return { origin: PEER, call_id: callId, target: `smcp://${SELF}/vikunja`, tool: "create_task", params: { title } as never, ...extra };
}

function fixtureCall(callId: string, tool: string, params: Record<string, unknown>, extra: Partial<RemoteCall> = {}): RemoteCall {
  return { origin: PEER, call_id: callId, target: `smcp://${SELF}/fixture`, tool, params: params as never, ...extra };
}

/** Real executions of create_task: how many vikunja tasks carry this title. */
async function tasksTitled(title: string): Promise<number> {
  const res = await host.callTool("vikunja", "list_tasks", {}, 5000);
  return (res.structuredContent as unknown as { tasks: { title: string }[] }).tasks.filter((t) => t.title === title).length;
}

/** Real executions of the fixture's `sleep` tool so far (its per-process counter, read by one more execution). */
async function sleepCallsSoFar(): Promise<number> {
  const res = await host.callTool("fixture", "sleep", { ms: 0 }, 5000);
  return (res.structuredContent as unknown as { calls: number }).calls - 1;
}

describe("Roshumba incoming calls (spec §10)", () => {
  it("ROSHUMBA: runs the tool and answers a schema-valid RemoteCallResult (spec §10.2)", async () => {
    const title = uniqueTitle();
    const res = await router().handleIncoming(PEER, createCall("c-1", title), "sha-1");
    expect(validate("RemoteCallResult", res)).toEqual([]);
    expect(res).toMatchObject({ call_id: "c-1", target: `smcp://${SELF}/vikunja`, tool: "create_task" });
    expect(res.result.structuredContent).toMatchObject({ task: { title, done: false } });
    expect(await tasksTitled(title)).toBe(1);
  });

  it("ROSHUMBA: a repeated call_id returns the stored result without running the tool again (spec §10.3)", async () => {
    const r = router();
    const title = uniqueTitle();
    const first = await r.handleIncoming(PEER, createCall("dup", title), "sha-dup");
    const second = await r.handleIncoming(PEER, createCall("dup", title), "sha-dup");
    expect(second).toEqual(first);
    expect(await tasksTitled(title)).toBe(1);
  });

  it("ROSHUMBA: stored results are durable — a restarted instance on the same database replays them (spec §10.3)", async () => {
    const file = join(dir, `calls-${Date.now()}.sqlite`);
    const title = uniqueTitle();
    const db1 = openDb(file);
    const first = await router(db1).handleIncoming(PEER, createCall("durable", title), "sha-d");
    db1.close();
    const replayed = await router(openDb(file)).handleIncoming(PEER, createCall("durable", title), "sha-d");
    expect(replayed).toEqual(first);
    expect(await tasksTitled(title)).toBe(1);
  });

  it("ROSHUMBA: the same call_id with other body bytes → 409 SMCP_CONFLICT, stored or in flight (spec §10.3)", async () => {
    const r = router();
    const title = uniqueTitle();
    await r.handleIncoming(PEER, createCall("conf", title), "sha-a");
    const other = uniqueTitle();
    const err = await errorOf(r.handleIncoming(PEER, createCall("conf", other), "sha-b"));
    expect([err.errcode, err.status]).toEqual(["SMCP_CONFLICT", 409]);
    expect(await tasksTitled(other)).toBe(0);
    // In flight: the first is still sleeping when the conflicting one arrives.
    const slow = r.handleIncoming(PEER, fixtureCall("conf-flight", "sleep", { ms: 300 }), "sha-s1");
    expect((await errorOf(r.handleIncoming(PEER, fixtureCall("conf-flight", "sleep", { ms: 1 }), "sha-s2"))).errcode).toBe("SMCP_CONFLICT");
    await slow;
  });

  it("ROSHUMBA: concurrent duplicates share one execution and one result (spec §10.3)", async () => {
    const r = router();
    const title = uniqueTitle();
    const results = await Promise.all(Array.from({ length: 8 }, () => r.handleIncoming(PEER, createCall("conc", title), "sha-c")));
    for (const res of results) expect(res).toEqual(results[0]);
    expect(await tasksTitled(title)).toBe(1);
    // Also while the tool is visibly running: the fixture counts its sleeps.
    const before = await sleepCallsSoFar();
    const slow = await Promise.all([1, 2, 3].map(() => r.handleIncoming(PEER, fixtureCall("conc-slow", "sleep", { ms: 200 }), "sha-cs")));
    expect(new Set(slow.map((s) => JSON.stringify(s))).size).toBe(1);
    expect(await sleepCallsSoFar()).toBe(before + 2); // the shared sleep + the previous probe
  });

  it("ROSHUMBA: an origin that shares no channel and is not allow-listed → 403 SMCP_FORBIDDEN, tool not run (spec §10.4)", async () => {
    const title = uniqueTitle();
    const err = await errorOf(router().handleIncoming(STRANGER, { ...createCall("f", title), origin: STRANGER }, "sha-f"));
    expect([err.errcode, err.status]).toEqual(["SMCP_FORBIDDEN", 403]);
    expect(await tasksTitled(title)).toBe(0);
  });

  it("ROSHUMBA: target on another server or unknown component → 404 SMCP_UNKNOWN_TARGET; unknown tool → 404 SMCP_UNKNOWN_TOOL (spec §10.2)", async () => {
    const r = router();
    const elsewhere = await errorOf(r.handleIncoming(PEER, createCall("t1", "x", { target: "smcp://c.example/vikunja" }), "s"));
    expect([elsewhere.errcode, elsewhere.status]).toEqual(["SMCP_UNKNOWN_TARGET", 404]);
    const noComponent = await errorOf(r.handleIncoming(PEER, createCall("t2", "x", { target: `smcp://${SELF}/jira` }), "s"));
    expect(noComponent.errcode).toBe("SMCP_UNKNOWN_TARGET");
    const noTool = await errorOf(r.handleIncoming(PEER, createCall("t3", "x", { tool: "delete_everything" }), "s"));
    expect([noTool.errcode, noTool.status]).toEqual(["SMCP_UNKNOWN_TOOL", 404]);
    // Rejected calls never ran, so their call_id stays free.
    const title = uniqueTitle();
    await r.handleIncoming(PEER, createCall("t3", title), "other-sha");
    expect(await tasksTitled(title)).toBe(1);
  });

  it("ROSHUMBA: a tool error is a stored 200 result with isError (spec §10.2)", async () => {
    const r = router();
    const res = await r.handleIncoming(PEER, { ...createCall("miss", ""), tool: "complete_task", params: { id: 999999 } as never }, "sha-m");
    expect(res.result.isError).toBe(true);
    expect(await r.handleIncoming(PEER, { ...createCall("miss", ""), tool: "complete_task", params: { id: 999999 } as never }, "sha-m")).toEqual(res);
  });

  it("ROSHUMBA: a timed-out call → 504 SMCP_CALL_TIMEOUT; its call_id is spent, a retry answers 504 without running (spec §10.3)", async () => {
    const r = router();
    const before = await sleepCallsSoFar();
    const call = fixtureCall("slow", "sleep", { ms: 5000 }, { timeout_ms: 100 });
    const first = await errorOf(r.handleIncoming(PEER, call, "sha-slow"));
    expect([first.errcode, first.status]).toEqual(["SMCP_CALL_TIMEOUT", 504]);
    const retry = await errorOf(r.handleIncoming(PEER, call, "sha-slow"));
    expect(retry.errcode).toBe("SMCP_CALL_TIMEOUT");
    expect(retry.message).toContain("will not run again");
    expect(await sleepCallsSoFar()).toBe(before + 2); // the timed-out sleep + the previous probe, no retry
  });

  it("ROSHUMBA: a call cut by an instance crash → retry answers 502 SMCP_COMPONENT_UNAVAILABLE without running (spec §10.3)", async () => {
    const file = join(dir, `crash-${Date.now()}.sqlite`);
    const title = uniqueTitle();
    const db1 = openDb(file);
    // What a crash between dispatch and result leaves on disk: a `started` row and no result.
    new CallStore(db1).start(PEER, "cut", "sha-cut", Date.now());
    db1.close();
    const err = await errorOf(router(openDb(file)).handleIncoming(PEER, createCall("cut", title), "sha-cut"));
    expect([err.errcode, err.status]).toEqual(["SMCP_COMPONENT_UNAVAILABLE", 502]);
    expect(await tasksTitled(title)).toBe(0);
  });

  it("ROSHUMBA: results are kept at least 24 h, then pruned (spec §10.3)", async () => {
    let now = 1_000_000_000_000;
    const r = new Roshumba({ self: SELF, db: openDb(), components: host, federation: new FakeSender(), mayCall: () => true, now: () => now });
    const title = uniqueTitle();
    await r.handleIncoming(PEER, createCall("kept", title), "sha-k");
    now += 24 * 60 * 60 * 1000 - 1;
    await r.handleIncoming(PEER, createCall("kept", title), "sha-k");
    expect(await tasksTitled(title)).toBe(1);
    now += 2 * 60 * 1000;
    // Past retention the id is forgotten: the same id with another body is no longer a conflict.
    const other = uniqueTitle();
    await r.handleIncoming(PEER, createCall("kept", other), "sha-k2");
    expect(await tasksTitled(other)).toBe(1);
  });

  it("ROSHUMBA: registry lists callable components for allowed origins and nothing for others (spec §11.2)", () => {
    const r = router();
    const listing = r.registryFor(PEER);
    expect(validate("RegistryListing", listing)).toEqual([]);
    expect(listing.server_name).toBe(SELF);
    expect(listing.components.map((c) => c.uri)).toEqual([`smcp://${SELF}/vikunja`, `smcp://${SELF}/fixture`]);
    expect(r.registryFor(STRANGER)).toEqual({ server_name: SELF, components: [] });
  });
});

describe("Roshumba and a dying component (spec §10.3)", () => {
  it("ROSHUMBA: died mid-call → 502 and the id is spent; down before dispatch → 502 and a retry runs once it is back", async () => {
    const own = await ComponentHost.start({ dataDir: tempDir("roshumba"), components: [fixtureConfig()], logger: quietLogger, includeVikunja: false });
    try {
      const r = new Roshumba({ self: SELF, db: openDb(), components: own, federation: new FakeSender(), mayCall: () => true });
      const crash = fixtureCall("crash-1", "crash", {});
      expect((await errorOf(r.handleIncoming(PEER, crash, "sha-x"))).errcode).toBe("SMCP_COMPONENT_UNAVAILABLE");
      // Down now: this call is never dispatched, so it is not remembered.
      const probe = fixtureCall("probe", "sleep", { ms: 0 });
      expect((await errorOf(r.handleIncoming(PEER, probe, "sha-p"))).errcode).toBe("SMCP_COMPONENT_UNAVAILABLE");
      await until("fixture restarted", () => own.health()[0]!.status === "up", 15_000);
      const res = await r.handleIncoming(PEER, probe, "sha-p");
      expect(res.result.structuredContent).toMatchObject({ slept: 0, calls: 1 });
      // The crashing call is not run again (it would take the component down again).
      const replay = await errorOf(r.handleIncoming(PEER, crash, "sha-x"));
      expect(replay.message).toContain("will not run again");
      expect(own.health()[0]!.status).toBe("up");
    } finally {
      await own.close();
    }
  });
});

describe("Roshumba outgoing calls (spec §10.1)", () => {
  const ok = (call: RemoteCall): RemoteCallResult => ({
    call_id: call.call_id,
    target: call.target,
    tool: call.tool,
    result: { content: [{ type: "text", text: "{}" } as never], structuredContent: { tasks: [] } as never },
  });

  it("ROSHUMBA: sends a valid RemoteCall to the target's server and returns its validated result (spec §10.1)", async () => {
    const sender = new FakeSender((req) => ({ status: 200, body: ok(req.body as RemoteCall) }));
    const res = await router(openDb(), sender).callRemote({ target: `smcp://${PEER}/vikunja`, tool: "list_tasks", params: {} as never });
    const sent = sender.requests[0]!;
    expect([sent.destination, sent.method, sent.path, sent.opts?.timeoutMs]).toEqual([PEER, "POST", "/federation/v1/call", 36_000]);
    expect(validate("RemoteCall", sent.body)).toEqual([]);
    const body = sent.body as RemoteCall;
    expect(body.origin).toBe(SELF);
    expect(body.call_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(res).toEqual(ok(body));
  });

  it("ROSHUMBA: keeps a caller's call_id and timeout_ms (spec §10.1)", async () => {
    const sender = new FakeSender((req) => ({ status: 200, body: ok(req.body as RemoteCall) }));
    await router(openDb(), sender).callRemote({ target: `smcp://${PEER}/vikunja`, tool: "t", params: {} as never, call_id: "mine", timeout_ms: 500 });
    expect(sender.requests[0]!.body).toMatchObject({ call_id: "mine", timeout_ms: 500 });
    expect(sender.requests[0]!.opts?.timeoutMs).toBe(6500);
  });

  it("CTRL-28: the remote's call errors are relayed with their errcode; CTRL-29: any other error → 502 SMCP_PEER_UNREACHABLE (spec §12.4)", async () => {
    const answers = [
      { status: 404, body: { errcode: "SMCP_UNKNOWN_TOOL", error: "no such tool" } },
      { status: 504, body: { errcode: "SMCP_CALL_TIMEOUT", error: "slow" } },
      { status: 429, body: { errcode: "SMCP_RATE_LIMITED", error: "slow down", retry_after_ms: 1500 } },
      { status: 401, body: { errcode: "SMCP_UNKNOWN_KEY", error: "who are you" } },
    ];
    const sender = new FakeSender(() => answers.shift()!);
    const r = router(openDb(), sender);
    const call = { target: `smcp://${PEER}/vikunja`, tool: "t", params: {} as never };
    expect((await errorOf(r.callRemote(call))).errcode).toBe("SMCP_UNKNOWN_TOOL");
    expect((await errorOf(r.callRemote(call))).status).toBe(504);
    const limited = await errorOf(r.callRemote(call));
    expect([limited.errcode, limited.status, limited.extra.retryAfterMs]).toEqual(["SMCP_PEER_UNREACHABLE", 502, 1500]);
    expect(limited.message).toMatch(/SMCP_RATE_LIMITED/);
    const unknownKey = await errorOf(r.callRemote(call));
    expect([unknownKey.errcode, unknownKey.status]).toEqual(["SMCP_PEER_UNREACHABLE", 502]);
  });

  it("CTRL-29: garbage from a peer → 502 SMCP_PEER_UNREACHABLE with retry_after_ms, saying what was wrong (spec §12.4)", async () => {
    const cases: [(c: RemoteCall) => { status: number; body?: unknown }, RegExp][] = [
      [() => ({ status: 200 }), /without an I-JSON body/],
      [() => ({ status: 200, body: { hello: "world" } }), /invalid RemoteCallResult/],
      [(c) => ({ status: 200, body: { ...ok(c), call_id: "someone-else" } }), /result of another call/],
      [(c) => ({ status: 202, body: ok(c) }), /answered 202/],
      [() => ({ status: 500, body: "<html>oops</html>" }), /without a spec error body/],
    ];
    for (const [answer, message] of cases) {
      const sender = new FakeSender((req) => answer(req.body as RemoteCall));
      const err = await errorOf(router(openDb(), sender).callRemote({ target: `smcp://${PEER}/vikunja`, tool: "t", params: {} as never }));
      expect([err.errcode, err.status]).toEqual(["SMCP_PEER_UNREACHABLE", 502]);
      expect(err.extra.retryAfterMs).toBeGreaterThan(0);
      expect(err.message).toMatch(message);
    }
  });

  it("CTRL-29: when the caller's own wait (T + margin, CALL-19) ends before any answer → 504 SMCP_CALL_TIMEOUT (spec §12.4)", async () => {
    const requests: { timeoutMs?: number }[] = [];
    const silent = {
      request: (_d: string, _m: string, _p: string, _b?: unknown, opts?: { timeoutMs?: number }) => {
        requests.push(opts ?? {});
        return new Promise<never>(() => undefined);
      },
    };
    const r = new Roshumba({ self: SELF, db: openDb(), components: host, federation: silent, mayCall: () => true, logger: quietLogger, networkMarginMs: 20 });
    const err = await errorOf(r.callRemote({ target: `smcp://${PEER}/vikunja`, tool: "t", params: {} as never, timeout_ms: 1 }));
    expect([err.errcode, err.status]).toEqual(["SMCP_CALL_TIMEOUT", 504]);
    // The transport gives up later than the caller's wait, so the wait's end is what the caller reports.
    expect(requests[0]!.timeoutMs).toBeGreaterThan(21);
  });

  it("ROSHUMBA: an unreachable peer → SMCP_PEER_UNREACHABLE passes through (spec §10.1)", async () => {
    const sender = new FakeSender(() => {
      throw new SmcpError("SMCP_PEER_UNREACHABLE", "a.example unreachable", { retryAfterMs: 1000 });
    });
    const err = await errorOf(router(openDb(), sender).callRemote({ target: `smcp://${PEER}/vikunja`, tool: "t", params: {} as never }));
    expect(err.errcode).toBe("SMCP_PEER_UNREACHABLE");
  });

  it("ROSHUMBA: a call to this instance's own component runs locally, idempotently, without HTTP (spec §10.1)", async () => {
    const sender = new FakeSender();
    const r = router(openDb(), sender);
    const title = uniqueTitle();
    const req = { target: `smcp://${SELF}/vikunja`, tool: "create_task", params: { title } as never, call_id: "local-1" };
    const first = await r.callRemote(req);
    expect(await r.callRemote({ ...req, params: { title } as never })).toEqual(first);
    expect(sender.requests).toEqual([]);
    expect(await tasksTitled(title)).toBe(1);
    expect((await errorOf(r.callRemote({ ...req, params: { title: "other" } as never }))).errcode).toBe("SMCP_CONFLICT");
  });

  it("ROSHUMBA: an invalid call request → 400 SMCP_INVALID with details (spec §13)", async () => {
    const err = await errorOf(router().callRemote({ target: "http://nope/x", tool: "t", params: {} as never }));
    expect([err.errcode, err.status]).toEqual(["SMCP_INVALID", 400]);
    expect(err.extra.details?.[0]?.path).toBe("/target");
  });
});
