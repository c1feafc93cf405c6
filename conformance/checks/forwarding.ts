// Conformance harness (1.1 forwarded calls, spec §10.6, §11.3): the fake peer as origin (fake → T), as origin through
// T (fake → T → other), as a tampering, replaying or dropping intermediate (T → fake → other, other → fake → T) and as
// destination (T → other → fake). Only for instances whose discovery lists "1.1"; others are excluded with the reason.
import { SmcpError } from "../../protocol/errors.ts";
import {
  envelopeSha256, forwardResultProblem, FORWARD_PATH, paramsSha256, signEnvelope, signForwardResult, verifyEnvelope, type EnvelopeFields,
} from "../../protocol/forward-envelope.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import type { ForwardedCall, ForwardEnvelope, ForwardResult, RemoteCallResult, ToolResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk, fail } from "../assert.ts";
import { other, perTarget, type CheckContext, type Role } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import type { RouteRequest } from "../fake-peer/routes.ts";
import { tasksOf } from "./support/matchers.ts";
import { uid } from "./support/requests.ts";
import { known, needs11 } from "./support/state.ts";

const TIMEOUT_MS = 5_000;

function textResult(text: string): ToolResult {
  return { content: [{ type: "text", text } as ToolResult["content"][number]] };
}

/** Both instances of the pair must speak 1.1 (FWD-01); otherwise the check does not apply. */
function require11(ctx: CheckContext, ...roles: Role[]): void {
  for (const role of roles) needs11(known(ctx, role), "forwarding is a 1.1 feature (FWD-01)");
}

/** A fresh fake identity that speaks 1.1, known to both instances and knowing them; closed by the caller. */
async function forwardingPeer(ctx: CheckContext, label: string): Promise<FakePeer> {
  const peer = await FakePeer.start(`fwd-${label}-${ctx.runId}.test`, ctx.recorder);
  peer.identity.discoveryOverride = { ...peer.identity.discoveryOverride, version: "1.0", versions: ["1.0", "1.1"] };
  for (const role of ["alice", "bob"] as const) {
    const t = known(ctx, role);
    peer.addInstance(t.name, t.discovery.endpoint, t.key);
    await t.control.mapHost(peer.name, peer.url);
  }
  return peer;
}

/** `peer` becomes a member of a channel `role` hubs, so that it may call there (CALL-21). */
async function grantCalls(ctx: CheckContext, role: Role, peer: FakePeer): Promise<void> {
  const t = known(ctx, role);
  const ch = await t.control.createChannel(`fwd-${peer.name.split(".")[0]!.slice(0, 40)}-${role[0]}`);
  const outcome = await t.control.invite(ch.channel, peer.name);
  ensure(outcome.accepted, `${role} did not get ${peer.name} to join its channel`, true, outcome);
}

/** `guest` becomes a member of a channel `host` hubs, so that it may call there (CALL-21), whatever earlier checks removed. */
async function grantInstance(ctx: CheckContext, host: Role, guest: Role, label: string): Promise<void> {
  const h = known(ctx, host);
  const ch = await h.control.createChannel(`fwd-${label}-${ctx.runId}-${host[0]}`);
  const outcome = await h.control.invite(ch.channel, known(ctx, guest).name);
  ensure(outcome.accepted, `${guest} did not accept ${host}'s invite (CONF-10)`, true, outcome);
}

function envelopeFor(peer: FakePeer, destination: string, over: Partial<EnvelopeFields> = {}): { envelope: ForwardEnvelope; params: Record<string, unknown> } {
  const params = over.params ?? { title: `forwarded ${Math.random().toString(36).slice(2, 10)}` };
  const envelope = signEnvelope(peer.identity.key, {
    origin: peer.name, destination, call_id: `fwd-${Math.random().toString(36).slice(2, 14)}`, target: `smcp://${destination}/vikunja`,
    tool: "create_task", timeout_ms: TIMEOUT_MS, max_hops: 4, ...over, params,
  });
  return { envelope, params };
}

function hop(from: FakePeer, to: string, body: ForwardedCall): Promise<HttpAnswer> {
  return from.send(to, { method: "POST", path: FORWARD_PATH, body });
}

async function taskCount(ctx: CheckContext, role: Role): Promise<number> {
  const t = known(ctx, role);
  return tasksOf(await t.control.call({ target: `smcp://${t.name}/vikunja`, tool: "list_tasks", params: {} as never }), "list_tasks (local)").length;
}

