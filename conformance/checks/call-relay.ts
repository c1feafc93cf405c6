// Conformance harness: how an instance under test treats a remote's answer to a call it makes for its Control API —
// an error outside the relayed set becomes 502 SMCP_PEER_UNREACHABLE, a 429 holds back the next call to that peer, a
// result of another call is not passed on (spec §5.7, §10.2, §12.4). The remote is a second fake identity answering
// every call with the planted error, or a scripted peer answering with another call's result.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ErrorCode } from "../../protocol/errors.ts";
import { makeKeyDocument } from "../../protocol/key-document.ts";
import { FakeIdentity } from "../fake-peer/identity.ts";
import { ensure, expectError } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import type { FakePeer } from "../fake-peer.ts";
import { known } from "./support/state.ts";

/** Starts a peer whose call endpoint answers `errcode` (its usual 403 rewritten), known to and mapped on `role`. */
async function peerAnswering(ctx: CheckContext, role: Role, errcode: ErrorCode, what: string): Promise<FakePeer> {
  const t = known(ctx, role);
  const peer = await ctx.fake.startSibling(`${what}-${ctx.runId}-${role[0]}.test`, ctx.recorder, { refuseCalls: errcode });
  peer.components = ["vikunja"];
  peer.addInstance(t.name, t.discovery.endpoint, t.key);
  await t.control.mapHost(peer.name, peer.url);
  return peer;
}

function callVia(ctx: CheckContext, role: Role, peer: FakePeer) {
  return known(ctx, role).control.request("POST", "/control/v1/calls", { target: `smcp://${peer.name}/vikunja`, tool: "list_tasks", params: {} });
}

/**
 * A peer on 127.0.0.1 that serves its discovery and key documents and answers every call 200 with a valid
 * RemoteCallResult of another call_id (a peer mixing up concurrent answers, or a forged answer).
 */
async function peerAnsweringAnotherCall(name: string): Promise<{ identity: FakeIdentity; calls: () => number; close: () => Promise<void> }> {
  const identity = new FakeIdentity(name);
  identity.components = ["vikunja"];
  let calls = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      };
      const path = (req.url ?? "").split("?")[0];
      if (req.method === "GET" && path === "/.well-known/smcp/server") return json(200, identity.discoveryDocument());
      if (req.method === "GET" && path === "/federation/v1/keys") return json(200, makeKeyDocument(identity.name, identity.key, Date.now()));
      if (req.method === "POST" && path === "/federation/v1/call") {
        calls++;
        const call = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { call_id: string; target: string; tool: string };
        return json(200, { call_id: `${call.call_id}-other`, target: call.target, tool: call.tool, result: { content: [{ type: "text", text: "the answer to another call" }] } });
      }
      json(404, { errcode: "SMCP_NOT_FOUND", error: "not served by this scripted peer" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  identity.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { identity, calls: () => calls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const calls = (peer: FakePeer): number => peer.records.filter((r) => r.route === "call").length;

function relayCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: ["adv/setup/fake-peer@@"], run: (ctx) => run(ctx, role) }));
}

export const callRelayChecks: Check[] = [
  ...relayCheck("adv/control/remote-auth-error-not-relayed", "a remote answering a call with 401 SMCP_BAD_SIGNATURE is reported as 502 SMCP_PEER_UNREACHABLE, not as the caller's own error", ["CTRL-29", "CTRL-28"], async (ctx, role) => {
    const peer = await peerAnswering(ctx, role, "SMCP_BAD_SIGNATURE", "badsig");
    try {
      expectError(await callVia(ctx, role, peer), "SMCP_PEER_UNREACHABLE", "call answered 401 SMCP_BAD_SIGNATURE by the remote");
      ensure(calls(peer) === 1, "the call never reached the remote", 1, calls(peer));
    } finally {
      await peer.close();
    }
  }),
  ...relayCheck("adv/control/call-held-after-429", "after a remote answers a call 429, the next call to it within its retry delay is not sent (502 SMCP_PEER_UNREACHABLE with retry_after_ms)", ["RATE-07", "CTRL-29"], async (ctx, role) => {
    // 429 without retry_after_ms: the sender holds back for its default delay (1 s in the reference; §5.7 asks for
    // a wait, and the second call follows at once).
    const peer = await peerAnswering(ctx, role, "SMCP_RATE_LIMITED", "busy");
    try {
      const first = await callVia(ctx, role, peer);
      ensure(first.status >= 400, "a call answered 429 by the remote succeeded", "an error", first.status);
      const second = await callVia(ctx, role, peer);
      ensure(calls(peer) === 1, "the instance sent the next call to a peer that had just answered 429 (RATE-07)", "1 call reached the remote", calls(peer));
      const err = expectError(second, "SMCP_PEER_UNREACHABLE", "call to a peer holding the instance off");
      ensure(typeof err.retry_after_ms === "number", "502 without retry_after_ms (the time until the peer may be called again)", "retry_after_ms", err);
    } finally {
      await peer.close();
    }
  }),
  ...relayCheck("adv/control/answer-of-another-call", "a remote answering a call with the result of another call_id is reported as 502 SMCP_PEER_UNREACHABLE, never returned as this call's result", ["CALL-08", "CTRL-29"], async (ctx, role) => {
    const t = known(ctx, role);
    const peer = await peerAnsweringAnotherCall(`mixup-${ctx.runId}-${role[0]}.test`);
    try {
      await t.control.mapHost(peer.identity.name, peer.identity.url);
      const a = await t.control.request("POST", "/control/v1/calls", { target: `smcp://${peer.identity.name}/vikunja`, tool: "list_tasks", params: {} });
      ensure(peer.calls() === 1, "the call never reached the remote", 1, peer.calls());
      expectError(a, "SMCP_PEER_UNREACHABLE", "call answered with another call's result");
    } finally {
      await peer.close();
    }
  }),
];
