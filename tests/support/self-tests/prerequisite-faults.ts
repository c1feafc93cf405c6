// Conformance harness self-tests: planted bugs in the checks others rely on (discovery, setup, the shared channel,
// joining, the first call) — each run selects only its named checks, so the dependants are never run (spec §16).
import { altered, error, fault, when, type Fault, type Seen } from "./fault-kit.ts";
import { sending } from "./sender-faults.ts";

const EVENTS = "*/control/v1/channels/:channel/events";
const CALLS = "*/control/v1/calls";
const PEERS = "*/control/v1/peers";
const channelParam = (s: Seen): string => decodeURIComponent(s.path.split("/")[4] ?? "");
const otherKeyId = (id: string): string => id.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
/** An answer whose event list is changed by `edit`, for one channel kind (`!fake-`, `!conf-`, …). */
const eventsOf = (prefix: string, edit: (events: any[]) => any[]) => (s: Seen) =>
  channelParam(s).startsWith(prefix) ? altered(s, (a) => (a.status === 200 && Array.isArray(a.body?.events) ? { body: { ...a.body, events: edit(a.body.events) } } : undefined)) : undefined;
const withText = (text: string, edit: (e: any) => any) => (events: any[]): any[] => events.map((e) => (e.data?.text === text ? edit(e) : e));

