// Conformance harness: Roshumba remote calls sent by the fake peer to each instance under test — who may call, unknown
// targets and tools, and idempotency per (origin, call_id) (spec §10).
import type { RemoteCallResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check } from "../context.ts";
import { known } from "./support/state.ts";
import { fakeCall, fakeListTasks, impostorKey, remoteCall, uid } from "./support/requests.ts";
import { taskOf } from "./support/matchers.ts";
import { expectSameJson } from "./support/json-value.ts";

export const nonPeerCall = perTarget((role) => ({
  id: "adv/calls/non-peer-forbidden",
  name: "a call from a server sharing no channel with the receiver (and not allow-listed) gets 403 SMCP_FORBIDDEN",
  requirements: ["CALL-22", "CALL-21"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const a = await fakeCall(ctx, t, remoteCall(ctx, t, "create_task", { title: "must not exist" }));
    expectError(a, "SMCP_FORBIDDEN", "call from a non-peer");
    // Before target checks (CALL-22): a stranger does not learn which components exist.
    const unknown = await fakeCall(ctx, t, remoteCall(ctx, t, "create_task", { title: "must not exist" }, uid(ctx, "call"), "no-such-component"));
    expectError(unknown, "SMCP_FORBIDDEN", "call from a non-peer to a component that does not exist");
  },
}));

const memberCall = (id: string, name: string, requirements: string[], run: Check["run"] extends (c: infer C) => unknown ? (ctx: C, role: "alice" | "bob") => Promise<void> : never, prereq = "adv/calls/member-call@@"): Check[] =>
  perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: [prereq], run: (ctx) => run(ctx, role) }));

const lastCall = new Map<string, { body: ReturnType<typeof remoteCall>; result: RemoteCallResult }>();

export const memberCalls: Check[] = [
  ...memberCall("adv/calls/member-call", "a call from a channel peer runs the tool and returns a valid RemoteCallResult", ["CALL-21", "CALL-08", "CONF-02"], async (ctx, role) => {
    const t = known(ctx, role);
    const body = remoteCall(ctx, t, "create_task", { title: uid(ctx, "fake-task") });
    const r = expectOk<RemoteCallResult>(await fakeCall(ctx, t, body), "RemoteCallResult", "peer call", 200);
    ensure(r.call_id === body.call_id && r.target === body.target && r.tool === "create_task", "result does not echo call_id/target/tool", body, r);
    taskOf(r, "create_task");
    lastCall.set(role, { body, result: r });
  }, "adv/participant/invited@@"),
  ...memberCall("adv/calls/tool-error", "complete_task of a task that does not exist is a 200 result with isError, not an SMCP error", ["CONF-05", "CALL-09"], async (ctx, role) => {
    const t = known(ctx, role);
    const r = expectOk<RemoteCallResult>(await fakeCall(ctx, t, remoteCall(ctx, t, "complete_task", { id: 987654321 })), "RemoteCallResult", "complete_task of a missing task", 200);
    ensure(r.result.isError === true, "a failing tool did not report isError", true, r.result);
  }),
  ...memberCall("adv/calls/unknown-tool", "a call to a tool the component lacks gets 404 SMCP_UNKNOWN_TOOL", ["CALL-05"], async (ctx, role) => {
    const t = known(ctx, role);
    expectError(await fakeCall(ctx, t, remoteCall(ctx, t, "no_such_tool", {})), "SMCP_UNKNOWN_TOOL", "unknown tool");
  }),
  ...memberCall("adv/calls/unknown-component", "a call to a component the receiver does not run gets 404 SMCP_UNKNOWN_TARGET", ["CALL-04"], async (ctx, role) => {
    const t = known(ctx, role);
    expectError(await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {}, undefined, "nosuchcomponent")), "SMCP_UNKNOWN_TARGET", "unknown component");
  }),
  ...memberCall("adv/calls/foreign-target", "a call whose target names another server gets 404 SMCP_UNKNOWN_TARGET", ["CALL-03"], async (ctx, role) => {
    const t = known(ctx, role);
    const body = { ...remoteCall(ctx, t, "list_tasks", {}), target: "smcp://elsewhere.test/vikunja" };
    expectError(await fakeCall(ctx, t, body), "SMCP_UNKNOWN_TARGET", "target on another server");
  }),
  ...memberCall("adv/calls/duplicate-call-id", "a repeated call_id returns the stored result and does not run the tool again", ["CALL-10"], async (ctx, role) => {
    const t = known(ctx, role);
    const before = (await fakeListTasks(ctx, t)).length;
    const body = remoteCall(ctx, t, "create_task", { title: uid(ctx, "once") });
    const first = expectOk<RemoteCallResult>(await fakeCall(ctx, t, body), "RemoteCallResult", "first call", 200);
    const second = expectOk<RemoteCallResult>(await fakeCall(ctx, t, body), "RemoteCallResult", "repeated call", 200);
    expectSameJson(second, first, "a repeated call_id returned another result");
    const after = (await fakeListTasks(ctx, t)).length;
    ensure(after === before + 1, "the tool ran more than once (list_tasks count)", before + 1, after);
    lastCall.set(role, { body, result: first });
  }),
  ...memberCall("adv/calls/concurrent-repeat", "two copies of one call sent at once run the tool once and get the same result", ["CALL-11", "CALL-10"], async (ctx, role) => {
    const t = known(ctx, role);
    const before = (await fakeListTasks(ctx, t)).length;
    const body = remoteCall(ctx, t, "create_task", { title: uid(ctx, "twice-at-once") });
    const copy = { method: "POST" as const, path: "/federation/v1/call", body };
    const [a, b] = await ctx.fake.sendTogether(t.name, [copy, copy]);
    const ra = expectOk<RemoteCallResult>(a!, "RemoteCallResult", "first copy", 200);
    const rb = expectOk<RemoteCallResult>(b!, "RemoteCallResult", "second copy", 200);
    expectSameJson(rb, ra, "concurrent copies got different results");
    ensure((await fakeListTasks(ctx, t)).length === before + 1, "the tool ran more than once", before + 1, "more");
  }),
  ...memberCall("adv/calls/call-id-conflict", "the same call_id with a different body gets 409 SMCP_CONFLICT and runs nothing", ["CALL-12"], async (ctx, role) => {
    const t = known(ctx, role);
    const prior = lastCall.get(role)!;
    const before = (await fakeListTasks(ctx, t)).length;
    const body = { ...prior.body, params: { title: uid(ctx, "other") } as never };
    expectError(await fakeCall(ctx, t, body), "SMCP_CONFLICT", "reused call_id, other params");
    ensure((await fakeListTasks(ctx, t)).length === before, "the conflicting call ran the tool", before, "one more task");
  }),
  ...memberCall("adv/calls/unauthenticated-not-run", "a create_task call with a signature that does not verify gets 401 and runs nothing", ["SIGN-02", "SIGN-33"], async (ctx, role) => {
    const t = known(ctx, role);
    const before = (await fakeListTasks(ctx, t)).length;
    const a = await ctx.fake.send(t.name, { method: "POST", path: "/federation/v1/call", body: remoteCall(ctx, t, "create_task", { title: uid(ctx, "forged") }), sign: { key: impostorKey(ctx) } });
    expectError(a, "SMCP_BAD_SIGNATURE", "badly signed call");
    const after = (await fakeListTasks(ctx, t)).length;
    ensure(after === before, "the tool ran for an unauthenticated call", before, after);
  }),
];
