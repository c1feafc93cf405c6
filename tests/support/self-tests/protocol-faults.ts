// Conformance harness self-tests: planted bugs in Naomi transactions, Roshumba calls, Paulina's registry and key
// discovery, and in an instance as participant of the fake hub (spec §4, §7-§11) — each scoped to its check's request.
import { createDispatcher, sendRaw } from "../../../protocol/http-client.ts";
import { http } from "msw";
import { altered, answer, counted, error, fault, reportProcessed, seenFor, statefulFault, when, type Fault, type Seen } from "./fault-kit.ts";

const SEND = "*/federation/v1/send/:txn";
const CALL = "*/federation/v1/call";
const PING = "*/federation/v1/ping";
const BACKFILL = "*/federation/v1/channels/:channel/events";
const INVITE = "*/federation/v1/invite";
/** Long enough for the harness's second copy to arrive on a loaded machine, short enough for a dozen held answers. */
const HOLD_MS = 150;

const markerStarts = (prefix: string) => (s: Seen): boolean => (s.json?.submissions ?? []).some((x: any) => String(x.data?.marker ?? "").startsWith(prefix));
const subsOf = (s: Seen): any[] => s.json?.submissions ?? [];
const eventsOf = (s: Seen): any[] => s.json?.events ?? [];
const originStarts = (prefix: string) => (s: Seen): boolean => (s.auth?.origin ?? "").startsWith(prefix);
const isSubmission = (sent: any): boolean => sent?.submission_id !== undefined;

/** A Ping for a fresh peer the instance should not have trusted (the fault plays "served anyway"). */
function pingOf(s: Seen): Response {
  return answer(200, { server_name: s.auth?.destination ?? "unknown.test", ts: Date.now(), status: "ok", components: [{ name: "vikunja", status: "up" }] });
}

/** A RemoteCallResult for a call the instance should have refused (the fault plays "ran it"). */
function callResultOf(s: Seen): Response {
  const c = s.json ?? {};
  return answer(200, { call_id: c.call_id, target: c.target, tool: c.tool, result: { content: [], structuredContent: { task: { id: 1, title: String(c.params?.title ?? ""), done: false } } } });
}

/**
 * Keys of requests in flight at one front, for faults that break only concurrent copies. The reference instance
 * answers in a few milliseconds, faster than the harness's two copies arrive, so the fault holds each answer
 * briefly (a slow instance) to make the copies overlap.
 */
function concurrentCopies(key: (s: Seen) => string | undefined, then: () => Response): () => (s: Seen) => Promise<Response | undefined> {
  return () => {
    const inFlight = new Set<string>();
    return async (s) => {
      const k = key(s);
      if (k === undefined) return undefined;
      if (inFlight.has(k)) return then();
      inFlight.add(k);
      try {
        await s.tools.forward(s.request);
        await new Promise((r) => setTimeout(r, HOLD_MS));
      } finally {
        inFlight.delete(k);
      }
      return undefined;
    };
  };
}

