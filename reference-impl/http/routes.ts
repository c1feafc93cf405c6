// HTTP edge of the reference instance (Paulina, Vendela, Naomi, Roshumba): the route table for every endpoint of
// spec/routes/federation.tsp and spec/routes/control.tsp.
import { SmcpError } from "../../protocol/errors.ts";
import { makeKeyDocument } from "../../protocol/key-document.ts";
import { formatPublicKey, type SigningKey } from "../../protocol/keys.ts";
import { LONG_POLL_MAX_WAIT_MS, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from "../../protocol/limits.ts";
import type {
  CallTool, CreateChannel, DiscoverPeer, ForwardedCall, ForwardResult, HostMapping, InstanceInfo, Invite, Leave, Limits, PeerInfo, PublishEvent,
  RegistryListing, RemoteCall, RemoteCallResult, ServerDiscovery, Transaction,
} from "../../protocol/types.ts";
import type { Judith } from "../judith/judith.ts";
import { judithRoutes } from "../judith/routes.ts";
import { PREFERRED_VERSION } from "../../protocol/versions.ts";
import type { Naomi } from "../naomi/naomi.ts";
import type { Discovery, Peer } from "../paulina/discovery.ts";
import type { Vendela } from "../vendela/vendela.ts";
import type { Gail } from "../gail/gail.ts";
import { gailRoutes } from "../gail/routes.ts";
import type { Kathy } from "../kathy/kathy.ts";
import { kathyRoutes } from "../kathy/routes.ts";
import type { RequestContext, Route } from "./server.ts";

/** The version a default instance prefers and advertises as `version` (spec §14); `RouteServices.version` is the instance's own. */
export const PROTOCOL_VERSION = PREFERRED_VERSION;
export const SMCP_SERVICES = ["naomi", "paulina", "roshumba", "vendela"];

/** What the routes need of Roshumba (reference-impl/roshumba/router.ts). */
export interface CallRouter {
  handleIncoming(origin: string, call: RemoteCall, bodySha256: string): Promise<RemoteCallResult>;
  callRemote(req: CallTool): Promise<RemoteCallResult>;
  registryFor(origin: string): RegistryListing;
}

export interface RouteServices {
  self: string;
  endpoint: () => string;
  key: SigningKey;
  limits: Limits;
  components: () => string[];
  discovery: Discovery;
  naomi: Naomi;
  vendela: Vendela;
  roshumba: () => CallRouter;
  /** 1.1 forwarded calls (reference-impl/roshumba/forwarder.ts, spec §10.6). */
  forwarder: () => { handle(sender: string, call: ForwardedCall): Promise<ForwardResult> };
  now: () => number;
  /** Optional profiles (spec §18) this instance runs; their routes always exist and answer 404 for a profile that is off. */
  profiles?: { gail?: Gail; kathy?: Kathy };
  /** The Judith profile (spec §18.1), when enabled; its routes answer 404 otherwise. */
  judith?: () => Judith | undefined;
  /** The protocol versions this instance speaks (discovery `versions`, spec §14) and the one it prefers (`version`). */
  versions: readonly string[];
  version: string;
}

const ok = (body: unknown, status = 200) => ({ status, body });

export function buildRoutes(services: RouteServices): Route[] {
  const s = withProfiles(services);
  return [...publicRoutes(s), ...federationRoutes(s), ...controlRoutes(s), ...gailRoutes(() => s.profiles?.gail), ...kathyRoutes(() => s.profiles?.kathy), ...judithRoutes(s.judith ?? (() => undefined))];
}

/** The discovery and instance `components` also list the optional profiles enabled (spec §18). */
function withProfiles(s: RouteServices): RouteServices {
  const p = s.profiles;
  if (!p) return s;
  const names = [...(p.gail ? ["gail"] : []), ...(p.kathy ? ["kathy"] : [])];
  return { ...s, components: () => [...new Set([...services(s), ...names])].sort() };
}

const services = (s: RouteServices): string[] => s.components();

/** A channel created through the Control API may be one a profile serves (Gail's log channel). */
function created<T extends { body: unknown }>(s: RouteServices, reply: T): T {
  s.profiles?.gail?.channelCreated((reply.body as { channel: string }).channel);
  return reply;
}

function publicRoutes(s: RouteServices): Route[] {
  return [
    { method: "GET", path: "/.well-known/smcp/server", kind: "public", response: "ServerDiscovery", handler: () => ok(discoveryDocument(s)) },
    { method: "GET", path: "/federation/v1/keys", kind: "public", response: "KeyDocument", handler: () => ok(makeKeyDocument(s.self, s.key, s.now())) },
  ];
}

export function discoveryDocument(s: RouteServices): ServerDiscovery {
  return {
    server_name: s.self,
    endpoint: s.endpoint(),
    version: s.version,
    versions: [...s.versions],
    components: s.components(),
    key_id: s.key.keyId,
    public_key: formatPublicKey(s.key.publicKey),
    limits: s.limits,
  };
}

/** A 1.1 endpoint: a 1.0-only instance (--protocol-versions 1.0) has no such endpoint (spec §14 VER-11). */
function since11<T>(s: RouteServices, value: T): T {
  if (!s.versions.includes("1.1")) throw new SmcpError("SMCP_NOT_FOUND", "no such endpoint: this instance speaks protocol 1.0 only");
  return value;
}

function origin(ctx: RequestContext): string {
  return ctx.auth!.origin;
}

function federationRoutes(s: RouteServices): Route[] {
  return [
    { method: "GET", path: "/federation/v1/ping", kind: "federation", response: "Ping", handler: () => ok(s.vendela.ping()) },
    {
      method: "GET", path: "/federation/v1/registry", kind: "federation", response: "RegistryListing",
      handler: (ctx) => ok(s.roshumba().registryFor(origin(ctx))),
    },
    {
      method: "POST", path: "/federation/v1/invite", kind: "federation", body: "Invite", response: "InviteAnswer",
      handler: (ctx) => ok(s.naomi.handleInvite(origin(ctx), ctx.body as Invite)),
    },
    {
      method: "POST", path: "/federation/v1/leave", kind: "federation", body: "Leave", response: "LeaveAnswer",
      handler: (ctx) => ok(s.naomi.handleLeave(origin(ctx), since11(s, ctx.body as Leave))),
    },
    {
      method: "PUT", path: "/federation/v1/send/{txn_id}", kind: "federation", body: "Transaction", params: { txn_id: "IdempotencyKey" },
      response: "TransactionResult",
      handler: async (ctx) => ok(await s.naomi.receiveTransaction(origin(ctx), ctx.originKey!, ctx.params.txn_id!, ctx.bodySha256, ctx.body as Transaction)),
    },
    {
      method: "GET", path: "/federation/v1/channels/{channel}/events", kind: "federation", params: { channel: "ChannelId" },
      query: { after: { min: 0, max: Number.MAX_SAFE_INTEGER, required: true }, limit: { min: 1, max: PAGE_LIMIT_MAX } }, response: "BackfillPage",
      handler: (ctx) => ok(s.naomi.serveBackfill(origin(ctx), ctx.params.channel!, ctx.query.after!, ctx.query.limit ?? PAGE_LIMIT_DEFAULT)),
    },
    {
      method: "POST", path: "/federation/v1/call", kind: "federation", body: "RemoteCall", response: "RemoteCallResult",
      handler: async (ctx) => ok(await s.roshumba().handleIncoming(origin(ctx), ctx.body as RemoteCall, ctx.bodySha256)),
    },
    {
      method: "POST", path: "/federation/v1/forward", kind: "federation", body: "ForwardedCall", response: "ForwardResult",
      handler: async (ctx) => ok(await s.forwarder().handle(origin(ctx), since11(s, ctx.body as ForwardedCall))),
    },
  ];
}

function peerInfo(s: RouteServices, p: Peer): PeerInfo {
  return {
    server_name: p.serverName, endpoint: p.endpoint, version: p.version, components: p.components, key_id: p.keyId,
    public_key: p.publicKey, discovered_ts: p.discoveredTs, health: s.vendela.peerHealth(p.serverName),
    outbound: s.naomi.outboundInfo(p.serverName),
  };
}

function controlRoutes(s: RouteServices): Route[] {
  const channel = { channel: "ChannelId" };
  return [
    {
      method: "GET", path: "/control/v1/instance", kind: "control", response: "InstanceInfo",
      handler: () => ok({
        server_name: s.self, endpoint: s.endpoint(), key_id: s.key.keyId, public_key: formatPublicKey(s.key.publicKey),
        components: s.components(), version: s.version,
      } satisfies InstanceInfo),
    },
    { method: "GET", path: "/control/v1/peers", kind: "control", response: "PeerList", handler: () => ok({ peers: s.discovery.known().map((p) => peerInfo(s, p)) }) },
    {
      method: "POST", path: "/control/v1/peers", kind: "control", body: "DiscoverPeer", response: "PeerInfo",
      handler: async (ctx) => {
        const name = (ctx.body as DiscoverPeer).server_name;
        if (name === s.self) throw new SmcpError("SMCP_INVALID", "an instance does not discover itself");
        return ok(peerInfo(s, await s.discovery.discover(name, true)));
      },
    },
    {
      method: "PUT", path: "/control/v1/hosts/{server_name}", kind: "control", params: { server_name: "ServerName" }, body: "HostMapping",
      handler: (ctx) => {
        s.discovery.putHost(ctx.params.server_name!, (ctx.body as HostMapping).base_url);
        return { status: 204 };
      },
    },
    { method: "GET", path: "/control/v1/channels", kind: "control", response: "ChannelList", handler: () => ok({ channels: s.naomi.list() }) },
    {
      method: "POST", path: "/control/v1/channels", kind: "control", body: "CreateChannel", response: "ChannelInfo",
      handler: (ctx) => created(s, ok(s.naomi.createChannel((ctx.body as CreateChannel).name), 201)),
    },
    {
      method: "GET", path: "/control/v1/channels/{channel}", kind: "control", params: channel, response: "ChannelInfo",
      handler: (ctx) => ok(s.naomi.get(ctx.params.channel!)),
    },
    {
      method: "POST", path: "/control/v1/channels/{channel}/invites", kind: "control", params: channel, body: "InviteServer", response: "InviteOutcome",
      handler: async (ctx) => ok(await s.naomi.invite(ctx.params.channel!, (ctx.body as { server: string }).server)),
    },
    {
      method: "DELETE", path: "/control/v1/channels/{channel}/members/{server}", kind: "control",
      params: { ...channel, server: "ServerName" }, response: "ChannelInfo",
      handler: (ctx) => ok(s.naomi.removeMember(ctx.params.channel!, ctx.params.server!)),
    },
    {
      method: "POST", path: "/control/v1/channels/{channel}/leave", kind: "control", params: channel, response: "ChannelInfo",
      handler: async (ctx) => ok(await s.naomi.leave(since11(s, ctx.params.channel!))),
    },
    {
      method: "POST", path: "/control/v1/channels/{channel}/events", kind: "control", params: channel, body: "PublishEvent", response: "PublishResult",
      handler: async (ctx) => {
        const body = ctx.body as PublishEvent;
        return ok(await s.naomi.publish(ctx.params.channel!, body.type, body.data));
      },
    },
    {
      method: "GET", path: "/control/v1/channels/{channel}/events", kind: "control", params: channel, response: "EventList",
      query: { after: { min: 0, max: Number.MAX_SAFE_INTEGER }, limit: { min: 1, max: PAGE_LIMIT_MAX }, wait_ms: { min: 0, max: LONG_POLL_MAX_WAIT_MS } },
      handler: async (ctx) => ok(await s.naomi.read(ctx.params.channel!, ctx.query.after ?? 0, ctx.query.limit ?? PAGE_LIMIT_DEFAULT, ctx.query.wait_ms ?? 0, () => ctx.signal)),
    },
    {
      method: "POST", path: "/control/v1/calls", kind: "control", body: "CallTool", response: "RemoteCallResult",
      handler: async (ctx) => ok(await s.roshumba().callRemote(ctx.body as CallTool)),
    },
  ];
}
