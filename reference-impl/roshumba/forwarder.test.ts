// Roshumba 1.1 forwarding, the intermediate's bounds (spec §10.6 FWD-13, FWD-15, FWD-16, FWD-17): what a hostile
// neighbour or origin can make it send onward, counted exactly against a next hop that never answers.
import { describe, expect, it } from "vitest";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../../protocol/keys.ts";
import { signEnvelope } from "../../protocol/forward-envelope.ts";
import { FORWARD_INFLIGHT_PER_ORIGIN, FORWARD_INFLIGHT_TOTAL } from "../../protocol/limits.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import { SmcpError } from "../../protocol/errors.ts";
import type { ForwardedCall } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Peer } from "../paulina/discovery.ts";
import { errorOf } from "../../tests/support/components.ts";
import { ForwardConsent } from "./forward-consent.ts";
import { ForwardRoutes } from "./forward-routes.ts";
import { Forwarder } from "./forwarder.ts";

const origins = new Map<string, ReturnType<typeof signingKeyFromSeed>>();
const keyOf = (name: string) => {
  let k = origins.get(name);
  if (!k) origins.set(name, (k = signingKeyFromSeed(generateSeed())));
  return k;
};
const peer = (name: string): Peer => ({
  serverName: name, endpoint: "http://127.0.0.1:1", version: "1.0", versions: ["1.0", "1.1"], components: [], keyId: "", publicKey: "",
  key: verifyKeyOf(keyOf(name)), limits: {} as Peer["limits"], discoveredTs: 0, expiresTs: 0,
});

/** A next hop that takes every request and answers none until `release`; or one whose connection always fails. */
function nextHop(mode: "hang" | "fail") {
  const sent: ForwardedCall[] = [];
  const waiting: Array<(a: HttpAnswer) => void> = [];
  const sender: FederationSender = {
    request: (_d, _m, _p, body) => {
      sent.push(body as ForwardedCall);
      if (mode === "fail") return Promise.reject(new SmcpError("SMCP_PEER_UNREACHABLE", "connection reset", { retryAfterMs: 1 }));
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
  const release = () => waiting.splice(0).forEach((r) => r({ status: 502, headers: {}, raw: Buffer.alloc(0), body: { errcode: "SMCP_PEER_UNREACHABLE", error: "x", retry_after_ms: 1 } }));
  return { sender, sent, release };
}

function carol(sender: FederationSender, consent = ["*>bob.test"]): Forwarder {
  return new Forwarder({
    self: "carol.test", key: keyOf("carol.test"), skewMs: 60_000, consent: new ForwardConsent(consent),
    routes: new ForwardRoutes({ self: "carol.test", federation: sender, peers: () => [] }), federation: sender,
    mayCall: () => false, chargeOrigin: () => {}, lookupKey: async (o) => verifyKeyOf(keyOf(o)), discover: async (s) => peer(s),
    execute: () => Promise.reject(new Error("carol is no destination here")), networkMarginMs: 1_000,
  });
}

let n = 0;
function hopFrom(origin: string): ForwardedCall {
  const params = { title: `t${++n}` };
  const envelope = signEnvelope(keyOf(origin), {
    origin, destination: "bob.test", call_id: `c${n}`, target: "smcp://bob.test/vikunja", tool: "create_task", params, timeout_ms: 5_000, max_hops: 4,
  });
  return { origin, hops: [origin], envelope, params };
}

describe("Forwarder bounds what it sends onward", () => {
  it("FWD-15: 8 calls of one origin in flight, 64 in all; beyond, 429 naming carol and nothing sent", async () => {
    const hop = nextHop("hang");
    const f = carol(hop.sender);
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < FORWARD_INFLIGHT_PER_ORIGIN; i++) pending.push(f.handle("eve.test", hopFrom("eve.test")).catch(() => undefined));
    await new Promise((r) => setImmediate(r));
    const over = await errorOf(f.handle("eve.test", hopFrom("eve.test")));
    expect([over.errcode, over.extra.hop]).toEqual(["SMCP_RATE_LIMITED", "carol.test"]);
    for (let o = 0; pending.length < FORWARD_INFLIGHT_TOTAL; o++) {
      for (let i = 0; i < FORWARD_INFLIGHT_PER_ORIGIN && pending.length < FORWARD_INFLIGHT_TOTAL; i++) pending.push(f.handle(`o${o}.test`, hopFrom(`o${o}.test`)).catch(() => undefined));
    }
    await new Promise((r) => setImmediate(r));
    expect((await errorOf(f.handle("late.test", hopFrom("late.test")))).errcode).toBe("SMCP_RATE_LIMITED");
    expect(hop.sent).toHaveLength(FORWARD_INFLIGHT_TOTAL);
    hop.release();
    await Promise.all(pending);
  });

  it("FWD-15: the same envelope arriving 10 times while in flight is sent onward once", async () => {
    const hop = nextHop("hang");
    const f = carol(hop.sender);
    const call = hopFrom("eve.test");
    const all = Array.from({ length: 10 }, () => f.handle("eve.test", call).catch((e: SmcpError) => e));
    await new Promise((r) => setImmediate(r));
    expect(hop.sent).toHaveLength(1);
    expect(f.stats.joined).toBe(9);
    hop.release();
    const outcomes = await Promise.all(all);
    expect(outcomes.every((e) => e instanceof SmcpError && e.extra.hop === "bob.test")).toBe(true);
  });

  it("FWD-17: a next hop that never answers gets exactly two requests per accepted call; the error names it", async () => {
    const hop = nextHop("fail");
    const f = carol(hop.sender);
    const err = await errorOf(f.handle("eve.test", hopFrom("eve.test")));
    expect([err.errcode, err.extra.hop]).toEqual(["SMCP_PEER_UNREACHABLE", "bob.test"]);
    expect(hop.sent).toHaveLength(2);
    expect(hop.sent[0]!.hops).toEqual(["eve.test", "carol.test"]);
  });

  it("FWD-13, FWD-10: without consent nothing is sent and the origin's key is never looked up", async () => {
    const hop = nextHop("hang");
    let lookups = 0;
    const f = new Forwarder({
      ...(carol(hop.sender) as unknown as { opts: ConstructorParameters<typeof Forwarder>[0] }).opts,
      consent: new ForwardConsent([]), lookupKey: async () => { lookups++; return null; },
    });
    const err = await errorOf(f.handle("eve.test", hopFrom("eve.test")));
    expect([err.errcode, err.extra.hop, lookups, hop.sent.length]).toEqual(["SMCP_FORWARD_REFUSED", "carol.test", 0, 0]);
  });
});
