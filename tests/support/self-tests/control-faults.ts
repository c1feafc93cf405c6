// Conformance harness self-tests: planted bugs in an instance's Control API (spec §12) and in what the success criteria
// observe through it (spec §6, §7-§10) — each scoped to the one request of its check.
import { altered, answer, error, fault, statefulFault, when, type Fault, type Seen } from "./fault-kit.ts";

const CHANNELS = "*/control/v1/channels";
const EVENTS = "*/control/v1/channels/:channel/events";
const INVITES = "*/control/v1/channels/:channel/invites";
const CALLS = "*/control/v1/calls";
const PEERS = "*/control/v1/peers";
const HOSTS = "*/control/v1/hosts/:name";

const hasToken = (s: Seen): boolean => (s.request.headers.get("authorization") ?? "").startsWith("Bearer ");
const channelParam = (s: Seen): string => decodeURIComponent(s.path.split("/")[4] ?? "");
/** Forwards a Control API request with another JSON body (Control requests are not signed). */
const withBody = (s: Seen, body: unknown): Promise<Response> => s.tools.forward(s.request, { body: Buffer.from(JSON.stringify(body)) });

export const CONTROL_FAULTS: Fault[] = [
  fault("ctl/bad-bodies@alice", "answers malformed JSON with SMCP_INVALID", "post", CHANNELS, when((s) => s.text === '{"name":' && hasToken(s) && s.request.headers.get("content-type") === "application/json", () => error("SMCP_INVALID"))),
  fault("ctl/auth-required@alice", "answers a wrong token with 403", "get", "*/control/v1/instance", when((s) => s.request.headers.get("authorization") === "Bearer not-the-token", () => error("SMCP_FORBIDDEN"))),
  fault("ctl/unknown-channel@alice", "answers an unknown channel with SMCP_NOT_FOUND", "get", "*/control/v1/channels/:channel", when((s) => channelParam(s).startsWith("!nope-"), () => error("SMCP_NOT_FOUND"))),
  statefulFault("ctl/channel-conflict@alice", "answers a second create of a channel with 400", "post", CHANNELS, () => {
    const names = new Set<string>();
    return (s) => {
      const name = s.json?.name;
      if (typeof name !== "string") return undefined;
      const again = names.has(name);
      names.add(name);
      return again ? error("SMCP_INVALID") : undefined;
    };
  }),
  fault("ctl/publish-reserved@alice", "lets the Control API publish smcp: types", "post", EVENTS, when((s) => s.json?.type === "smcp:member.join" && s.json?.data?.server === "x.test", () => answer(200, { channel: "!x:alice.test", event_id: "$" + "B".repeat(43), seq: 2 }))),
  fault("ctl/publish-too-large@alice", "answers oversized data with SMCP_INVALID", "post", EVENTS, when((s) => s.json?.type === "conformance:big", () => error("SMCP_INVALID"))),
  fault("ctl/invite-self@alice", "tries to invite itself over federation", "post", INVITES, when((s) => s.json?.server === "alice.test", () => error("SMCP_PEER_UNREACHABLE", { retry_after_ms: 1000 }))),
  fault("ctl/long-poll@alice", "ignores wait_ms", "get", EVENTS, when((s) => s.query.get("wait_ms") === "300", (s) => s.tools.forward(s.request, { path: new URL(s.request.url).pathname + "?" + new URLSearchParams([...s.query].filter(([k]) => k !== "wait_ms")).toString() }))),
  fault("ctl/membership-errors@alice", "answers removal of a non-member with SMCP_INVALID", "delete", "*/control/v1/channels/:channel/members/:server", when((s) => s.path.includes("/members/nobody-"), () => error("SMCP_INVALID"))),
  fault("ctl/peer-unreachable@alice", "answers an unreachable invitee with 500", "post", INVITES, when((s) => String(s.json?.server).startsWith("down-"), () => error("SMCP_INTERNAL"))),
  fault("ctl/discover-unreachable@alice", "omits retry_after_ms from SMCP_PEER_UNREACHABLE", "post", PEERS, (s) =>
    String(s.json?.server_name).startsWith("gone-") ? altered(s, (a) => ({ body: { errcode: a.body.errcode, error: a.body.error } })) : undefined,
  ),
  fault("ctl/check-order@alice", "checks the token before the route", "get", "*/control/v1/no-such-endpoint", when((s) => !hasToken(s), () => error("SMCP_UNAUTHORIZED"))),
  fault("ctl/host-map-remote-http@alice", "maps plain http off loopback", "put", HOSTS, when((s) => s.json?.base_url === "http://example.com:8080", () => answer(204))),
  fault("ctl/self-not-peer@alice", "tries to discover itself", "post", PEERS, when((s) => s.json?.server_name === "alice.test", () => error("SMCP_PEER_UNREACHABLE", { retry_after_ms: 1000 }))),
  fault("ctl/body-limit@alice", "does not bound Control API bodies", "post", CHANNELS, when((s) => s.bytes.length > 1_048_576, () => error("SMCP_INVALID"))),
  fault("ctl/self-call@alice", "drops the call_id of a self call (runs it again)", "post", CALLS, (s) =>
    String(s.json?.call_id).startsWith("self-call-") ? withBody(s, { ...s.json, call_id: `${s.json.call_id}-${Math.random().toString(36).slice(2)}` }) : undefined,
  ),
  fault("ctl/call-errors-relayed", "relays a remote SMCP_UNKNOWN_TOOL as unreachable", "post", CALLS, (s) =>
    s.json?.tool === "no_such_tool" ? altered(s, () => ({ status: 502, body: { errcode: "SMCP_PEER_UNREACHABLE", error: "remote error", retry_after_ms: 1000 } })) : undefined, { on: "alice" },
  ),
  fault("ctl/call-id-passthrough", "replaces the caller's call_id with its own", "post", CALLS, (s) =>
    String(s.json?.call_id).startsWith("ctl-call-") ? withBody(s, { target: s.json.target, tool: s.json.tool, params: s.json.params }) : undefined, { on: "alice" },
  ),
  fault("ctl/publish-order@alice", "checks the event type before the channel", "post", EVENTS, when((s) => channelParam(s).startsWith("!nope-") && s.json?.type === "smcp:member.join", () => error("SMCP_INVALID"))),
  statefulFault("ctl/invite-member-again@alice", "refuses to re-invite a member", "post", INVITES, () => {
    const invited = new Set<string>();
    return (s) => {
      const key = `${s.path} ${s.json?.server}`;
      const again = invited.has(key) && String(s.json?.server).startsWith("mallory-");
      invited.add(key);
      return again ? error("SMCP_CONFLICT") : undefined;
    };
  }),
  fault("ctl/invite-invalid-answer@alice", "answers an invalid invite answer with 500", "post", INVITES, (s) =>
    String(s.json?.server).startsWith("bad-invitee-") ? altered(s, (a) => (a.status === 502 ? { status: 500, body: { errcode: "SMCP_INTERNAL", error: "bad answer" } } : undefined)) : undefined,
  ),
  fault("adv/participant/hub-member@alice", "leaves the hub out of its channel's members", "get", "*/control/v1/channels/:channel", (s) =>
    channelParam(s).startsWith("!adv-") ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, members: a.body.members.filter((m: string) => m !== a.body.hub) } } : undefined)) : undefined,
  ),
  fault("adv/delivery/outbound-state@alice", "always reports outbound queues idle", "get", PEERS, (s) =>
    altered(s, (a) => (a.status === 200 && Array.isArray(a.body?.peers) ? { body: { peers: a.body.peers.map((p: any) => ({ ...p, outbound: { ...p.outbound, state: "idle", pending: 0, failures: 0 } })) } } : undefined)),
  ),
];