export const TRANSACTION_FAULTS: Fault[] = [
  fault("adv/txn/empty@bob", "answers an empty transaction with a placeholder item", "put", SEND, (s) =>
    altered(s, (a) => (a.status === 200 && s.json && Object.keys(s.json).length === 2 ? { body: { ...a.body, processed: ["$placeholder"] } } : undefined)),
  ),
  watching("adv/txn/non-member-submission@alice", "sequences submissions without checking membership", "invite", "put", SEND, (s, invitedTo) =>
    reportProcessed(s, (r, sent) => isSubmission(sent) && r.errcode === "SMCP_NOT_MEMBER" && !invitedTo.has(sent?.channel)),
  ),
  fault("adv/txn/submission-routing@alice", "accepts submissions for channels it does not hub", "put", SEND, (s) =>
    subsOf(s).length === 2 ? reportProcessed(s, (r, sent) => isSubmission(sent) && (r.errcode === "SMCP_NOT_HUB" || r.errcode === "SMCP_UNKNOWN_CHANNEL")) : undefined,
  ),
  fault("adv/txn/spoofed-sender@alice", "does not compare a submission's sender with the transaction's origin", "put", SEND, (s) => reportProcessed(s, (r) => r.errcode === "SMCP_ORIGIN_MISMATCH")),
  fault("adv/txn/reserved-type@alice", "lets members submit smcp: types", "put", SEND, (s) => reportProcessed(s, (r, sent) => isSubmission(sent) && r.errcode === "SMCP_BAD_EVENT" && sent?.type === "smcp:member.join")),
  fault("adv/txn/data-too-large@alice", "does not bound event data", "put", SEND, (s) => reportProcessed(s, (r) => r.errcode === "SMCP_TOO_LARGE")),
  fault("adv/txn/non-canonical-data@bob", "accepts data without a canonical form", "put", SEND, (s) => reportProcessed(s, (r, sent) => r.errcode === "SMCP_BAD_EVENT" && String(sent?.data?.marker ?? "").startsWith("1e21-"))),
  fault("adv/txn/not-hub@alice", "stores sequenced events from any member", "put", SEND, (s) => reportProcessed(s, (r, sent) => !isSubmission(sent) && r.errcode === "SMCP_NOT_HUB")),
  fault("adv/txn/mixed-items@alice", "fails the whole transaction for one bad item", "put", SEND, when((s) => subsOf(s).length === 3 && subsOf(s).some((x) => x.type === "smcp:channel.create"), () => error("SMCP_BAD_EVENT"))),
  fault("adv/txn/too-many-items@alice", "does not bound the number of items", "put", SEND, when((s) => subsOf(s).length > 100 && subsOf(s).length <= 1000 && markerStarts("bulk-")(s) && !markerStarts("bulk-repeat-")(s), () => answer(200, { processed: [], rejected: [], sequenced: [] }))),
  fault("adv/txn/repeat-before-item-limit@alice", "checks the item limit before idempotency", "put", SEND, when(markerStarts("bulk-repeat-"), () => error("SMCP_TOO_LARGE"))),
  fault("adv/txn/schema-array-bound@alice", "applies the item limit before the schema's array bound", "put", SEND, when(markerStarts("schema-bound-"), () => error("SMCP_TOO_LARGE"))),
  fault("adv/txn/error-not-stored@alice", "stores a refused transaction under its txn_id", "put", SEND, when((s) => subsOf(s).length === 1 && markerStarts("afresh-")(s), () => error("SMCP_CONFLICT"))),
  // The per-origin txn_id check of the second signing identity reuses mallory's txn_id the same way.
  fault("adv/txn/txn-conflict@alice", "answers a reused txn_id with another body from the stored result", "put", SEND, (s) =>
    altered(s, (a) => (a.status === 409 && subsOf(s).length === 1 ? { status: 200, body: { processed: [], rejected: [], sequenced: [] } } : undefined)),
    { alsoFails: ["adv/identity/txn-id-per-origin@alice"] },
  ),
  // adv/txn/concurrent-repeat sends its two copies together (last-byte sync), yet the reference, handling a transaction synchronously, answers one before it reads the other.
  statefulFault("adv/txn/duplicate-txn@alice", "re-processes a repeated transaction instead of answering the stored result", "put", SEND, () => {
    // Only answered transactions count: two concurrent copies are adv/txn/concurrent-repeat's case.
    const bodies = new Map<string, string>();
    return async (s) => {
      const again = bodies.get(s.path) === s.text;
      await s.tools.forward(s.request);
      bodies.set(s.path, s.text);
      return again && subsOf(s).length === 1 ? altered(s, (a) => ({ body: { ...a.body, sequenced: [] } })) : undefined;
    };
  }, { alsoFails: ["adv/txn/concurrent-repeat@alice"] }),
  statefulFault("adv/txn/concurrent-repeat@bob", "refuses the second of two concurrent copies (a lock conflict)", "put", SEND, concurrentCopies((s) => (subsOf(s).length === 1 ? s.path : undefined), () => error("SMCP_CONFLICT"))),
  statefulFault("adv/txn/duplicate-submission@alice", "sequences a resubmitted submission_id again", "put", SEND, () => {
    const firstTxn = new Map<string, string>();
    return (s) => {
      const subs = subsOf(s);
      const resent = subs.length === 1 && firstTxn.has(subs[0].submission_id) && firstTxn.get(subs[0].submission_id) !== s.path;
      for (const x of subs) if (!firstTxn.has(x.submission_id)) firstTxn.set(x.submission_id, s.path);
      return resent ? altered(s, (a) => ({ body: { ...a.body, sequenced: a.body.sequenced.map((q: any) => ({ ...q, seq: q.seq + 1000 })) } })) : undefined;
    };
  }),
];

