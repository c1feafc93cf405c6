// Conformance harness self-tests: deliberately broken targets built from the fake peer, and a check context around them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createDispatcher } from "../../protocol/http-client.ts";
import { parseJsonBody, readBody, sendError, sendJson } from "../../protocol/http.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyOf, type SigningKey, type VerifyKey } from "../../protocol/keys.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import { authenticateRequest, ReplayCache } from "../../protocol/request-auth.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { eventProblem } from "../../protocol/events.ts";
import type { Event, RemoteCall, Transaction, TransactionResult } from "../../protocol/types.ts";
import { allChecks } from "../../conformance/checks/index.ts";
import type { Check, CheckContext, Options, Role, Target } from "../../conformance/context.ts";
import { ControlClient } from "../../conformance/control-client.ts";
import { FakePeer, FAKE_LIMITS, type ReceiverFaults } from "../../conformance/fake-peer.ts";
import { WireRecorder } from "../../conformance/wire-log.ts";
import { smallHub } from "./small-hub.ts";

/** The control token the self-tests give instances they start (CTRL-39: 32 to 512 characters). */
export const SELF_TEST_TOKEN = "self-test-token-".padEnd(40, "0");

export const TEST_OPTIONS: Options = { profiles: [], latencyCalls: 10, latencyP99Ms: 500, strict: false, verbose: false, deliveryTimeoutMs: 2_000 };

export function checkById(id: string): Check {
  const c = allChecks().find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}

/** A context whose fake peer (mallory) faces `victim` as both alice and bob. */
export interface Harness {
  ctx: CheckContext;
  close(): Promise<void>;
}

export async function harnessAgainst(targets: Record<Role, { name: string; url: string; key: VerifyKey }>, options: Partial<Options> = {}): Promise<Harness> {
  const recorder = new WireRecorder();
  const dispatcher = createDispatcher();
  const fake = await FakePeer.start("mallory.test", recorder);
  const t = (role: Role): Target => {
    const x = targets[role];
    fake.addInstance(x.name, x.url, x.key);
    return {
      role,
      name: x.name,
      baseUrl: x.url,
      token: SELF_TEST_TOKEN,
      control: new ControlClient(dispatcher, x.url, SELF_TEST_TOKEN, recorder, role),
      discovery: { server_name: x.name, endpoint: x.url, version: "1.0", versions: ["1.0"], components: ["vikunja"], key_id: x.key.keyId, public_key: "ed25519:unused", limits: FAKE_LIMITS },
      key: x.key,
    };
  };
  const ctx: CheckContext = { alice: t("alice"), bob: t("bob"), fake, dispatcher, recorder, options: { ...TEST_OPTIONS, ...options }, runId: "selftest", state: { published: [], adv: {} }, note: () => {} };
  return {
    ctx,
    close: async () => {
      await fake.close();
      await dispatcher.close();
    },
  };
}

/** The fake peer playing an instance under test, with the given receiver bugs. */
export async function brokenPeer(faults: ReceiverFaults): Promise<{ victim: FakePeer; h: Harness }> {
  const victim = await FakePeer.start("victim.test", new WireRecorder(), faults);
  victim.components = ["vikunja"];
  const key = verifyKeyOf(victim.key);
  const h = await harnessAgainst({ alice: { name: victim.name, url: victim.url, key }, bob: { name: victim.name, url: victim.url, key } });
  victim.addInstance(h.ctx.fake.name, h.ctx.fake.url, verifyKeyOf(h.ctx.fake.key));
  return {
    victim,
    h: {
      ctx: h.ctx,
      close: async () => {
        await h.close();
        await victim.close();
      },
    },
  };
}

export interface InstanceFaults {
  /** Added to every Control API call (slow instance). */
  callDelayMs?: number;
  /** Control API event lists come back in reverse order. */
  reverseEvents?: boolean;
  /** Control API event lists silently lose this seq. */
  dropSeq?: number;
  /** A repeated call_id runs the tool again. */
  reExecuteCalls?: boolean;
  /** As a participant, stores every event it is sent without verifying it (no event ID, signature or seq checks). */
  acceptAnyEvent?: boolean;
}

/**
 * A small instance with only what the call, event-order and latency checks touch: Control API calls and event
 * lists, and a signed federation call endpoint with a task store. Correct unless given faults.
 */
