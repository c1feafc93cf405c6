// Roshumba 1.1 forwarding, the origin's side (spec §10.6 FWD-01, FWD-03, FWD-25, FWD-28): only a result the destination
// signed for this very envelope is accepted, whatever an intermediate answers; envelopes are reused for retries.
import { describe, expect, it } from "vitest";
import { openDatabase } from "../storage/db.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf } from "../../protocol/keys.ts";
import { signForwardResult } from "../../protocol/forward-envelope.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { ForwardedCall, ForwardResult, RemoteCall } from "../../protocol/types.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { Peer } from "../paulina/discovery.ts";
import { ForwardEnvelopeStore } from "./forward-envelopes.ts";
import { ForwardOrigin } from "./forward-origin.ts";
import { errorOf } from "../../tests/support/components.ts";

const alice = signingKeyFromSeed(generateSeed());
const bob = signingKeyFromSeed(generateSeed());
const carol = signingKeyFromSeed(generateSeed());
const result = { content: [{ type: "text", text: "ok" }], structuredContent: { ok: true } };

function peer(name: string, versions: string[]): Peer {
  return {
    serverName: name, endpoint: "http://127.0.0.1:1", version: "1.0", versions, components: [], keyId: bob.keyId, publicKey: "", key: verifyKeyOf(bob),
    limits: {} as Peer["limits"], discoveredTs: 0, expiresTs: 0,
  };
}

/** An intermediate that answers whatever `answer` makes of the hop it received; records every hop body. */
function intermediate(answer: (body: ForwardedCall) => Partial<HttpAnswer>): { sender: FederationSender; hops: ForwardedCall[] } {
  const hops: ForwardedCall[] = [];
  const sender: FederationSender = {
    request: async (_d, _m, _p, body) => {
      hops.push(body as ForwardedCall);
      return { status: 200, headers: {}, raw: Buffer.alloc(0), ...answer(body as ForwardedCall) } as HttpAnswer;
    },
  };
  return { sender, hops };
}

function origin(sender: FederationSender, versions = ["1.0", "1.1"]) {
  return new ForwardOrigin({
    self: "alice.test", key: alice, skewMs: 60_000, federation: sender, envelopes: new ForwardEnvelopeStore(openDatabase(":memory:")),
    knownPeer: (s) => (s === "bob.test" ? peer(s, versions) : undefined),
    discover: async (s) => peer(s, s === "old.test" ? ["1.0"] : ["1.0", "1.1"]),
  });
}

const call = (id: string): RemoteCall => ({ origin: "alice.test", call_id: id, target: "smcp://bob.test/vikunja", tool: "create_task", params: { title: "x" }, timeout_ms: 1000 });

describe("ForwardOrigin accepts only the destination's own result for its envelope", () => {
  it("FWD-25: bob's signed result is accepted and unwrapped as a RemoteCallResult", async () => {
    const { sender } = intermediate((b) => ({ body: signForwardResult(bob, b.envelope, result) }));
    expect(await origin(sender).call(call("c1"), "bob.test", ["carol.test"])).toEqual({ call_id: "c1", target: "smcp://bob.test/vikunja", tool: "create_task", result });
  });

  const forgeries: Array<[string, (b: ForwardedCall) => ForwardResult]> = [
    ["signed by the intermediate", (b) => signForwardResult(carol, b.envelope, result)],
    ["result changed after bob signed", (b) => ({ ...signForwardResult(bob, b.envelope, result), result: { content: [{ type: "text", text: "forged" }] } })],
    ["another call's result", (b) => signForwardResult(bob, { ...b.envelope, call_id: "other" }, result)],
    ["result for another envelope of the same call", (b) => ({ ...signForwardResult(bob, { ...b.envelope, nonce: "AAAAAAAAAAAAAAAAAAAAAA" }, result), call_id: b.envelope.call_id })],
    ["not a ForwardResult", () => ({ hello: "world" }) as unknown as ForwardResult],
  ];
  for (const [what, forge] of forgeries) {
    it(`FWD-25: refuses a result ${what} (502 naming the destination)`, async () => {
      const { sender } = intermediate((b) => ({ body: forge(b) }));
      const err = await errorOf(origin(sender).call(call(`c-${what}`), "bob.test", ["carol.test"]));
      expect(err.errcode).toBe("SMCP_PEER_UNREACHABLE");
      expect(err.extra.hop).toBe("bob.test");
    });
  }

  it("FWD-28, FWD-04: a retry of the same call_id carries the identical envelope, also through another intermediate", async () => {
    const { sender, hops } = intermediate((b) => ({ status: 502, body: { errcode: "SMCP_PEER_UNREACHABLE", error: "x", retry_after_ms: 1, hop: "bob.test" } }));
    const o = origin(sender);
    await errorOf(o.call(call("same"), "bob.test", ["carol.test", "dave.test"]));
    await errorOf(o.call(call("same"), "bob.test", ["dave.test"]));
    expect(hops).toHaveLength(3);
    expect(new Set(hops.map((h) => JSON.stringify(h.envelope))).size).toBe(1);
    // other arguments under the same call_id are another call: a new envelope (the destination will answer 409)
    await errorOf(o.call({ ...call("same"), params: { title: "y" } }, "bob.test", ["carol.test"]));
    expect(hops[3]!.envelope.signature).not.toBe(hops[0]!.envelope.signature);
  });

  it("FWD-01, FWD-03: no forwarding toward a destination known only as 1.0, or not discovered by us at all", async () => {
    const { sender, hops } = intermediate(() => ({}));
    expect(origin(sender, ["1.0"]).canForwardTo("bob.test")).toBe(false);
    expect((await errorOf(origin(sender, ["1.0"]).call(call("v10"), "bob.test", ["carol.test"]))).errcode).toBe("SMCP_PEER_UNREACHABLE");
    expect((await errorOf(origin(sender).call({ ...call("nokey"), target: "smcp://zed.test/vikunja" }, "zed.test", ["carol.test"]))).errcode).toBe("SMCP_PEER_UNREACHABLE");
    expect(hops).toHaveLength(0);
  });

  it("FWD-01: an intermediate whose discovery lists only 1.0 is skipped for the next one, with the same envelope", async () => {
    const { sender, hops } = intermediate((b) => ({ body: signForwardResult(bob, b.envelope, result) }));
    const r = await origin(sender).call(call("via10"), "bob.test", ["old.test", "carol.test"]);
    expect(r.call_id).toBe("via10");
    expect(hops).toHaveLength(1);
    const only10 = await errorOf(origin(sender).call(call("only10"), "bob.test", ["old.test"]));
    expect([only10.errcode, only10.extra.hop]).toEqual(["SMCP_PEER_UNREACHABLE", "old.test"]);
    expect(hops).toHaveLength(1);
  });
});