/** A 200 ForwardResult that `destinationKey` signed for `envelope` (FWD-23, FWD-25). */
function expectSignedResult(a: HttpAnswer, envelope: ForwardEnvelope, destinationKey: VerifyKey, where: string): ForwardResult {
  const r = expectOk<ForwardResult>(a, "ForwardResult", where, 200);
  const problem = forwardResultProblem(destinationKey, envelope, r);
  ensure(problem === null, `${where}: the result is not the destination's signed answer to this envelope`, "a ForwardResult verifying under the destination's key", problem);
  return r;
}

/** Every error answer to a forwarded call names the hop that failed (FWD-30). */
function expectHopError(a: HttpAnswer, errcode: Parameters<typeof expectError>[1], hopName: string, where: string): void {
  const body = expectError(a, errcode, where) as { hop?: string };
  ensure(body.hop === hopName, `${where}: the error does not name the hop that refused (FWD-30)`, hopName, body.hop);
}

/** The fake as an intermediate: checks what the origin sent it (FWD-02, FWD-05) and records what is wrong. */
function originProblems(call: ForwardedCall, r: RouteRequest, originKey: VerifyKey): string[] {
  const p: string[] = [];
  const env = call.envelope;
  if (env.origin !== r.origin) p.push(`envelope origin ${env.origin} is not the hop's sender ${r.origin}`);
  if (JSON.stringify(call.hops) !== JSON.stringify([env.origin])) p.push(`the origin's hops are ${JSON.stringify(call.hops)}, not [origin] (FWD-05)`);
  if (!verifyEnvelope(originKey, env)) p.push("the envelope's signature does not verify under the origin's key (FWD-02)");
  if (paramsSha256(call.params) !== env.params_sha256) p.push("params do not hash to params_sha256 (FWD-02)");
  return p;
}