export const CALL_FAULTS: Fault[] = [
  fault("adv/calls/non-peer-forbidden@alice", "runs calls from servers it shares no channel with", "post", CALL, when((s) => s.json?.params?.title === "must not exist", callResultOf)),
  fault("adv/calls/tool-error@alice", "turns a tool error into an SMCP error", "post", CALL, when((s) => s.json?.tool === "complete_task" && s.json?.params?.id === 987654321, () => error("SMCP_NOT_FOUND"))),
  fault("adv/calls/unknown-tool@alice", "answers an unknown tool as an unknown target", "post", CALL, when((s) => s.json?.tool === "no_such_tool", () => error("SMCP_UNKNOWN_TARGET"))),
  fault("adv/calls/unknown-component@alice", "answers an unknown component as an unknown tool", "post", CALL, when((s) => String(s.json?.target).endsWith("/nosuchcomponent"), () => error("SMCP_UNKNOWN_TOOL"))),
  fault("adv/calls/foreign-target@alice", "ignores the server name in a call's target", "post", CALL, when((s) => String(s.json?.target).startsWith("smcp://elsewhere.test/"), callResultOf)),
  fault("adv/calls/call-id-conflict@alice", "answers a reused call_id from the record whatever the body", "post", CALL, (s) => altered(s, (a) => (a.status === 409 ? { status: 200, body: { call_id: s.json.call_id, target: s.json.target, tool: s.json.tool, result: { content: [] } } } : undefined))),
  statefulFault("adv/calls/concurrent-repeat@alice", "refuses the second of two concurrent copies of a call", "post", CALL, concurrentCopies((s) => (String(s.json?.params?.title).startsWith("twice-at-once-") ? s.json.call_id : undefined), () => error("SMCP_CONFLICT"))),
  fault("adv/calls/unauthenticated-not-run@alice", "runs the tool before the signature is verified", "post", CALL, async (s) => {
    const refused = await s.tools.forward(s.request);
    if (refused.status !== 401 || s.json?.tool !== "create_task") return refused;
    // What the instance did first: the call, served through its own Control API as a self call.
    const d = createDispatcher();
    const body = Buffer.from(JSON.stringify({ target: s.json.target, tool: "create_task", params: s.json.params }));
    await sendRaw(d, `${s.tools.env.controlUrl}/control/v1/calls`, { method: "POST", headers: { authorization: `Bearer ${s.tools.env.controlToken}`, "content-type": "application/json" }, body });
    await d.close();
    return refused;
  }),
];

export const REGISTRY_FAULTS: Fault[] = [
  fault("adv/registry/non-caller@alice", "lists mcp components to every origin", "get", "*/federation/v1/registry", (s) =>
    !s.auth?.origin?.startsWith("mallory-") ? undefined : altered(s, (a) => (a.status === 200 && !a.body.components.some((c: any) => c.kind === "mcp") ? { body: { ...a.body, components: [...a.body.components, { name: "vikunja", kind: "mcp", uri: `smcp://${a.body.server_name}/vikunja`, tools: [] }] } } : undefined)),
  ),
  fault("adv/registry/caller@bob", "lists vikunja without its tools", "get", "*/federation/v1/registry", (s) =>
    altered(s, (a) => (a.status === 200 ? { body: { ...a.body, components: a.body.components.map((c: any) => (c.kind === "mcp" ? { ...c, tools: [] } : c)) } } : undefined)),
  ),
];

export const KEY_FAULTS: Fault[] = [
  fault("adv/keys/no-common-version@alice", "trusts a peer that shares no protocol version", "get", PING, when(originStarts("v2-only-"), pingOf)),
  fault("adv/keys/small-order-key@alice", "trusts a small-order public key", "get", PING, when(originStarts("small-order-"), pingOf)),
  fault("adv/keys/underived-key-id@alice", "does not derive the key ID from the key", "get", PING, when(originStarts("bad-keyid-"), pingOf)),
  fault("adv/keys/wrong-server-name@alice", "does not compare the discovery document's server_name", "get", PING, when(originStarts("wrong-name-"), pingOf)),
  fault("adv/keys/remote-http-endpoint@alice", "accepts plain-http endpoints off loopback", "get", PING, when(originStarts("remote-http-"), pingOf)),
  fault("adv/keys/discovery-not-200@alice", "takes any 2xx discovery answer", "get", PING, when(originStarts("status-203-"), pingOf)),
  fault("adv/keys/discovery-too-many-redirects@alice", "follows redirects without a bound", "get", PING, when(originStarts("redirect-6-"), pingOf)),
  fault("adv/keys/discovery-redirect@alice", "does not follow a discovery redirect", "get", PING, when(originStarts("redirect-1-"), () => error("SMCP_UNKNOWN_KEY"))),
  fault("adv/keys/remap-drops-failure@alice", "keeps a cached discovery failure after a new host mapping", "get", PING, when(originStarts("remap-"), () => error("SMCP_UNKNOWN_KEY"))),
  fault("adv/keys/rediscovery-limited@alice", "re-fetches the origin's keys for every unknown key ID", "get", PING, async (s) => {
    const a = await s.tools.forward(s.request);
    if (a.status === 401 && s.auth?.origin?.startsWith("mallory-") && s.tools.env.fakeUrl) {
      const d = createDispatcher();
      await sendRaw(d, `${s.tools.env.fakeUrl}/.well-known/smcp/server`, { method: "GET", headers: {} });
      await d.close();
    }
    return a;
  }),
];

