// Test support (conformance harness self-tests): a small instance whose per-origin state (txn_id, call_id, nonce, rate bucket,
// membership) is keyed per origin as spec §5.5, §5.7, §8.4 and §10 say — or, with faults, by the ID alone — and which
// re-serves the events it holds through the Control API (spec-correct variants included: members in another order).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { canonicalJson } from "../../protocol/canonical-json.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { eventProblem, finaliseEvent, signHead } from "../../protocol/events.ts";
import { createDispatcher, sendRaw } from "../../protocol/http-client.ts";
import { JSON_TYPE, parseJsonBody, readBody, sendError, sendJson } from "../../protocol/http.ts";
import { parseChannelId } from "../../protocol/identity.ts";
import { parsePublicKey, verifyKeyFrom, type SigningKey, type VerifyKey } from "../../protocol/keys.ts";
import { authenticateRequest, ReplayCache } from "../../protocol/request-auth.ts";
import { AUTH_HEADER, signRequest } from "../../protocol/signing.ts";
import type { Event, InviteAnswer, RemoteCall, ServerDiscovery, Submission, Transaction, TransactionResult } from "../../protocol/types.ts";

export interface PerOriginFaults {
  /** Transaction results are keyed by txn_id alone (TXN-16/17 say (origin, txn_id)). */
  txnById?: boolean;
  /** Call outcomes are keyed by call_id alone (CALL-10/12 say (origin, call_id)). */
  callById?: boolean;
  /** The replay cache is keyed by nonce alone (SIGN-38 says (origin, nonce)). */
  nonceById?: boolean;
  /** One token bucket for every origin (RATE-01 says one per origin). */
  sharedRateBucket?: boolean;
  /** Rights follow any remote member of a channel, not the origin's own membership (CALL-21/22, TXN-11, DLV-17). */
  membershipAnyOrigin?: boolean;
  /** Re-serves events with every object's members in reverse order: spec-correct (member order carries no meaning). */
  reorderMembers?: boolean;
  /** Stores published data with its members in JCS order, as an implementation keeping the canonical form does: spec-correct. */
  canonicalOrder?: boolean;
  /** Re-serves events without top-level members it does not know (EVT-16 forbids it). */
  dropUnknownMembers?: boolean;
  /** Keeps the key of the first peer it discovers only: later peers are listed but their requests are refused. */
  firstPeerOnly?: boolean;
  /** Sends every invite to the first host it was given, whoever the invitee. */
  inviteFirstHost?: boolean;
}

export const PER_ORIGIN_LIMITS = { rate_per_second: 5, rate_burst: 40 };

const EVENT_MEMBERS = new Set(["channel", "seq", "prev_event", "type", "sender", "origin_ts", "hub_ts", "data", "event_id", "hub_signature"]);

export interface PerOriginInstance {
  url: string;
  /** Channels it hubs, with their members (the instance itself included). */
  members: Map<string, Set<string>>;
  /** Creates `!name:<self>` with these remote members. */
  hubChannel(name: string, members: string[]): string;
  close(): Promise<void>;
}

/** A replay cache that forgets whose nonce it recorded (the fault). */
class NonceOnlyCache extends ReplayCache {
  override add(_origin: string, nonce: string, expiresAt: number, now: number): "ok" | "replay" | "full" {
    return super.add("*", nonce, expiresAt, now);
  }
}

function reversed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversed);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)]));
  return v;
}