/** Bugs the success criteria catch through the Control API and discovery (on the leaves of the check graph). */
export const CRITERIA_FAULTS: Fault[] = [
  statefulFault("sc/channel/repeat-invite", "answers a repeated invite of a member as not accepted", "post", INVITES, () => {
    const invited = new Set<string>();
    return (s) => {
      const key = `${s.path} ${s.json?.server}`;
      const again = invited.has(key) && s.json?.server === "bob.test";
      invited.add(key);
      return again ? altered(s, (a) => ({ body: { ...a.body, accepted: false } })) : undefined;
    };
  }, { on: "alice" }),
  fault("sc/calls/complete-task", "returns a completed task as not done", "post", CALLS, (s) =>
    s.json?.tool === "complete_task" ? altered(s, (a) => (a.status === 200 && a.body.result?.structuredContent?.task ? { body: { ...a.body, result: { ...a.body.result, structuredContent: { task: { ...a.body.result.structuredContent.task, done: false } } } } } : undefined)) : undefined, { on: "alice" },
  ),
  fault("sc/calls/text-mirror", "returns no text block mirroring structuredContent", "post", CALLS, (s) =>
    s.json?.tool === "list_tasks" ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, result: { ...a.body.result, content: [] } } } : undefined)) : undefined, { on: "alice" },
  ),
  fault("sc/final/no-duplicate-or-lost-events", "loses the last event on the participant", "get", EVENTS, (s) =>
    altered(s, (a) => (a.status === 200 && Array.isArray(a.body?.events) ? { body: { ...a.body, events: a.body.events.filter((e: any) => e.data?.text !== "final") } } : undefined)), { on: "bob" },
  ),
  fault("sc/discovery/default-limits@bob", "advertises a halved rate_per_second", "get", "*/.well-known/smcp/server", (s) => altered(s, (a) => ({ body: { ...a.body, limits: { ...a.body.limits, rate_per_second: 100 } } }))),
];