export const BACKFILL_FAULTS: Fault[] = [
  fault("adv/backfill/not-hub@bob", "answers backfill of another hub's channel as unknown", "get", BACKFILL, when((s) => s.request.url.includes("/channels/!x-"), () => error("SMCP_UNKNOWN_CHANNEL"))),
  fault("adv/backfill/unknown-channel@bob", "answers backfill of an unknown channel with a bare SMCP_NOT_FOUND", "get", BACKFILL, when((s) => s.request.url.includes("/channels/!nope-"), () => error("SMCP_NOT_FOUND"))),
  watching("adv/backfill/non-member@bob", "answers a non-member's backfill with SMCP_FORBIDDEN", "invite", "get", BACKFILL, (s, invitedTo) => {
    const channel = decodeURIComponent(s.path.split("/")[4] ?? "");
    return channel.startsWith("!adv-") && !channel.includes("%") && !invitedTo.has(channel) ? Promise.resolve(error("SMCP_FORBIDDEN")) : undefined;
  }),
];

export const PARTICIPANT_FAULTS: Fault[] = [
  fault("adv/participant/chain@alice", "serves a stored event that differs from the one it sent", "get", BACKFILL, (s) =>
    altered(s, (a) => (a.status === 200 && s.query.get("limit") === "1000" && a.body.events.length > 1 ? { body: { ...a.body, events: a.body.events.map((e: any, i: number, all: any[]) => (i === all.length - 1 ? { ...e, event_id: all[0].event_id } : e)) } } : undefined)),
  ),
  fault("adv/participant/path-decoding@alice", "refuses ! and : unencoded in a path segment", "get", BACKFILL, when((s) => /\/channels\/![^/]*:/.test(s.path), () => error("SMCP_INVALID"))),
  fault("adv/http/path-and-query@alice", "decodes bad percent-encoding leniently", "get", BACKFILL, when((s) => s.tools.rawPathOf(s.request).includes("/channels/%ZZ/"), () => error("SMCP_UNKNOWN_CHANNEL"))),
];

/** Faults of an instance as participant of the fake hub's channel (IDs `!fake-…`) and as invitee. */
export const HUB_FAULTS: Fault[] = [
  statefulFault("adv/hub/repeat-invite@alice", "refuses a repeated invite", "post", INVITE, () => {
    const seen = new Set<string>();
    return (s) => {
      const again = seen.has(s.json?.channel);
      seen.add(s.json?.channel);
      return again ? error("SMCP_CONFLICT") : undefined;
    };
  }),
  fault("adv/invite/not-hub@alice", "answers an invite from a non-hub with SMCP_FORBIDDEN", "post", INVITE, when((s) => String(s.json?.channel).startsWith("!x-"), () => error("SMCP_FORBIDDEN"))),
  fault("adv/invite/wrong-invitee@alice", "accepts invites naming another invitee", "post", INVITE, when((s) => String(s.json?.channel).startsWith("!y-"), (s) => answer(200, { channel: s.json.channel, accepted: true, events_since: 0 }))),
  fault("adv/invite/check-order@alice", "checks the hub before the invitee", "post", INVITE, when((s) => String(s.json?.channel).startsWith("!z-"), () => error("SMCP_NOT_HUB"))),
  statefulFault("adv/hub/duplicate-event@alice", "reports re-delivered events it holds as equivocations", "put", SEND, () => {
    const held = new Set<string>();
    return (s) => {
      const evs = eventsOf(s);
      const again = evs.length > 0 && evs.every((e) => held.has(e.event_id));
      for (const e of evs) held.add(e.event_id);
      if (!again) return undefined;
      return altered(s, (a) => ({ body: { ...a.body, processed: [], rejected: evs.map((e) => ({ id: e.event_id, errcode: "SMCP_EQUIVOCATION", error: "seq taken" })) } }));
    };
  }),
  fault("adv/hub/backfill-verified@alice", "keeps a badly signed backfilled event and refuses the hub's real one", "put", SEND, (s) =>
    eventsOf(s).some((e) => e.data?.n === "gap") ? altered(s, (a) => ({ body: { ...a.body, processed: [], rejected: eventsOf(s).map((e) => ({ id: e.event_id, errcode: "SMCP_EQUIVOCATION", error: "seq taken" })) } })) : undefined,
  ),
  fault("adv/hub/bad-smcp-event@alice", "stores smcp: events without checking their data", "put", SEND, (s) => reportProcessed(s, (r, sent) => sent?.type === "smcp:member.join" && sent?.data?.server === undefined)),
  fault("adv/hub/forged-head@alice", "lists an unverifiable head as rejected", "put", SEND, (s) => {
    const heads: any[] = s.json?.heads ?? [];
    const forged = eventsOf(s).length === 0 && heads.length === 1 && String(heads[0].event_id).startsWith("$AAAA");
    return forged ? altered(s, (a) => ({ body: { ...a.body, rejected: [{ id: heads[0].event_id, errcode: "SMCP_BAD_SIGNATURE", error: "head" }] } })) : undefined;
  }),
  fault("adv/hub/head-backfill@alice", "never updates known_seq from heads", "get", "*/control/v1/channels/:channel", (s) =>
    altered(s, (a) => (a.status === 200 && String(a.body.channel).startsWith("!fake-") ? { body: { ...a.body, known_seq: 0 } } : undefined)),
  ),
  fault("adv/hub/rejection-relayed@alice", "reports the hub's rejection as unreachable", "post", "*/control/v1/channels/:channel/events", (s) =>
    altered(s, (a) => (a.body?.errcode === "SMCP_NOT_MEMBER" ? { status: 502, body: { errcode: "SMCP_PEER_UNREACHABLE", error: "hub refused", retry_after_ms: 1000 } } : undefined)),
  ),
  fault("adv/removal/removed-participant@bob", "still shows a channel it was removed from as joined", "get", "*/control/v1/channels/:channel", (s) =>
    altered(s, (a) => (a.status === 200 && String(a.body.channel).startsWith("!fake-") ? { body: { ...a.body, joined: true } } : undefined)),
  ),
];

