// Conformance harness: TLS checks (`--tls` only, spec §6.3 DISC-13, DISC-15) — the instance serves HTTPS, trusts a peer
// whose certificate the run's CA issued for the host connected to, and refuses to discover or send to a peer whose
// certificate is for another name, from a CA it was not given, or expired, on the first hop, a redirect or the endpoint.
import type { PeerList, ServerDiscovery } from "../../protocol/types.ts";
import { CheckFailure, ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { TlsFront, type FrontAnswer } from "../tls-front.ts";
import type { RunTls, ServingCert } from "../tls-material.ts";
import { runTls } from "../tls-transport.ts";
import { known } from "./support/state.ts";
import { uid, unsignedGet } from "./support/requests.ts";

/** Why the adv/tls checks are reported excluded in a plain-HTTP run (never passed). */
export const TLS_ONLY_REASON = "TLS check: runs only with --tls (the whole run over HTTPS with the harness's own CA)";

const PING = { method: "GET" as const, path: "/federation/v1/ping" };

function material(): RunTls {
  const tls = runTls();
  if (!tls) throw new CheckFailure("adv/tls checks need a --tls run", "--tls", "a plain-HTTP run", "harness-error");
  return tls;
}

type CertChoice = (tls: RunTls) => ServingCert;

interface FreshPeer {
  peer: FakePeer;
  front?: TlsFront;
}

/**
 * A fresh fake identity (no cached discovery hides anything) served with `serve`'s certificate, known to the target;
 * the target's mapping points at the peer itself, or at a front that redirects to it or serves its document.
 */
async function freshPeer(ctx: CheckContext, role: Role, label: string, serve: CertChoice, front?: { cert: CertChoice; answer: (peer: FakePeer) => FrontAnswer }): Promise<FreshPeer> {
  const tls = material();
  const t = known(ctx, role);
  const peer = await FakePeer.start(`tls-${label}-${ctx.runId}-${role[0]}.test`, ctx.recorder, {}, { tls: serve(tls) });
  let started: TlsFront | undefined;
  try {
    peer.addInstance(t.name, t.discovery.endpoint, t.key);
    if (front) started = await TlsFront.listen(front.cert(tls), front.answer(peer));
    await t.control.mapHost(peer.name, started?.url ?? peer.url);
    return started ? { peer, front: started } : { peer };
  } catch (err) {
    await Promise.all([peer.close(), started?.close()]);
    throw err;
  }
}

async function closeAll(p: FreshPeer): Promise<void> {
  await Promise.all([p.peer.close(), p.front?.close()]);
}

/** The peer is trusted: forced discovery answers its PeerInfo and its signed ping is served. */
async function expectTrusted(ctx: CheckContext, role: Role, p: FreshPeer, what: string): Promise<void> {
  const t = known(ctx, role);
  const info = await t.control.discover(p.peer.name);
  ensure(info.key_id === p.peer.keyId, `${what}: discovered key differs from the peer's`, p.peer.keyId, info.key_id);
  expectOk(await p.peer.send(t.name, PING), "Ping", `signed ping from ${what}`, 200);
}

/**
 * The peer is refused: forced discovery answers 502 SMCP_PEER_UNREACHABLE (CTRL-09), its signed ping 401
 * SMCP_UNKNOWN_KEY (SIGN-32), and it is not recorded as a peer (the instance does not federate with it).
 */
async function expectRefused(ctx: CheckContext, role: Role, p: FreshPeer, what: string): Promise<void> {
  const t = known(ctx, role);
  const discovered = await t.control.request("POST", "/control/v1/peers", { server_name: p.peer.name });
  if (discovered.status === 200) {
    throw new CheckFailure(`POST /control/v1/peers: discovered a peer ${what} — the certificate was not validated (DISC-13)`, "502 SMCP_PEER_UNREACHABLE", `200 ${discovered.raw.toString("utf8").slice(0, 300)}`);
  }
  expectError(discovered, "SMCP_PEER_UNREACHABLE", `POST /control/v1/peers for a peer ${what}`);
  expectError(await p.peer.send(t.name, PING), "SMCP_UNKNOWN_KEY", `signed ping from a peer ${what}`);
  const list = expectOk<PeerList>(await t.control.request("GET", "/control/v1/peers"), "PeerList", "GET /control/v1/peers");
  ensure(!list.peers.some((x) => x.server_name === p.peer.name), `a peer ${what} is recorded as a peer`, `no ${p.peer.name}`, list.peers.map((x) => x.server_name));
  const failed = p.peer.handshakeFailures + (p.front?.handshakeFailures ?? 0);
  ctx.note(`${failed} TLS handshake(s) with the peer's servers were aborted by ${t.name}`);
}

const base = { level: "MUST" as const, prerequisites: ["sc/discovery/well-known@@"] };
const afterBaseline = { level: "MUST" as const, prerequisites: ["adv/tls/baseline@@"] };

const httpsEndpoint = perTarget((role) => ({
  level: "MUST" as const,
  // Not after the well-known check: an instance advertising http:// on its HTTPS port fails that one for this reason.
  prerequisites: ["sc/control/instance@@"],
  id: "adv/tls/https-endpoint",
  name: "the instance serves its discovery document, federation API and Control API over HTTPS (a certificate from the run's CA for 127.0.0.1) and advertises an https:// endpoint",
  requirements: ["DISC-13", "DISC-03"],
  async run(ctx: CheckContext) {
    const t = target(ctx, role);
    // Every exchange so far went through clients that trust only the run's CA: the certificates were checked there.
    ensure(t.baseUrl.startsWith("https://"), "the Control API is not served over HTTPS", "https://…", t.baseUrl);
    const info = await t.control.instance();
    ensure(info.endpoint.startsWith("https://"), "the instance advertises a plain-HTTP endpoint although it serves HTTPS (DISC-03: the endpoint is where it serves /federation/v1)", "https://…", info.endpoint);
    const doc = expectOk<ServerDiscovery>(await unsignedGet(ctx, `${info.endpoint}/.well-known/smcp/server`, `well-known@${role}`), "ServerDiscovery", "GET /.well-known/smcp/server over HTTPS", 200);
    ensure(doc.endpoint.startsWith("https://"), "the discovery document advertises a plain-HTTP endpoint although the instance serves HTTPS", "https://…", doc.endpoint);
  },
}));

const baseline = perTarget((role) => ({
  ...base,
  id: "adv/tls/baseline",
  name: "a fresh peer served over HTTPS with a certificate from the CA the instance was given, for the host connected to, is discovered and trusted (control case for adv/tls)",
  requirements: ["DISC-13", "DISC-21", "CTRL-08"],
  async run(ctx: CheckContext) {
    const p = await freshPeer(ctx, role, "good", (tls) => tls.fakePeer);
    try {
      await expectTrusted(ctx, role, p, "a peer with a valid certificate");
    } finally {
      await closeAll(p);
    }
  },
}));

/** A peer whose own server presents `cert`: the instance must not discover, trust or record it. */
function refusalCheck(id: string, name: string, label: string, cert: CertChoice, what: string): Check[] {
  return perTarget((role) => ({
    ...afterBaseline,
    id,
    name,
    requirements: ["DISC-13", "CTRL-09", "SIGN-32"],
    async run(ctx: CheckContext) {
      const p = await freshPeer(ctx, role, label, cert);
      try {
        await expectRefused(ctx, role, p, what);
      } finally {
        await closeAll(p);
      }
    },
  }));
}

const redirectFollowed = perTarget((role) => ({
  ...base,
  id: "adv/tls/redirect-followed",
  name: "a well-known request redirected (302) from one HTTPS host to another, both with valid certificates, is followed and the peer trusted (control case for adv/tls/redirect-untrusted)",
  requirements: ["DISC-15", "DISC-13"],
  async run(ctx: CheckContext) {
    const p = await freshPeer(ctx, role, "redirect-ok", (tls) => tls.fakePeer, { cert: (tls) => tls.fakePeer, answer: (peer) => ({ redirectTo: peer.url }) });
    try {
      await expectTrusted(ctx, role, p, "a peer reached through an HTTPS redirect");
      ensure(p.front!.requests > 0, "the mapped host was never asked for the well-known document", "≥ 1 request to the mapped host", 0);
    } finally {
      await closeAll(p);
    }
  },
}));

const redirectUntrusted = perTarget((role) => ({
  ...afterBaseline,
  id: "adv/tls/redirect-untrusted",
  name: "a well-known request redirected from a valid HTTPS host to one whose certificate comes from an untrusted CA is a failed discovery: the certificate rule applies to every hop",
  requirements: ["DISC-15", "DISC-13", "CTRL-09"],
  prerequisites: ["adv/tls/redirect-followed@@"],
  async run(ctx: CheckContext) {
    const p = await freshPeer(ctx, role, "redirect-bad", (tls) => tls.bad.untrustedCa, { cert: (tls) => tls.fakePeer, answer: (peer) => ({ redirectTo: peer.url }) });
    try {
      await expectRefused(ctx, role, p, "whose redirect target presents a certificate from an untrusted CA");
      ensure(p.front!.requests > 0, "the mapped host was never asked for the well-known document, so the redirect was not exercised", "≥ 1 request to the mapped host", 0);
    } finally {
      await closeAll(p);
    }
  },
}));

const endpointUntrusted = perTarget((role) => ({
  ...afterBaseline,
  id: "adv/tls/endpoint-untrusted",
  name: "federation requests use certificate validation too: a peer discovered over a valid HTTPS host whose endpoint presents an untrusted certificate is never sent the invite (502 SMCP_PEER_UNREACHABLE)",
  requirements: ["DISC-13", "DISC-08", "CTRL-16"],
  async run(ctx: CheckContext) {
    const t = known(ctx, role);
    const p = await freshPeer(ctx, role, "endpoint-bad", (tls) => tls.bad.untrustedCa, { cert: (tls) => tls.fakePeer, answer: (peer) => ({ document: () => peer.discoveryDocument() }) });
    try {
      const info = await t.control.discover(p.peer.name);
      ensure(info.endpoint === p.peer.url, "the discovered endpoint is not the document's", p.peer.url, info.endpoint);
      const channel = (await t.control.createChannel(uid(ctx, "tls"))).channel;
      const invite = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(channel)}/invites`, { server: p.peer.name });
      ensure(p.peer.invitedTo.size === 0, "the invite was delivered to an endpoint whose certificate comes from an untrusted CA (DISC-13)", "no invite received", [...p.peer.invitedTo]);
      ensure(p.front!.strays.length === 0, "federation requests went to the mapped discovery host instead of the document's endpoint (DISC-08)", "none", p.front!.strays);
      expectError(invite, "SMCP_PEER_UNREACHABLE", "invite of a peer whose endpoint presents an untrusted certificate");
      ctx.note(`${p.peer.handshakeFailures} TLS handshake(s) with the endpoint were aborted by ${t.name}`);
    } finally {
      await closeAll(p);
    }
  },
}));

export const tlsChecks: Check[] = [
  ...httpsEndpoint,
  ...baseline,
  ...refusalCheck("adv/tls/untrusted-ca", "a peer whose certificate, for the host connected to, comes from a CA the instance was not given is refused: no discovery, no trust, not recorded", "stranger", (tls) => tls.bad.untrustedCa, "with a certificate from an untrusted CA"),
  ...refusalCheck("adv/tls/wrong-name", "a peer whose certificate comes from the trusted CA but names another host (not 127.0.0.1) is refused: no discovery, no trust, not recorded", "wrong-name", (tls) => tls.bad.wrongName, "with a certificate for another host name"),
  ...refusalCheck("adv/tls/expired", "a peer whose certificate from the trusted CA, for the host connected to, has expired is refused: no discovery, no trust, not recorded", "expired", (tls) => tls.bad.expired, "with an expired certificate"),
  ...redirectFollowed,
  ...redirectUntrusted,
  ...endpointUntrusted,
];

/** The checks a run without --tls cannot run, with the reason it reports them excluded. */
export function tlsUnavailable(tls: boolean): Map<string, string> {
  return new Map(tls ? [] : tlsChecks.map((c) => [c.id, TLS_ONLY_REASON]));
}
