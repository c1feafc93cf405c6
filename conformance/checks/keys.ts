// Conformance harness: malicious discovery — peers whose well-known document lies (small-order key, key ID not derived
// from the key, another server's name). Each is a fresh fake identity, so no cached discovery hides the check (spec §4, §6.1).
import { encodeBase64Url } from "../../protocol/base64url.ts";
import { keyIdFor } from "../../protocol/keys.ts";
import type { ServerDiscovery } from "../../protocol/types.ts";
import { expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { known } from "./util.ts";

/** The identity point (y = 1): a valid encoding of a point of order 1, the archetypal small-order key. */
const SMALL_ORDER = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);

/** Starts a one-off lying peer, maps it into the target, and has it send a signed ping. */
async function lyingPing(ctx: CheckContext, role: Role, label: string, lie: (real: ServerDiscovery) => Partial<ServerDiscovery>) {
  const t = known(ctx, role);
  const liar = await FakePeer.start(`${label}-${ctx.runId}-${role[0]}.test`, ctx.recorder);
  try {
    liar.discoveryOverride = lie(liar.discoveryDocument());
    liar.addInstance(t.name, t.discovery.endpoint, t.key);
    await t.control.mapHost(liar.name, liar.url);
    // The fake signs under its advertised key ID, so that only the receiver's own checks of the document catch the lie.
    return await liar.send(t.name, { method: "GET", path: "/federation/v1/ping" });
  } finally {
    await liar.close();
  }
}

/** Control case: an honest fresh identity gets through the same path, so the lie checks cannot pass vacuously. */
const honestFreshPeer = perTarget((role) => ({
  id: "adv/keys/fresh-peer-baseline",
  name: "a fresh peer with an honest discovery document, mapped the same way, is served (control case for adv/keys)",
  requirements: ["KEY-06", "DISC-21"],
  level: "MUST" as const,
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx: CheckContext) {
    expectOk(await lyingPing(ctx, role, "honest", () => ({})), "Ping", "ping from an honest fresh peer", 200);
  },
}));

function lieCheck(id: string, name: string, requirements: string[], label: string, lie: (real: ServerDiscovery) => Partial<ServerDiscovery>): Check[] {
  return perTarget((role) => ({
    id,
    name,
    requirements,
    level: "MUST",
    prerequisites: ["adv/keys/fresh-peer-baseline@@"],
    async run(ctx) {
      expectError(await lyingPing(ctx, role, label, lie), [[401, "SMCP_UNKNOWN_KEY"]], `ping from a peer whose discovery ${label}`);
    },
  }));
}

export const keyChecks: Check[] = [
  ...honestFreshPeer,
  ...lieCheck("adv/keys/small-order-key", "a peer advertising a small-order public key is never trusted: its requests get 401 SMCP_UNKNOWN_KEY", ["KEY-19", "KEY-23", "KEY-07"], "small-order", () => ({
    public_key: `ed25519:${encodeBase64Url(SMALL_ORDER)}`,
    key_id: keyIdFor(SMALL_ORDER),
  })),
  ...lieCheck("adv/keys/underived-key-id", "a peer whose key_id is not derived from its public key is not trusted (401 SMCP_UNKNOWN_KEY)", ["KEY-02", "KEY-07"], "bad-keyid", (real) => ({
    key_id: real.key_id.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
  })),
  ...lieCheck("adv/keys/wrong-server-name", "a discovery document naming another server is refused (401 SMCP_UNKNOWN_KEY)", ["DISC-07", "DISC-02"], "wrong-name", () => ({
    server_name: "someone-else.test",
  })),
];