export async function perOriginInstance(name: string, key: SigningKey, trusted: Map<string, VerifyKey>, faults: PerOriginFaults = {}): Promise<PerOriginInstance> {
  const replay = faults.nonceById ? new NonceOnlyCache() : new ReplayCache();
  const buckets = new Map<string, { tokens: number; last: number }>();
  const members = new Map<string, Set<string>>();
  const chains = new Map<string, Event[]>();
  /** Events received from other hubs, by channel and seq. */
  const joined = new Map<string, Map<number, Event>>();
  const txns = new Map<string, { sha: string; result: TransactionResult }>();
  const calls = new Map<string, { sha: string; result: unknown }>();
  const submissions = new Map<string, { submission_id: string; event_id: string; seq: number }>();
  const tasks: Array<{ id: number; title: string; done: boolean }> = [];
  const hosts = new Map<string, string>();
  const dispatcher = createDispatcher();
  let discovered = 0;
  let txnCounter = 0;

  /** Sends a hubbed event, with the channel's head, to every member it has a host for (spec §8.2). */
  const fanOut = (channel: string, ev: Event): void => {
    const chain = chains.get(channel)!;
    const head = signHead(key, { channel, seq: chain.length, event_id: chain.at(-1)!.event_id, hub_ts: Date.now() });
    for (const member of members.get(channel) ?? []) {
      const to = hosts.get(member);
      if (member === name || !to) continue;
      const body = Buffer.from(JSON.stringify({ origin: name, origin_ts: Date.now(), events: [faults.reorderMembers ? reversed(ev) : ev], heads: [head] }));
      const path = `/federation/v1/send/t${++txnCounter}`;
      const auth = signRequest(key, { method: "PUT", uri: path, body, origin: name, destination: member });
      void sendRaw(dispatcher, to + path, { method: "PUT", headers: { [AUTH_HEADER]: auth, "content-type": JSON_TYPE }, body }).catch(() => undefined);
    }
  };

  const take = (origin: string): void => {
    const id = faults.sharedRateBucket ? "*" : origin;
    const now = Date.now();
    const b = buckets.get(id) ?? { tokens: PER_ORIGIN_LIMITS.rate_burst, last: now };
    b.tokens = Math.min(PER_ORIGIN_LIMITS.rate_burst, b.tokens + ((now - b.last) * PER_ORIGIN_LIMITS.rate_per_second) / 1000);
    b.last = now;
    buckets.set(id, b);
    if (b.tokens >= 1) return void (b.tokens -= 1);
    throw new SmcpError("SMCP_RATE_LIMITED", "bucket empty", { retryAfterMs: Math.ceil(((1 - b.tokens) * 1000) / PER_ORIGIN_LIMITS.rate_per_second) });
  };
  const isMember = (origin: string, channel: string): boolean => {
    const m = members.get(channel);
    if (!m) return false;
    return faults.membershipAnyOrigin ? [...m].some((x) => x !== name) : m.has(origin);
  };
  const mayCall = (origin: string): boolean => [...members.keys()].some((ch) => isMember(origin, ch));
  const append = (channel: string, type: string, sender: string, originTs: number, data: unknown): Event => {
    const chain = chains.get(channel)!;
    const ev = finaliseEvent(key, { channel, seq: chain.length + 1, prev_event: chain.at(-1)?.event_id ?? null, type, sender, origin_ts: originTs, hub_ts: Date.now(), data: data as never });
    chain.push(ev);
    return ev;
  };
  const hubChannel = (local: string, remote: string[]): string => {
    const id = `!${local}:${name}`;
    members.set(id, new Set([name, ...remote]));
    chains.set(id, []);
    append(id, "smcp:channel.create", name, Date.now(), { creator: name });
    return id;
  };

  const submit = (origin: string, sub: Submission, result: TransactionResult): void => {
    const reject = (errcode: TransactionResult["rejected"][number]["errcode"]): void => void result.rejected.push({ id: sub.submission_id, errcode, error: errcode });
    if (parseChannelId(sub.channel)?.hub !== name) return reject("SMCP_NOT_HUB");
    if (!chains.has(sub.channel)) return reject("SMCP_UNKNOWN_CHANNEL");
    if (sub.sender !== origin) return reject("SMCP_ORIGIN_MISMATCH");
    if (!isMember(origin, sub.channel)) return reject("SMCP_NOT_MEMBER");
    const k = `${sub.sender} ${sub.submission_id}`;
    let done = submissions.get(k);
    if (!done) {
      const ev = append(sub.channel, sub.type, sub.sender, sub.origin_ts, sub.data);
      done = { submission_id: sub.submission_id, event_id: ev.event_id, seq: ev.seq };
      submissions.set(k, done);
      setImmediate(() => fanOut(sub.channel, ev));
    }
    result.processed.push(sub.submission_id);
    result.sequenced.push(done);
  };
  const receiveEvent = (origin: string, ev: Event, result: TransactionResult): void => {
    const hubKey = trusted.get(origin);
    if (parseChannelId(ev.channel)?.hub !== origin || !hubKey) return void result.rejected.push({ id: ev.event_id, errcode: "SMCP_NOT_HUB", error: "not the hub" });
    const problem = eventProblem(hubKey, ev);
    if (problem) return void result.rejected.push({ id: ev.event_id, errcode: "SMCP_BAD_EVENT", error: problem });
    const held = joined.get(ev.channel) ?? new Map<number, Event>();
    joined.set(ev.channel, held);
    held.set(ev.seq, ev);
    result.processed.push(ev.event_id);
  };
  /** Idempotency per (origin, ID), or per ID alone with the fault; a repeat with other bytes is 409. */
  const once = <T>(store: Map<string, { sha: string; result: T }>, id: string, bytes: Buffer, run: () => T): T => {
    const sha = createHash("sha256").update(bytes).digest("base64url");
    const prior = store.get(id);
    if (prior && prior.sha !== sha) throw new SmcpError("SMCP_CONFLICT", `${id} was used with other bytes`);
    if (prior) return prior.result;
    const result = run();
    store.set(id, { sha, result });
    return result;
  };
  const served = (ev: Event): unknown => {
    const kept = faults.dropUnknownMembers ? Object.fromEntries(Object.entries(ev).filter(([k]) => EVENT_MEMBERS.has(k))) : ev;
    return faults.reorderMembers ? reversed(kept) : kept;
  };

  const federation = async (req: IncomingMessage, url: URL, bytes: Buffer): Promise<{ status: number; body: unknown }> => {
    const header = req.headers["x-smcp-authorization"];
    const auth = await authenticateRequest(
      { self: name, now: Date.now, maxSkewMs: 60_000, notBefore: 0, replay, lookupKey: async (o, k) => (trusted.get(o)?.keyId === k ? trusted.get(o)! : null) },
      Array.isArray(header) ? header[0] : header,
      { method: req.method ?? "GET", uri: req.url ?? "/", body: bytes },
    );
    const origin = auth.origin;
    take(origin);
    if (req.method === "GET" && url.pathname === "/federation/v1/ping") {
      return { status: 200, body: { server_name: name, ts: Date.now(), status: "ok", components: [{ name: "vikunja", status: "up" }] } };
    }
    const send = /^\/federation\/v1\/send\/([^/]+)$/.exec(url.pathname);
    if (req.method === "PUT" && send) {
      const txn = parseJsonBody(req, bytes) as Transaction;
      const id = faults.txnById ? send[1]! : `${origin} ${send[1]}`;
      return {
        status: 200,
        body: once(txns, id, bytes, () => {
          const result: TransactionResult = { processed: [], rejected: [], sequenced: [] };
          for (const ev of txn.events ?? []) receiveEvent(origin, ev, result);
          for (const sub of txn.submissions ?? []) submit(origin, sub, result);
          return result;
        }),
      };
    }
    if (req.method === "POST" && url.pathname === "/federation/v1/call") {
      if (!mayCall(origin)) throw new SmcpError("SMCP_FORBIDDEN", `${origin} shares no channel with ${name}`);
      const call = parseJsonBody(req, bytes) as RemoteCall;
      const id = faults.callById ? call.call_id : `${origin} ${call.call_id}`;
      const result = once(calls, id, bytes, () => {
        const title = (call.params as { title?: string }).title ?? "";
        const structuredContent = call.tool === "create_task" ? { task: (tasks.push({ id: tasks.length + 1, title, done: false }), tasks.at(-1)) } : { tasks: [...tasks] };
        return { call_id: call.call_id, target: call.target, tool: call.tool, result: { content: [], structuredContent } } as unknown;
      });
      return { status: 200, body: result };
    }
    const backfill = /^\/federation\/v1\/channels\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method === "GET" && backfill) {
      const channel = decodeURIComponent(backfill[1]!);
      const chain = chains.get(channel);
      if (!chain) throw new SmcpError("SMCP_UNKNOWN_CHANNEL", `no channel ${channel}`);
      if (!isMember(origin, channel)) throw new SmcpError("SMCP_NOT_MEMBER", `${origin} is not a member`);
      const after = Number(url.searchParams.get("after") ?? 0);
      const last = chain.at(-1)!;
      return { status: 200, body: { channel, events: chain.slice(after, after + 100), head: signHead(key, { channel, seq: last.seq, event_id: last.event_id, hub_ts: Date.now() }) } };
    }
    throw new SmcpError("SMCP_NOT_FOUND", "no such route");
  };

  /** The Control API the setup checks use: host mapping, peer discovery, channels, invites (spec §12). */
  const control = async (req: IncomingMessage, url: URL, bytes: Buffer): Promise<{ status: number; body: unknown } | undefined> => {
    const host = /^\/control\/v1\/hosts\/([^/]+)$/.exec(url.pathname);
    if (req.method === "PUT" && host) {
      hosts.set(decodeURIComponent(host[1]!), (parseJsonBody(req, bytes) as { base_url: string }).base_url);
      return { status: 200, body: {} };
    }
    if (req.method === "POST" && url.pathname === "/control/v1/peers") {
      const peer = (parseJsonBody(req, bytes) as { server_name: string }).server_name;
      const doc = (await sendRaw(dispatcher, `${hosts.get(peer)}/.well-known/smcp/server`, { method: "GET", headers: {} })).body as ServerDiscovery;
      if (!faults.firstPeerOnly || discovered++ === 0) trusted.set(peer, verifyKeyFrom(doc.key_id, parsePublicKey(doc.public_key)!));
      const { server_name, endpoint, version, components, key_id, public_key } = doc;
      const body = { server_name, endpoint, version, components, key_id, public_key, discovered_ts: Date.now(), health: { status: "unknown" }, outbound: { pending: 0, state: "idle", failures: 0 } };
      return { status: 200, body };
    }
    if (req.method === "POST" && url.pathname === "/control/v1/channels") {
      const channel = hubChannel((parseJsonBody(req, bytes) as { name: string }).name, []);
      return { status: 201, body: { channel, hub: name, role: "hub", members: [name], joined: true, local_seq: 1, known_seq: 1 } };
    }
    const publish = /^\/control\/v1\/channels\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method === "POST" && publish) {
      const channel = decodeURIComponent(publish[1]!);
      const { type, data } = parseJsonBody(req, bytes) as { type: string; data: unknown };
      const ev = append(channel, type, name, Date.now(), faults.canonicalOrder ? JSON.parse(canonicalJson(data)) : data);
      fanOut(channel, ev);
      return { status: 200, body: { channel, event_id: ev.event_id, seq: ev.seq } };
    }
    const invites = /^\/control\/v1\/channels\/([^/]+)\/invites$/.exec(url.pathname);
    if (req.method === "POST" && invites) {
      const channel = decodeURIComponent(invites[1]!);
      const server = (parseJsonBody(req, bytes) as { server: string }).server;
      const to = faults.inviteFirstHost ? [...hosts.values()][0]! : hosts.get(server)!;
      const body = Buffer.from(JSON.stringify({ origin: name, channel, inviter: name, invitee: server, origin_ts: Date.now() }));
      const auth = signRequest(key, { method: "POST", uri: "/federation/v1/invite", body, origin: name, destination: server });
      const a = await sendRaw(dispatcher, `${to}/federation/v1/invite`, { method: "POST", headers: { [AUTH_HEADER]: auth, "content-type": JSON_TYPE }, body });
      const accepted = a.status === 200 && (a.body as InviteAnswer).accepted === true;
      if (accepted) members.get(channel)!.add(server);
      return { status: 200, body: { channel, server, accepted } };
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://x");
    const bytes = await readBody(req, 1_048_576);
    const ctl = await control(req, url, bytes);
    if (ctl) return sendJson(res, ctl.status, ctl.body);
    const list = /^\/control\/v1\/channels\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method === "GET" && list) {
      const channel = decodeURIComponent(list[1]!);
      const after = Number(url.searchParams.get("after") ?? "0");
      const events = chains.get(channel) ?? [...(joined.get(channel)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
      const shown = events.filter((e) => e.seq > after);
      return sendJson(res, 200, { channel, events: shown.map(served), local_seq: events.length });
    }
    const a = await federation(req, url, bytes);
    sendJson(res, a.status, a.body);
  };
  const server = createServer((req, res) => void handle(req, res).catch((err) => sendError(res, err)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    members,
    hubChannel,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await dispatcher.close();
    },
  };
}
