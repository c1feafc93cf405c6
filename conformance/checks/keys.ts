// Conformance harness: malicious discovery — peers whose well-known document lies (small-order key, key ID not derived
// from the key, another server's name). Each is a fresh fake identity, so no cached discovery hides the check (spec §4, §6.1).
import { encodeBase64Url } from "../../protocol/base64url.ts";
import { keyIdFor } from "../../protocol/keys.ts";
import type { PeerList, ServerDiscovery } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { freePort } from "../deployment.ts";
import { FakePeer, type ReceiverFaults } from "../fake-peer.ts";
import { known } from "./support/state.ts";

/** The identity point (y = 1): a valid encoding of a point of order 1, the archetypal small-order key. */
const SMALL_ORDER = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);

/** Starts a one-off lying peer, maps it into the target, and has it send a signed ping. */
async function lyingPing(ctx: CheckContext, role: Role, label: string, lie: (real: ServerDiscovery) => Partial<ServerDiscovery>, faults: ReceiverFaults = {}) {
  const t = known(ctx, role);
  const liar = await FakePeer.start(`${label}-${ctx.runId}-${role[0]}.test`, ctx.recorder, faults);
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
  requirements: ["KEY-06", "DISC-21", "REG-02"],
  level: "MUST" as const,
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx: CheckContext) {
    expectOk(await lyingPing(ctx, role, "honest", () => ({})), "Ping", "ping from an honest fresh peer", 200);
    // The instance discovered the fresh peer only to authenticate its ping; Paulina must have recorded it (REG-02).
    const t = known(ctx, role);
    const list = expectOk<PeerList>(await t.control.request("GET", "/control/v1/peers"), "PeerList", "GET /control/v1/peers");
    const name = `honest-${ctx.runId}-${role[0]}.test`;
    ensure(list.peers.some((p) => p.server_name === name), "a server discovered to authenticate an inbound request is not recorded as a peer", name, list.peers.map((p) => p.server_name));
  },
}));

/**
 * A fresh peer whose discovery document lies (`lie`) or is served oddly (`faults`); `trusted` says whether the
 * instance must accept its signed ping (200) or refuse it as a failed discovery (401 SMCP_UNKNOWN_KEY).
 */
function discoveryCheck(
  id: string,
  name: string,
  requirements: string[],
  label: string,
  how: { lie?: (real: ServerDiscovery) => Partial<ServerDiscovery>; faults?: ReceiverFaults; trusted: boolean },
): Check[] {
  return perTarget((role) => ({
    id,
    name,
    requirements,
    level: "MUST",
    prerequisites: ["adv/keys/fresh-peer-baseline@@"],
    async run(ctx) {
      const a = await lyingPing(ctx, role, label, how.lie ?? (() => ({})), how.faults);
      const where = `ping from a peer whose discovery ${label}`;
      if (how.trusted) expectOk(a, "Ping", where, 200);
      else expectError(a, "SMCP_UNKNOWN_KEY", where);
    },
  }));
}

/** A lie in the discovery document: the peer must not be trusted. */
function lieCheck(id: string, name: string, requirements: string[], label: string, lie: (real: ServerDiscovery) => Partial<ServerDiscovery>): Check[] {
  return discoveryCheck(id, name, requirements, label, { lie, trusted: false });
}

/** Discovery served through redirects or with another status. */
function servingCheck(id: string, name: string, requirements: string[], label: string, faults: ReceiverFaults, trusted: boolean): Check[] {
  return discoveryCheck(id, name, requirements, label, { faults, trusted });
}

const remapDropsFailure = perTarget((role) => ({
  id: "adv/keys/remap-drops-failure",
  name: "a new host mapping drops a cached discovery failure: a peer first mapped to a dead address is served right after remapping",
  requirements: ["DISC-23", "SIGN-32"],
  level: "MUST" as const,
  prerequisites: ["adv/keys/fresh-peer-baseline@@"],
  async run(ctx: CheckContext) {
    const t = known(ctx, role);
    const peer = await FakePeer.start(`remap-${ctx.runId}-${role[0]}.test`, ctx.recorder);
    try {
      peer.addInstance(t.name, t.discovery.endpoint, t.key);
      await t.control.mapHost(peer.name, `http://127.0.0.1:${await freePort()}`);
      const ping = { method: "GET" as const, path: "/federation/v1/ping" };
      expectError(await peer.send(t.name, ping), "SMCP_UNKNOWN_KEY", "ping while the peer's mapping points at a closed port");
      // The failure is now cached with back-off (DISC-17); only the new mapping (DISC-23) lets the next ping through.
      await t.control.mapHost(peer.name, peer.url);
      expectOk(await peer.send(t.name, ping), "Ping", "ping right after remapping", 200);
    } finally {
      await peer.close();
    }
  },
}));

export const keyChecks: Check[] = [
  ...honestFreshPeer,
  ...remapDropsFailure,
  ...lieCheck("adv/keys/no-common-version", "a peer whose discovery lists only version 2.0 is a failed discovery: its requests get 401 SMCP_UNKNOWN_KEY", ["VER-08"], "v2-only", () => ({
    version: "2.0",
    versions: ["2.0"],
  })),
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
  ...lieCheck("adv/keys/remote-http-endpoint", "a discovery document whose endpoint is plain http on a non-loopback host is refused (401 SMCP_UNKNOWN_KEY)", ["DISC-14"], "remote-http", () => ({
    endpoint: "http://192.0.2.7:8080",
  })),
  ...servingCheck("adv/keys/discovery-not-200", "a valid discovery document served with status 203 is a failed discovery (401 SMCP_UNKNOWN_KEY)", ["DISC-18"], "status-203", { wellKnownStatus: 203 }, false),
  ...servingCheck("adv/keys/discovery-redirect", "a well-known request redirected once (302, loopback http) is followed and the peer trusted", ["DISC-15"], "redirect-1", { wellKnownRedirects: 1 }, true),
  ...servingCheck("adv/keys/discovery-too-many-redirects", "a well-known request redirected 6 times is a failed discovery (401 SMCP_UNKNOWN_KEY)", ["DISC-15"], "redirect-6", { wellKnownRedirects: 6 }, false),
];