/**
 * A fault that also watches Control API requests of one kind (`watch`: invites or removals of the fake peer, by
 * channel), so that it applies only before, or only after, the harness did that.
 */
function watching(breaks: string, bug: string, watch: "invite" | "remove", method: "put" | "get", path: string, respond: (s: Seen, channels: Set<string>) => Promise<Response | undefined> | undefined): Fault {
  return {
    breaks,
    bug,
    handlers: (tools) => {
      const channels = new Set<string>();
      const note = (channel: unknown, server: unknown): undefined => {
        if (String(server).startsWith("mallory-")) channels.add(decodeURIComponent(String(channel)));
        return undefined;
      };
      const watcher =
        watch === "remove"
          ? http.delete("*/control/v1/channels/:channel/members/:server", ({ params }) => note(params.channel, params.server))
          : http.post("*/control/v1/channels/:channel/invites", async ({ request, params }) => note(params.channel, JSON.parse(tools.bytesOf(request).toString() || "{}").server));
      return [watcher, http[method](path, async ({ request }) => counted(tools, breaks, await respond(seenFor(request, tools), channels)))];
    },
  };
}

export const REMOVAL_FAULTS: Fault[] = [
  watching("adv/removal/submission-rejected@bob", "still sequences submissions of a removed member", "remove", "put", SEND, (s, removed) =>
    subsOf(s).some((x) => removed.has(x.channel)) ? reportProcessed(s, (r) => r.errcode === "SMCP_NOT_MEMBER") : undefined,
  ),
  watching("adv/removal/backfill-bounded@bob", "answers backfill beyond the leave with SMCP_FORBIDDEN", "remove", "get", BACKFILL, (s, removed) =>
    [...removed].some((c) => s.path.includes(encodeURIComponent(c))) ? altered(s, (a) => (a.status === 403 && a.body?.errcode === "SMCP_NOT_MEMBER" ? { body: { ...a.body, errcode: "SMCP_FORBIDDEN" } } : undefined)) : undefined,
  ),
];

/**
 * Alone in its run: failing at once, its check leaves the queued submission in back-off, and the next publish of a
 * shared run (adv/hub/rejection-relayed) would wait behind it and meet this fault's 502-to-500 instead of its own.
 */
export const QUEUED_SUBMISSION_FAULT: Fault = fault("adv/hub/submission-queued@alice", "answers a publish whose delivery failed with 500", "post", "*/control/v1/channels/:channel/events", (s) =>
  altered(s, (a) => (a.status === 502 ? { status: 500, body: { errcode: "SMCP_INTERNAL", error: "delivery failed" } } : undefined)),
);