export const forwardingChecks = [
  ...perTarget((role) => ({
    id: "fwd/dest/executes-once",
    name: "a forwarded call from the fake origin runs once at the destination, however often the envelope arrives, and is answered with a result signed for the origin",
    requirements: ["FWD-20", "FWD-21", "FWD-22", "FWD-23", "FWD-07"],
    level: "MUST" as const,
    prerequisites: ["sc/discovery/well-known@@", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role);
      const t = known(ctx, role);
      const origin = await forwardingPeer(ctx, `once-${role[0]}`);
      try {
        await grantCalls(ctx, role, origin);
        const before = await taskCount(ctx, role);
        const { envelope, params } = envelopeFor(origin, t.name);
        const body: ForwardedCall = { origin: origin.name, hops: [origin.name], envelope, params };
        const first = expectSignedResult(await hop(origin, t.name, body), envelope, t.key, "a forwarded create_task");
        for (let i = 0; i < 2; i++) {
          const again = expectSignedResult(await hop(origin, t.name, body), envelope, t.key, `the same envelope again (${i + 1})`);
          ensure(JSON.stringify(again.result) === JSON.stringify(first.result), "a repeated envelope got another result (FWD-21)", first.result, again.result);
        }
        const after = await taskCount(ctx, role);
        ensure(after === before + 1, "the tool did not run exactly once for one envelope sent three times (FWD-21)", before + 1, after);
        const conflict = envelopeFor(origin, t.name, { call_id: envelope.call_id, params });
        expectHopError(await hop(origin, t.name, { origin: origin.name, hops: [origin.name], ...conflict }), "SMCP_CONFLICT", t.name, "another envelope under the same call_id (FWD-22)");
      } finally {
        await origin.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/dest/tampered-refused",
    name: "changed arguments, a changed tool, a foreign signature and a redirected destination are refused with SMCP_BAD_ENVELOPE naming the receiver, and nothing runs",
    requirements: ["FWD-11", "FWD-12", "FWD-30"],
    level: "MUST" as const,
    prerequisites: ["sc/discovery/well-known@@", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role);
      const t = known(ctx, role);
      const origin = await forwardingPeer(ctx, `tamper-${role[0]}`);
      try {
        await grantCalls(ctx, role, origin);
        const before = await taskCount(ctx, role);
        const send = (envelope: ForwardEnvelope, params: Record<string, unknown>) => hop(origin, t.name, { origin: origin.name, hops: [origin.name], envelope, params });
        const a = envelopeFor(origin, t.name);
        expectHopError(await send(a.envelope, { title: "not what the origin signed" }), "SMCP_BAD_ENVELOPE", t.name, "changed arguments");
        const b = envelopeFor(origin, t.name);
        expectHopError(await send({ ...b.envelope, tool: "complete_task" }, b.params), "SMCP_BAD_ENVELOPE", t.name, "changed tool");
        const c = envelopeFor(origin, t.name);
        const foreign = signEnvelope(ctx.fake.key, { ...c.envelope, params: c.params });
        expectHopError(await send({ ...foreign, key_id: c.envelope.key_id }, c.params), "SMCP_BAD_ENVELOPE", t.name, "signed by another key under the origin's key_id");
        // to the other instance, as far as the (changed) envelope says: only the signature tells
        const o = known(ctx, other(role));
        const d = envelopeFor(origin, t.name);
        expectHopError(await send({ ...d.envelope, destination: o.name, target: `smcp://${o.name}/vikunja` }, d.params), "SMCP_BAD_ENVELOPE", t.name, "redirected destination");
        const after = await taskCount(ctx, role);
        ensure(after === before, "a refused forwarded call ran the tool (FWD-12)", before, after);
      } finally {
        await origin.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/dest/hops-and-time",
    name: "a hop list that does not start with the origin, a loop through the receiver, too many hops and a stale envelope are refused in the order of §10.6",
    requirements: ["FWD-07", "FWD-08", "FWD-09", "FWD-30"],
    level: "MUST" as const,
    prerequisites: ["sc/discovery/well-known@@", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role);
      const t = known(ctx, role);
      const origin = await forwardingPeer(ctx, `hops-${role[0]}`);
      const fake = await forwardingPeer(ctx, `hops2-${role[0]}`); // a second, authenticated neighbour
      try {
        await grantCalls(ctx, role, origin);
        const before = await taskCount(ctx, role);
        expectHopError(await hop(fake, t.name, { origin: fake.name, hops: [fake.name], ...envelopeFor(origin, t.name) }), "SMCP_INVALID", t.name, "hops not starting with the envelope's origin");
        expectHopError(await hop(fake, t.name, { origin: fake.name, hops: [origin.name, t.name, fake.name], ...envelopeFor(origin, t.name) }), "SMCP_FORWARD_LOOP", t.name, "hops already through the receiver");
        expectHopError(await hop(fake, t.name, { origin: fake.name, hops: [origin.name, fake.name], ...envelopeFor(origin, t.name, { max_hops: 1 }) }), "SMCP_HOP_LIMIT", t.name, "two hops, max_hops 1");
        const stale = envelopeFor(origin, t.name, { ts: Date.now() - known(ctx, role).discovery.limits.max_clock_skew_ms - 60_000 - 5_000 });
        expectHopError(await hop(origin, t.name, { origin: origin.name, hops: [origin.name], ...stale }), "SMCP_BAD_TIMESTAMP", t.name, "an envelope older than W + 60 s");
        const after = await taskCount(ctx, role);
        ensure(after === before, "a refused forwarded call ran the tool", before, after);
      } finally {
        await Promise.all([origin.close(), fake.close()]);
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/relay/through",
    name: "as an intermediate, the instance carries a fake origin's call to the other instance and relays its signed result unchanged, and refuses changed arguments itself, sending nothing",
    requirements: ["FWD-16", "FWD-18", "FWD-19", "FWD-37", "FWD-11"],
    level: "MUST" as const,
    prerequisites: ["sc/setup/host-map@alice", "sc/setup/host-map@bob", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role, other(role));
      const t = known(ctx, role);
      const o = known(ctx, other(role));
      const origin = await forwardingPeer(ctx, `relay-${role[0]}`);
      try {
        await grantCalls(ctx, other(role), origin);
        const before = await taskCount(ctx, other(role));
        const { envelope, params } = envelopeFor(origin, o.name);
        const a = await hop(origin, t.name, { origin: origin.name, hops: [origin.name], envelope, params });
        const r = expectSignedResult(a, envelope, o.key, `a forwarded call through ${role} to ${other(role)}`);
        ensure(r.envelope_sha256 === envelopeSha256(envelope), "the relayed result answers another envelope", envelopeSha256(envelope), r.envelope_sha256);
        const bad = envelopeFor(origin, o.name);
        expectHopError(await hop(origin, t.name, { origin: origin.name, hops: [origin.name], envelope: bad.envelope, params: { title: "changed on the way" } }), "SMCP_BAD_ENVELOPE", t.name, "changed arguments handed to the intermediate");
        const after = await taskCount(ctx, other(role));
        ensure(after === before + 1, "the destination did not run exactly the one valid forwarded call", before + 1, after);
      } finally {
        await origin.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/origin/result-authenticated",
    name: "as origin through a fake intermediate, the instance accepts the destination's signed result and refuses a changed or forged one; a dropped call's error names the hop and a retry carries the identical envelope",
    requirements: ["FWD-02", "FWD-04", "FWD-05", "FWD-25", "FWD-26", "FWD-28", "FWD-30", "FWD-36"],
    level: "MUST" as const,
    prerequisites: ["sc/calls/create-task", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role, other(role));
      const t = known(ctx, role);
      const o = known(ctx, other(role));
      const via = await forwardingPeer(ctx, `via-${role[0]}`);
      const call = (callId: string) => t.control.request("POST", "/control/v1/calls", {
        target: `smcp://${o.name}/vikunja`, tool: "list_tasks", params: {}, call_id: callId, timeout_ms: TIMEOUT_MS, via: [via.name],
      });
      let mode: "honest" | "tamper" | "forge" | "drop" = "honest";
      const problems: string[] = [];
      via.forwarding.behaviour = async (fc, r) => {
        problems.push(...originProblems(fc, r, t.key));
        if (mode === "drop") return { status: 502, body: { errcode: "SMCP_PEER_UNREACHABLE", error: "the fake dropped it", retry_after_ms: 1000, hop: o.name } };
        if (mode === "forge") return { status: 200, body: { ...signForwardResult(via.identity.key, fc.envelope, textResult("forged")), key_id: o.key.keyId } };
        const onward = await hop(via, o.name, { origin: via.name, hops: [...fc.hops, via.name], envelope: fc.envelope, params: fc.params });
        if (mode === "tamper" && onward.status === 200) {
          const result = onward.body as ForwardResult;
          return { status: 200, body: { ...result, result: textResult("changed by the intermediate") } };
        }
        return { status: onward.status, body: onward.body };
      };
      try {
        await grantInstance(ctx, other(role), role, "auth");
        const honest = await call(uid(ctx, "fwd-honest"));
        const ok = expectOk<RemoteCallResult>(honest, "RemoteCallResult", "a call through an honest intermediate", 200);
        tasksOf(ok, "list_tasks through the fake intermediate");
        ensure(problems.length === 0, "the origin's forwarded call was malformed", [], problems);
        for (const m of ["tamper", "forge"] as const) {
          mode = m;
          const a = await call(uid(ctx, `fwd-${m}`));
          if (a.status === 200) fail(`the origin accepted a ${m === "tamper" ? "result changed by the intermediate" : "result the intermediate signed"} (FWD-25)`, "an error (502 SMCP_PEER_UNREACHABLE)", a.body);
          expectError(a, "SMCP_PEER_UNREACHABLE", `a ${m}ed result`);
        }
        mode = "drop";
        const id = uid(ctx, "fwd-drop");
        const dropped = await call(id);
        const body = expectError(dropped, "SMCP_PEER_UNREACHABLE", "a call the intermediate dropped") as { hop?: string };
        ensure(body.hop === o.name, "the control API does not name the hop that failed (FWD-26, FWD-30)", o.name, body.hop);
        mode = "honest";
        const retried = await call(id);
        expectOk<RemoteCallResult>(retried, "RemoteCallResult", "the retry of the dropped call", 200);
        const mine = via.forwarding.received.filter((fc) => fc.envelope.call_id === id);
        ensure(mine.length === 2 && JSON.stringify(mine[0]!.envelope) === JSON.stringify(mine[1]!.envelope), "the retry of a call_id did not carry the identical envelope (FWD-04, FWD-28)", "the same envelope twice", mine.map((m) => m.envelope.signature));
      } finally {
        await via.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/intermediate/replay-and-tamper-detected",
    name: "as destination of the other instance's call through a fake intermediate, the instance runs a replayed envelope once and refuses it with changed arguments or another destination",
    requirements: ["FWD-21", "FWD-11", "FWD-20"],
    level: "MUST" as const,
    prerequisites: ["sc/calls/create-task", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role, other(role));
      const t = known(ctx, role);
      const o = known(ctx, other(role));
      const via = await forwardingPeer(ctx, `replay-${role[0]}`);
      let captured: ForwardedCall | undefined;
      via.forwarding.behaviour = async (fc) => {
        captured = fc;
        const onward = await hop(via, t.name, { origin: via.name, hops: [...fc.hops, via.name], envelope: fc.envelope, params: fc.params });
        return { status: onward.status, body: onward.body };
      };
      try {
        await grantInstance(ctx, role, other(role), "replay");
        const before = await taskCount(ctx, role);
        const a = await o.control.request("POST", "/control/v1/calls", { target: `smcp://${t.name}/vikunja`, tool: "create_task", params: { title: uid(ctx, "fwd-replay") }, timeout_ms: TIMEOUT_MS, via: [via.name] });
        expectOk<RemoteCallResult>(a, "RemoteCallResult", `${other(role)}'s call through the fake intermediate`, 200);
        if (!captured) fail("the fake intermediate never received the call");
        const fc = captured;
        const body = { origin: via.name, hops: [...fc.hops, via.name], envelope: fc.envelope, params: fc.params };
        for (let i = 0; i < 2; i++) expectSignedResult(await hop(via, t.name, body), fc.envelope, t.key, `replay ${i + 1} of the envelope`);
        expectHopError(await hop(via, t.name, { ...body, params: { title: "changed by the intermediate" } }), "SMCP_BAD_ENVELOPE", t.name, "the envelope with changed arguments");
        expectHopError(await hop(via, t.name, { ...body, envelope: { ...fc.envelope, tool: "complete_task" } }), "SMCP_BAD_ENVELOPE", t.name, "the envelope with another tool");
        const after = await taskCount(ctx, role);
        ensure(after === before + 1, "the replayed or tampered envelope ran the tool again (FWD-21)", before + 1, after);
      } finally {
        await via.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "fwd/dest/fake-destination",
    name: "as origin through the other instance to a fake destination, the instance sends a well-formed envelope, the intermediate appends itself to hops, and the destination's signed result comes back",
    requirements: ["FWD-02", "FWD-05", "FWD-16", "FWD-18", "FWD-26", "FWD-36"],
    level: "MUST" as const,
    prerequisites: ["sc/calls/create-task", "adv/sign/baseline@@"],
    async run(ctx: CheckContext) {
      require11(ctx, role, other(role));
      const t = known(ctx, role);
      const o = known(ctx, other(role));
      const dest = await forwardingPeer(ctx, `dest-${role[0]}`);
      const problems: string[] = [];
      const result: ToolResult = { ...textResult("done by the fake destination"), structuredContent: { ok: true } };
      dest.forwarding.behaviour = (fc, r) => {
        const env = fc.envelope;
        if (r.origin !== o.name) problems.push(`the hop came from ${r.origin}, not the intermediate ${o.name}`);
        if (JSON.stringify(fc.hops) !== JSON.stringify([t.name, o.name])) problems.push(`hops ${JSON.stringify(fc.hops)}, not [origin, intermediate] (FWD-05)`);
        if (env.origin !== t.name || env.destination !== dest.name) problems.push(`envelope ${env.origin} → ${env.destination}`);
        if (!verifyEnvelope(t.key, env)) problems.push("the envelope's signature does not verify under the origin's key (FWD-02)");
        if (paramsSha256(fc.params) !== env.params_sha256) problems.push("params do not hash to params_sha256 (arguments changed on the way)");
        return { status: 200, body: signForwardResult(dest.identity.key, env, result) };
      };
      try {
        await t.control.discover(dest.name);
        const a = await t.control.request("POST", "/control/v1/calls", { target: `smcp://${dest.name}/vikunja`, tool: "anything", params: { n: 1 }, timeout_ms: TIMEOUT_MS, via: [o.name] });
        const r = expectOk<RemoteCallResult>(a, "RemoteCallResult", `a call through ${other(role)} to a fake destination`, 200);
        ensure(JSON.stringify(r.result) === JSON.stringify(result), "the origin did not answer with the destination's result", result, r.result);
        ensure(problems.length === 0, "the forwarded call reached the destination malformed", [], problems);
        ensure(dest.forwarding.received.length === 1, "the destination received the call more or less than once", 1, dest.forwarding.received.length);
      } catch (err) {
        if (err instanceof SmcpError) fail(`harness could not reach the instances: ${err.message}`);
        throw err;
      } finally {
        await dest.close();
      }
    },
  })),
];