/** Groups of bugs whose checks do not rely on one another, so each group is one short run. */
export const PREREQUISITE_GROUPS: Array<{ title: string; faults: Fault[] }> = [
  {
    title: "instance description, fake-peer discovery, adversarial channel",
    faults: [
      fault("sc/control/instance@bob", "reports a key_id that is not derived from its public key", "get", "*/control/v1/instance", (s) => altered(s, (a) => (a.status === 200 ? { body: { ...a.body, key_id: otherKeyId(a.body.key_id) } } : undefined))),
      fault("adv/setup/fake-peer@alice", "records a discovered peer under another key", "post", PEERS, (s) => (String(s.json?.server_name).startsWith("mallory-") ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, key_id: otherKeyId(a.body.key_id) } } : undefined)) : undefined)),
      fault("adv/setup/channel@alice", "fails to create channels", "post", "*/control/v1/channels", when((s) => String(s.json?.name).startsWith("adv-"), () => error("SMCP_INTERNAL"))),
    ],
  },
  {
    title: "key document, fresh peers, invites both ways",
    faults: [
      fault("sc/discovery/well-known@bob", "publishes keys valid for 30 days", "get", "*/federation/v1/keys", (s) => altered(s, (a) => ({ body: { ...a.body, verify_keys: a.body.verify_keys.map((k: any) => ({ ...k, valid_until_ts: Date.now() + 30 * 86_400_000 })) } }))),
      fault("adv/keys/fresh-peer-baseline@alice", "does not record a server it discovered to authenticate a request", "get", PEERS, (s) => altered(s, (a) => (a.status === 200 ? { body: { peers: a.body.peers.filter((p: any) => !String(p.server_name).startsWith("honest-")) } } : undefined))),
      fault("adv/hub/invite@alice", "refuses invites", "post", "*/federation/v1/invite", when((s) => String(s.json?.channel).startsWith("!fake-"), () => error("SMCP_FORBIDDEN"))),
      fault("adv/participant/invited@alice", "reports an accepted invite as refused", "post", "*/control/v1/channels/:channel/invites", (s) => (String(s.json?.server).startsWith("mallory-") ? altered(s, (a) => ({ body: { ...a.body, accepted: false } })) : undefined)),
    ],
  },
  {
    title: "host mapping, and the fake peer's membership as caller, submitter, reader, recipient and removed member",
    faults: [
      fault("sc/setup/host-map@alice", "refuses loopback host mappings", "put", "*/control/v1/hosts/:name", when((s) => s.path.endsWith("/bob.test"), () => error("SMCP_INVALID"))),
      fault("adv/hub/out-of-order@bob", "exposes events in the order they arrived", "get", EVENTS, eventsOf("!fake-", (evs) => [...evs].reverse())),
      fault("adv/calls/member-call@bob", "answers a call under another call_id", "post", "*/federation/v1/call", (s) => (String(s.json?.params?.title).startsWith("fake-task-") ? altered(s, (a) => ({ body: { ...a.body, call_id: "another-call" } })) : undefined)),
      fault("adv/txn/submission-sequenced@bob", "processes a member's submission without sequencing it", "put", "*/federation/v1/send/:txn", (s) => ((s.json?.submissions ?? []).length > 0 ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, sequenced: [] } } : undefined)) : undefined)),
      fault("adv/participant/backfill@bob", "ignores limit on backfill", "get", "*/federation/v1/channels/:channel/events", (s) => (s.query.get("limit") === "1" ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, events: a.body.events.slice(0, 0) } } : undefined)) : undefined)),
      sending("adv/participant/publish-fanout@bob", "drops published events on the way to remote members (and counts them delivered)", (_key, method, path, body: any) => {
        const evs: any[] = body?.events ?? [];
        if (method !== "PUT" || !path.startsWith("/federation/v1/send/") || !evs.some((e) => e.type === "conformance:probe")) return undefined;
        return { answer: { status: 200, body: { processed: evs.map((e) => e.event_id), rejected: [], sequenced: [] } } };
      }),
      fault("adv/removal/leave-delivered@bob", "still lists a removed member", "delete", "*/control/v1/channels/:channel/members/:server", (s) => altered(s, (a) => (a.status === 200 ? { body: { ...a.body, members: [...a.body.members, decodeURIComponent(s.path.split("/").pop()!)].sort() } } : undefined))),
      fault("adv/hub/gap-backfill@alice", "never fills a gap", "get", EVENTS, eventsOf("!fake-", (evs) => evs.filter((e) => e.seq < 3))),
      fault("adv/hub/submission@alice", "answers a publish in a remote hub's channel with a seq of its own", "post", EVENTS, (s) => (channelParam(s).startsWith("!fake-") ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, seq: a.body.seq + 1 } } : undefined)) : undefined)),
    ],
  },
  {
    title: "discovery of each other, unknown event members",
    faults: [
      fault("sc/discovery/alice-finds-bob", "does not learn a peer's components", "post", PEERS, (s) => (s.json?.server_name === "bob.test" ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, components: [] } } : undefined)) : undefined), { on: "alice" }),
      fault("sc/discovery/bob-finds-alice", "does not learn a peer's components", "post", PEERS, (s) => (s.json?.server_name === "alice.test" ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, components: [] } } : undefined)) : undefined), { on: "bob" }),
      fault("adv/hub/unknown-type-and-members@alice", "drops unknown members of stored events", "get", EVENTS, eventsOf("!fake-", (evs) => evs.map(({ x_future: _drop, ...e }) => e))),
    ],
  },
  { title: "channel creation", faults: [fault("sc/channel/create", "lists a stranger among a new channel's members", "post", "*/control/v1/channels", (s) => (String(s.json?.name).startsWith("conf-") ? altered(s, (a) => (a.status === 201 ? { body: { ...a.body, members: [...a.body.members, "ghost.test"] } } : undefined)) : undefined), { on: "alice" })] },
  { title: "joining", faults: [fault("sc/channel/bob-joins", "does not list a joined channel", "get", "*/control/v1/channels", (s) => altered(s, (a) => (a.status === 200 ? { body: { channels: a.body.channels.filter((c: any) => !String(c.channel).startsWith("!conf-")) } } : undefined)), { on: "bob" })] },
  {
    title: "events both ways, the first call",
    faults: [
      fault("sc/events/alice-to-bob", "changes an event's data on the participant", "get", EVENTS, eventsOf("!conf-", withText("hello from alice", (e) => ({ ...e, data: { ...e.data, text: "changed" } }))), { on: "bob" }),
      fault("sc/events/bob-to-alice-via-hub", "changes a submitted event's data on the hub", "get", EVENTS, eventsOf("!conf-", withText("hello from bob", (e) => ({ ...e, data: { ...e.data, text: "changed" } }))), { on: "alice" }),
      fault("sc/calls/create-task", "returns task ID 0", "post", CALLS, (s) => (s.json?.tool === "create_task" ? altered(s, (a) => (a.status === 200 && a.body.result?.structuredContent?.task ? { body: { ...a.body, result: { ...a.body.result, structuredContent: { task: { ...a.body.result.structuredContent.task, id: 0 } } } } } : undefined)) : undefined), { on: "alice" }),
    ],
  },
  {
    title: "the callee's consent",
    faults: [fault("sc/calls/bob-grants-alice", "refuses bob's invite to the channel that lets it call bob's tools (no conformance invite policy, CONF-10)", "post", "*/federation/v1/invite", (s) => (String(s.json?.channel).startsWith("!calls-") ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, accepted: false } } : undefined)) : undefined), { on: "alice" })],
  },
  { title: "listing tasks", faults: [fault("sc/calls/list-tasks", "lists no tasks", "post", CALLS, (s) => (s.json?.tool === "list_tasks" ? altered(s, (a) => (a.status === 200 ? { body: { ...a.body, result: { ...a.body.result, structuredContent: { tasks: [] } } } } : undefined)) : undefined), { on: "alice" })] },
];