export async function smallInstance(name: string, events: Event[], trusted: Map<string, VerifyKey>, faults: InstanceFaults = {}): Promise<{ url: string; close(): Promise<void> }> {
  const tasks: Array<{ id: number; title: string; done: boolean }> = [];
  const calls = new Map<string, unknown>();
  const replay = new ReplayCache();
  /** Channels this instance participates in: events by seq, as received from their hubs. */
  const joined = new Map<string, Map<number, Event>>();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://x");
    const bytes = await readBody(req, FAKE_LIMITS.max_body_bytes);
    if (req.method === "POST" && url.pathname === "/control/v1/calls") {
      const body = parseJsonBody(req, bytes) as { target: string; tool: string; call_id?: string };
      if (faults.callDelayMs) await new Promise((r) => setTimeout(r, faults.callDelayMs));
      return sendJson(res, 200, { call_id: body.call_id ?? "c1", target: body.target, tool: body.tool, result: { content: [], structuredContent: { tasks } } });
    }
    const evMatch = /^\/control\/v1\/channels\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method === "GET" && evMatch) {
      const after = Number(url.searchParams.get("after") ?? "0");
      const held = joined.get(decodeURIComponent(evMatch[1]!));
      const source = held ? [...held.values()].sort((x, y) => x.seq - y.seq) : events;
      let list = source.filter((e) => e.seq > after && e.seq !== faults.dropSeq);
      if (faults.reverseEvents) list = [...list].reverse();
      return sendJson(res, 200, { channel: decodeURIComponent(evMatch[1]!), events: list, local_seq: events.length });
    }
    const header = req.headers["x-smcp-authorization"];
    const origin = async (): Promise<string> =>
      (
        await authenticateRequest(
          { self: name, now: Date.now, maxSkewMs: DEFAULT_LIMITS.max_clock_skew_ms, notBefore: 0, replay, lookupKey: async (o, k) => (trusted.get(o)?.keyId === k ? trusted.get(o)! : null) },
          Array.isArray(header) ? header[0] : header,
          { method: req.method ?? "GET", uri: req.url ?? "/", body: bytes },
        )
      ).origin;
    if (req.method === "PUT" && url.pathname.startsWith("/federation/v1/send/")) {
      const hub = await origin();
      const txn = parseJsonBody(req, bytes) as Transaction;
      return sendJson(res, 200, receive(hub, txn.events ?? []));
    }
    if (req.method === "POST" && url.pathname === "/federation/v1/call") {
      await origin();
      const call = parseJsonBody(req, bytes) as RemoteCall;
      const prior = calls.get(call.call_id);
      if (prior && !faults.reExecuteCalls) return sendJson(res, 200, prior);
      const params = call.params as { title?: string };
      const structuredContent = call.tool === "create_task" ? { task: add(params.title ?? "") } : { tasks };
      const result = { call_id: call.call_id, target: call.target, tool: call.tool, result: { content: [], structuredContent } };
      calls.set(call.call_id, result);
      return sendJson(res, 200, result);
    }
    throw new SmcpError("SMCP_NOT_FOUND", "no such route");
  };
  /** A participant's per-event checks (spec §8.5), unless the fault says to skip them. */
  const receive = (hub: string, list: Event[]): TransactionResult => {
    const result: TransactionResult = { processed: [], rejected: [], sequenced: [] };
    for (const ev of list) {
      const held = joined.get(ev.channel) ?? new Map<number, Event>();
      joined.set(ev.channel, held);
      const problem = faults.acceptAnyEvent ? null : eventProblem(trusted.get(hub)!, ev);
      const before = held.get(ev.seq);
      if (problem) result.rejected.push({ id: ev.event_id, errcode: "SMCP_BAD_EVENT", error: problem });
      else if (before && before.event_id !== ev.event_id && !faults.acceptAnyEvent) result.rejected.push({ id: ev.event_id, errcode: "SMCP_EQUIVOCATION", error: "seq taken" });
      else {
        held.set(ev.seq, ev);
        result.processed.push(ev.event_id);
      }
    }
    return result;
  };
  const add = (title: string): { id: number; title: string; done: boolean } => {
    const task = { id: tasks.length + 1, title, done: false };
    tasks.push(task);
    return task;
  };
  const server: Server = createServer((req, res) => void handle(req, res).catch((err) => sendError(res, err)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type { SigningKey };

/**
 * A harness whose bob is a small hub (tests/support/small-hub.ts) with `faults`, and whose fake peer already joined the
 * hub's channel: the delivery-discipline checks run against it. The caller closes what `closers` receives.
 */
export async function smallHubHarness(faults: Parameters<typeof smallHub>[4], closers: Array<() => Promise<void>>): Promise<Harness> {
  const key = signingKeyFromSeed(generateSeed());
  const channel = "!adv-selftest-b:hub.test";
  const unused = "http://127.0.0.1:1";
  const h = await harnessAgainst({ alice: { name: "hub.test", url: unused, key: verifyKeyOf(key) }, bob: { name: "hub.test", url: unused, key: verifyKeyOf(key) } });
  const hub = await smallHub("hub.test", key, channel, { name: h.ctx.fake.name, url: h.ctx.fake.url }, faults);
  h.ctx.bob.baseUrl = hub.url;
  h.ctx.bob.control = new ControlClient(h.ctx.dispatcher, hub.url, SELF_TEST_TOKEN, h.ctx.recorder, "bob");
  h.ctx.state.adv.bob = { channel };
  h.ctx.fake.participant.set(channel, { hub: "hub.test", events: new Map(), heads: [] });
  h.ctx.fake.addInstance("hub.test", hub.url, verifyKeyOf(key));
  closers.push(h.close, hub.close);
  return h;
}
