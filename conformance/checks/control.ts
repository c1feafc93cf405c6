// Conformance harness: the Control API contract each instance under test must keep (spec §12), so that any harness
// can drive it — authentication, channel errors, long-poll, call relaying and call_id pass-through.
import { sendRaw } from "../../protocol/http-client.ts";
import type { EventList, RemoteCallResult } from "../../protocol/types.ts";
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, target, type Check } from "../context.ts";
import { freePort } from "../deployment.ts";
import { advChannel, known, sharedChannel } from "./support/state.ts";
import { uid } from "./support/requests.ts";
import { taskOf, tasksOf } from "./support/matchers.ts";
import { expectSameJson } from "./support/json-value.ts";

export const controlChecks: Check[] = [
  ...perTarget((role) => ({
    id: "ctl/bad-bodies",
    name: "the Control API answers malformed JSON with 400 SMCP_BAD_JSON and schema violations with 400 SMCP_INVALID + details",
    requirements: ["CTRL-06", "ERR-05"],
    level: "MUST",
    prerequisites: ["sc/control/instance@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const url = `${t.baseUrl}/control/v1/channels`;
      const headers = { authorization: `Bearer ${t.token}`, "content-type": "application/json" };
      const bad = await sendRaw(ctx.dispatcher, url, { method: "POST", headers, body: Buffer.from('{"name":'), timeoutMs: 10_000 });
      ctx.recorder.record({ dir: "out", via: `control@${role}`, method: "POST", url, body: '{"name":', status: bad.status, response: bad.raw.toString("utf8") });
      expectError(bad, "SMCP_BAD_JSON", "control body that is not JSON");
      const invalid = await t.control.request("POST", "/control/v1/channels", { name: "Not A Valid Name!" });
      const err = expectError(invalid, "SMCP_INVALID", "control body violating CreateChannel");
      ensure(Array.isArray(err.details) && err.details.length > 0, "SMCP_INVALID without details", "details", err);
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/auth-required",
    name: "Control API requests without the bearer token, with a wrong one, or with the token but no Bearer scheme get 401 SMCP_UNAUTHORIZED",
    requirements: ["CTRL-01"],
    level: "MUST",
    prerequisites: ["sc/control/instance@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const variants: Array<[string, Record<string, string>]> = [["no token", {}], ["wrong token", { authorization: "Bearer not-the-token" }], ["the token without the Bearer scheme", { authorization: t.token }]];
      for (const [what, headers] of variants) {
        const url = `${t.baseUrl}/control/v1/instance`;
        const a = await sendRaw(ctx.dispatcher, url, { method: "GET", headers: { ...headers }, timeoutMs: 10_000 });
        ctx.recorder.record({ dir: "out", via: `control@${role}`, method: "GET", url, status: a.status, response: a.raw.toString("utf8") });
        expectError(a, "SMCP_UNAUTHORIZED", `control request with ${what}`);
      }
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/unknown-channel",
    name: "reading a channel or its events that the instance does not hold gets 404 SMCP_UNKNOWN_CHANNEL",
    requirements: ["CTRL-14", "CTRL-25"],
    level: "MUST",
    prerequisites: ["sc/control/instance@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const ch = encodeURIComponent(`!nope-${ctx.runId}:${t.name}`);
      expectError(await t.control.request("GET", `/control/v1/channels/${ch}`), "SMCP_UNKNOWN_CHANNEL", "GET unknown channel");
      expectError(await t.control.request("GET", `/control/v1/channels/${ch}/events?after=0`), "SMCP_UNKNOWN_CHANNEL", "GET events of unknown channel");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/channel-conflict",
    name: "creating a channel that already exists gets 409 SMCP_CONFLICT",
    requirements: ["CTRL-13"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const a = await t.control.request("POST", "/control/v1/channels", { name: `adv-${ctx.runId}-${role[0]}` });
      expectError(a, "SMCP_CONFLICT", "second create of the same channel");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/publish-reserved",
    name: "publishing an smcp: event type through the Control API gets 400 SMCP_INVALID",
    requirements: ["CTRL-19", "EVT-01"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const ch = advChannel(ctx, role);
      const a = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "smcp:member.join", data: { server: "x.test" } });
      expectError(a, "SMCP_INVALID", "publish of a reserved type");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/publish-too-large",
    name: "publishing data over the hub's max_event_data_bytes through the Control API gets 413 SMCP_TOO_LARGE",
    requirements: ["CTRL-19", "EVT-12"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const pad = "x".repeat(t.discovery.limits.max_event_data_bytes + 1);
      const a = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:big", data: { pad } });
      expectError(a, "SMCP_TOO_LARGE", "publish of oversized data");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/invite-self",
    name: "a hub asked to invite itself answers 400 SMCP_INVALID",
    requirements: ["CHAN-14"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const ch = advChannel(ctx, role);
      const a = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/invites`, { server: t.name });
      expectError(a, "SMCP_INVALID", "self-invite");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/long-poll",
    name: "GET events with wait_ms answers as soon as an event arrives, and with an empty list when wait_ms elapses",
    requirements: ["CTRL-24", "CTRL-22"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    // Each half long-polls its own instance's channel: the two wait out wait_ms side by side.
    sideBySide: true,
    async run(ctx) {
      const t = target(ctx, role);
      const ch = advChannel(ctx, role);
      const { local_seq } = await t.control.events(ch);
      let started = performance.now();
      const empty = await t.control.events(ch, local_seq + 1000, 300);
      const waited = performance.now() - started;
      ensure(empty.events.length === 0 && waited >= 250 && waited < 5_000, "an empty long-poll did not wait about wait_ms", "200 with no events after ~300 ms", `${empty.events.length} events after ${Math.round(waited)} ms`);
      started = performance.now();
      const poll = t.control.events(ch, local_seq, 10_000);
      const pub = await t.control.publish(ch, "conformance:probe", { marker: uid(ctx, "poll") });
      const got: EventList = await poll;
      const took = performance.now() - started;
      ensure(got.events.some((e) => e.event_id === pub.event_id) && took < 5_000, "the long-poll did not answer promptly with the new event", `the event within 5 s`, `${got.events.map((e) => e.event_id).join(",")} after ${Math.round(took)} ms`);
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/membership-errors",
    name: "only the hub invites or removes (403 SMCP_NOT_HUB); removing a non-member is 404 SMCP_NOT_FOUND, removing the hub 400 SMCP_INVALID",
    requirements: ["CHAN-04", "CHAN-21"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@", "sc/channel/bob-joins"],
    async run(ctx) {
      const t = target(ctx, role);
      const own = encodeURIComponent(advChannel(ctx, role));
      const shared = encodeURIComponent(sharedChannel(ctx));
      if (role === "bob") {
        expectError(await t.control.request("POST", `/control/v1/channels/${shared}/invites`, { server: ctx.fake.name }), "SMCP_NOT_HUB", "participant inviting");
        expectError(await t.control.request("DELETE", `/control/v1/channels/${shared}/members/${ctx.alice.name}`), "SMCP_NOT_HUB", "participant removing");
      }
      expectError(await t.control.request("DELETE", `/control/v1/channels/${own}/members/nobody-${ctx.runId}.test`), "SMCP_NOT_FOUND", "removing a non-member");
      expectError(await t.control.request("DELETE", `/control/v1/channels/${own}/members/${t.name}`), "SMCP_INVALID", "removing the hub");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/peer-unreachable",
    name: "inviting, or calling a tool of, a server that cannot be reached answers 502 SMCP_PEER_UNREACHABLE",
    requirements: ["CTRL-16", "CTRL-29"],
    level: "MUST",
    prerequisites: ["adv/setup/channel@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const name = `down-${ctx.runId}-${role[0]}.test`;
      await t.control.mapHost(name, `http://127.0.0.1:${await freePort()}`);
      const own = encodeURIComponent(advChannel(ctx, role));
      expectError(await t.control.request("POST", `/control/v1/channels/${own}/invites`, { server: name }), "SMCP_PEER_UNREACHABLE", "invite of an unreachable server");
      expectError(await t.control.request("POST", "/control/v1/calls", { target: `smcp://${name}/vikunja`, tool: "list_tasks", params: {} }), "SMCP_PEER_UNREACHABLE", "call to an unreachable server");
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/discover-unreachable",
    name: "discovering a mapped server that does not answer gets 502 SMCP_PEER_UNREACHABLE with retry_after_ms",
    requirements: ["CTRL-09", "ERR-04"],
    level: "MUST",
    prerequisites: ["sc/control/instance@@"],
    async run(ctx) {
      const t = target(ctx, role);
      const name = `gone-${ctx.runId}.test`;
      await t.control.mapHost(name, `http://127.0.0.1:${await freePort()}`);
      const err = expectError(await t.control.request("POST", "/control/v1/peers", { server_name: name }), "SMCP_PEER_UNREACHABLE", "discovery of a dead address");
      ensure(typeof err.retry_after_ms === "number", "SMCP_PEER_UNREACHABLE without retry_after_ms", "retry_after_ms", err);
    },
  })),
];

const bobVikunja = (ctx: Parameters<Check["run"]>[0]): string => `smcp://${known(ctx, "bob").name}/vikunja`;

export const controlCallChecks: Check[] = [
  {
    id: "ctl/call-errors-relayed",
    name: "a remote SMCP_UNKNOWN_TOOL reaches the Control API caller with the same errcode and status",
    requirements: ["CTRL-28"],
    level: "MUST",
    prerequisites: ["sc/calls/create-task"],
    async run(ctx) {
      const a = await known(ctx, "alice").control.request("POST", "/control/v1/calls", { target: bobVikunja(ctx), tool: "no_such_tool", params: {} });
      expectError(a, "SMCP_UNKNOWN_TOOL", "control call of an unknown remote tool");
    },
  },
  {
    id: "ctl/call-id-passthrough",
    name: "a Control API call_id is used unchanged end to end: a repeat returns the same result and runs the tool once",
    requirements: ["CTRL-27", "CALL-10", "CALL-08"],
    level: "MUST",
    prerequisites: ["sc/calls/list-tasks"],
    async run(ctx) {
      const alice = known(ctx, "alice").control;
      const count = async (): Promise<number> => tasksOf(await alice.call({ target: bobVikunja(ctx), tool: "list_tasks", params: {} as never }), "list_tasks").length;
      const before = await count();
      const body = { target: bobVikunja(ctx), tool: "create_task", params: { title: uid(ctx, "once") } as never, call_id: uid(ctx, "ctl-call") };
      const first: RemoteCallResult = await alice.call(body);
      ensure(first.call_id === body.call_id, "the result does not carry the caller's call_id", body.call_id, first.call_id);
      taskOf(first, "create_task");
      const second = expectOk<RemoteCallResult>(await alice.request("POST", "/control/v1/calls", body), "RemoteCallResult", "repeated control call");
      expectSameJson(second, first, "a repeated call_id returned another result");
      ensure((await count()) === before + 1, "the tool ran more than once", before + 1, "more");
    },
  },
];
