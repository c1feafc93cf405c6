// Conformance harness: what each instance publishes about itself (discovery, key document, ping) agrees with itself, and
// the Control API's order of checks and host-mapping rules (spec §6.1, §6.4, §12.5, §14).
import { ERROR_STATUS, type ErrorCode } from "../../protocol/errors.ts";
import { sendRaw, type HttpAnswer } from "../../protocol/http-client.ts";
import type { Ping } from "../../protocol/types.ts";
import { answerSummary, ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, target, type Check, type CheckContext, type Role } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { bodyText } from "../wire-log.ts";
import { advChannel, known } from "./support/state.ts";
import { plainHttpLayer400 } from "./spec-101.ts";
import { uid } from "./support/requests.ts";
import { taskOf, tasksOf } from "./support/matchers.ts";
import { expectSameJson, sameJson } from "./support/json-value.ts";

/** One raw request (control or unsigned federation), recorded in the check's wire log. */
async function raw(ctx: CheckContext, role: Role, method: string, url: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
  const bytes = body === undefined ? undefined : Buffer.from(body, "utf8");
  const a = await sendRaw(ctx.dispatcher, url, { method, headers, body: bytes, timeoutMs: 10_000 });
  ctx.recorder.record({ dir: "out", via: `raw@${role}`, method, url, body: bodyText(bytes), status: a.status, response: bodyText(a.raw) });
  return a;
}

/** Names reserved for SMCP services (NAME-09); every other listed component is an MCP component. */
const SERVICES = ["paulina", "naomi", "roshumba", "vendela", "gail", "judith", "kathy"];

const sameSet = (a: string[], b: string[]): boolean => sameJson([...new Set(a)].sort(), [...new Set(b)].sort());

const selfDescription = perTarget((role) => ({
  id: "adv/discovery/self-consistent",
  name: "the discovery endpoint is a bare base URL, versions are MAJOR.MINOR, discovery and Control API list the same components, and ping every MCP one",
  requirements: ["DISC-03", "DISC-05", "DISC-29", "VER-01", "VER-02"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const doc = t.discovery;
    ensure(/^https?:\/\/[^/?#\s]+$/.test(doc.endpoint), "endpoint is not a bare base URL (scheme, host, optional port; no path)", "http(s)://host[:port]", doc.endpoint);
    const bad = doc.versions.filter((v) => !/^(0|[1-9]\d*)\.(0|[1-9]\d*)$/.test(v));
    ensure(bad.length === 0 && doc.versions.includes("1.0"), "versions must be MAJOR.MINOR strings and include 1.0", "[\"1.0\", ...]", doc.versions);
    const info = await t.control.instance();
    ensure(sameSet(info.components, doc.components), "InstanceInfo.components differs from the discovery document's", doc.components, info.components);
    const ping = expectOk<Ping>(await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/ping" }), "Ping", "signed ping", 200);
    // DISC-29: ping lists every MCP component; SMCP services answering in-process may be left out.
    const pinged = ping.components.map((c) => c.name);
    const unlisted = pinged.filter((n) => !doc.components.includes(n));
    ensure(unlisted.length === 0, "ping reports the health of components discovery does not list", doc.components, unlisted);
    const mcp = doc.components.filter((n) => !SERVICES.includes(n));
    const missing = mcp.filter((n) => !pinged.includes(n));
    ensure(missing.length === 0, "ping omits MCP components the instance lists", mcp, pinged);
  },
}));

const unsignedDocuments = perTarget((role) => ({
  id: "adv/discovery/auth-header-ignored",
  name: "the discovery and key documents are served without a signature, and a garbage X-SMCP-Authorization sent to them is ignored",
  requirements: ["SIGN-03", "VER-01"],
  level: "MUST",
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const headers = { "x-smcp-authorization": "SMCP-Ed25519 garbage" };
    expectOk(await raw(ctx, role, "GET", `${t.discovery.endpoint}/.well-known/smcp/server`, headers), "ServerDiscovery", "well-known with a garbage auth header", 200);
    expectOk(await raw(ctx, role, "GET", `${t.discovery.endpoint}/federation/v1/keys`, headers), "KeyDocument", "keys with a garbage auth header", 200);
  },
}));

const controlOrder = perTarget((role) => ({
  id: "ctl/check-order",
  name: "the Control API answers requests failing several checks with the first in §12.5 order: route, token, media type, JSON, schema",
  requirements: ["CTRL-30", "CTRL-04"],
  level: "MUST",
  prerequisites: ["sc/control/instance@@"],
  async run(ctx) {
    const t = target(ctx, role);
    const base = `${t.baseUrl}/control/v1`;
    const auth = { authorization: `Bearer ${t.token}` };
    const json = { "content-type": "application/json" };
    const cases: Array<[string, () => Promise<HttpAnswer>, ErrorCode]> = [
      ["unknown route, no token", () => raw(ctx, role, "GET", `${base}/no-such-endpoint`, {}), "SMCP_NOT_FOUND"],
      ["method not allowed, no token", () => raw(ctx, role, "DELETE", `${base}/instance`, {}), "SMCP_METHOD_NOT_ALLOWED"],
      ["no token, body not JSON", () => raw(ctx, role, "POST", `${base}/channels`, json, '{"name":'), "SMCP_UNAUTHORIZED"],
      ["wrong media type, body not JSON", () => raw(ctx, role, "POST", `${base}/channels`, { ...auth, "content-type": "text/plain" }, '{"name":'), "SMCP_UNSUPPORTED_MEDIA_TYPE"],
      ["body not JSON (before schema)", () => raw(ctx, role, "POST", `${base}/channels`, { ...auth, ...json }, '{"name":1'), "SMCP_BAD_JSON"],
    ];
    const wrong: string[] = [];
    for (const [what, send, errcode] of cases) {
      const a = await send();
      try {
        expectError(a, errcode, what);
      } catch {
        wrong.push(`${what}: expected ${ERROR_STATUS[errcode]} ${errcode}, got ${answerSummary(a)}`);
      }
    }
    if (wrong.length > 0) fail(`${wrong.length} control requests got the error of a later check`, "the first failing check's error", wrong.join("\n"));
  },
}));

const hostMapRules = perTarget((role) => ({
  id: "ctl/host-map-remote-http",
  name: "a host mapping to plain http on a non-loopback host is refused with 400 SMCP_INVALID; https and loopback http are accepted",
  requirements: ["DISC-22", "CTRL-10"],
  level: "MUST",
  prerequisites: ["sc/control/instance@@"],
  async run(ctx) {
    const t = target(ctx, role);
    const name = `unmapped-${ctx.runId}-${role[0]}.test`;
    const put = (base_url: string): Promise<HttpAnswer> => t.control.request("PUT", `/control/v1/hosts/${encodeURIComponent(name)}`, { base_url });
    for (const url of ["http://example.com:8080", "http://192.0.2.7"]) expectError(await put(url), "SMCP_INVALID", `mapping to ${url}`);
    for (const url of ["https://example.com", "http://127.0.0.1:9"]) {
      const a = await put(url);
      ensure(a.status >= 200 && a.status < 300, `mapping to ${url} refused`, "2xx", answerSummary(a));
    }
  },
}));

const selfPeer = perTarget((role) => ({
  id: "ctl/self-not-peer",
  name: "POST /control/v1/peers naming the instance itself gets 400 SMCP_INVALID",
  requirements: ["CTRL-31"],
  level: "MUST",
  prerequisites: ["sc/control/instance@@"],
  async run(ctx) {
    const t = target(ctx, role);
    expectError(await t.control.request("POST", "/control/v1/peers", { server_name: t.name }), "SMCP_INVALID", "discovering itself");
  },
}));

const controlBodyLimit = perTarget((role) => ({
  id: "ctl/body-limit",
  name: "a Control API body over the advertised limits.max_body_bytes gets 413 SMCP_TOO_LARGE",
  requirements: ["CTRL-36"],
  level: "SHOULD",
  prerequisites: ["sc/discovery/well-known@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const body = JSON.stringify({ name: "x".repeat(t.discovery.limits.max_body_bytes) });
    const a = await raw(ctx, role, "POST", `${t.baseUrl}/control/v1/channels`, { authorization: `Bearer ${t.token}`, "content-type": "application/json" }, body);
    expectError(a, "SMCP_TOO_LARGE", `control body of ${body.length} bytes`);
  },
}));

const selfCall = perTarget((role) => ({
  id: "ctl/self-call",
  name: "a Control API call whose target is the instance itself is served locally, idempotent per call_id",
  requirements: ["CTRL-35", "CTRL-26", "CTRL-27"],
  level: "MUST",
  prerequisites: ["sc/control/instance@@"],
  async run(ctx) {
    const t = target(ctx, role);
    const target_ = `smcp://${t.name}/vikunja`;
    const count = async (): Promise<number> => tasksOf(await t.control.call({ target: target_, tool: "list_tasks", params: {} }), "list_tasks").length;
    const before = await count();
    const body = { target: target_, tool: "create_task", params: { title: uid(ctx, "self") }, call_id: uid(ctx, "self-call") };
    const first = await t.control.call(body);
    const again = await t.control.call(body);
    taskOf(first, "create_task");
    expectSameJson(again, first, "a repeated self call_id got another result");
    ensure((await count()) === before + 1, "the self call ran the tool more or less than once", before + 1, "another count");
  },
}));

/** The Control API's publish order and invite idempotency, on the adversarial channel the fake peer has joined. */
export const controlMemberChecks: Check[] = [
  ...perTarget((role) => ({
    id: "ctl/publish-order",
    name: "a publish is checked in §12.3 order: unknown channel, then smcp: type, then data without a canonical form (400 SMCP_INVALID with details), then size",
    requirements: ["CTRL-34", "JCS-08"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = encodeURIComponent(advChannel(ctx, role));
      const pad = "x".repeat(t.discovery.limits.max_event_data_bytes + 1);
      const publish = (channel: string, type: string, data: unknown): Promise<HttpAnswer> => t.control.request("POST", `/control/v1/channels/${channel}/events`, { type, data });
      const unknown = encodeURIComponent(`!nope-${ctx.runId}:${t.name}`);
      expectError(await publish(unknown, "smcp:member.join", { big: 1e21 }), "SMCP_UNKNOWN_CHANNEL", "unknown channel, reserved type");
      expectError(await publish(ch, "smcp:member.join", { big: 1e21, pad }), "SMCP_INVALID", "reserved type, non-canonical data, too large");
      const nc = expectError(await publish(ch, "conformance:probe", { big: 1e21, pad }), "SMCP_INVALID", "data without a canonical form, too large");
      ensure(Array.isArray(nc.details) && nc.details.length > 0, "SMCP_INVALID for non-canonical data without details", "details", nc);
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/invite-member-again",
    name: "inviting a server that is already a member answers accepted: true without sending an invite or sequencing an event",
    requirements: ["CTRL-32"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const before = await t.control.channel(ch);
      const invites = (): number => ctx.fake.records.filter((r) => r.route === "invite" && r.origin === t.name).length;
      const sent = invites();
      const outcome = await t.control.invite(ch, ctx.fake.name);
      ensure(outcome.accepted && outcome.server === ctx.fake.name, "re-inviting a member was not answered accepted", { accepted: true, server: ctx.fake.name }, outcome);
      ensure(invites() === sent, "an invite was sent to a server that is already a member", sent, invites());
      const after = await t.control.channel(ch);
      ensure(after.local_seq === before.local_seq, "an event was sequenced for re-inviting a member", before.local_seq, after.local_seq);
    },
  })),
  ...perTarget((role) => ({
    id: "ctl/invite-invalid-answer",
    name: "an invitee answering 200 with an invalid InviteAnswer makes the invite 502 SMCP_PEER_UNREACHABLE, and no join is sequenced",
    requirements: ["CTRL-33", "CTRL-16"],
    level: "MUST",
    prerequisites: ["adv/participant/invited@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = advChannel(ctx, role);
      const peer = await FakePeer.start(`bad-invitee-${ctx.runId}-${role[0]}.test`, ctx.recorder, { invalidInviteAnswer: true });
      try {
        peer.addInstance(t.name, t.discovery.endpoint, t.key);
        await t.control.mapHost(peer.name, peer.url);
        await t.control.discover(peer.name);
        const before = await t.control.channel(ch);
        const a = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/invites`, { server: peer.name });
        expectError(a, "SMCP_PEER_UNREACHABLE", "invite answered with an invalid InviteAnswer");
        ensure(peer.records.some((r) => r.route === "invite"), "the invite was never sent to the invitee", "POST /federation/v1/invite", "none");
        const after = await t.control.channel(ch);
        ensure(after.local_seq === before.local_seq && !after.members.includes(peer.name), "a join was sequenced for an invalid invite answer", { local_seq: before.local_seq, members: before.members }, after);
      } finally {
        await peer.close();
      }
    },
  })),
  ...perTarget((role) => ({
    id: "adv/http/path-and-query",
    name: "bad percent-encoding in a path segment and malformed, missing or out-of-range integer query parameters get 400 SMCP_INVALID on both APIs; a repeated parameter counts once",
    requirements: ["SIGN-44", "SIGN-36", "SIGN-46"],
    level: "MUST",
    prerequisites: ["adv/participant/backfill@@"],
    async run(ctx) {
      const t = known(ctx, role);
      const ch = encodeURIComponent(advChannel(ctx, role));
      const wrong: string[] = [];
      // SIGN-46: for bad percent-encoding only, an HTTP layer's own plain 400 (no SMCP error body at all) may stand.
      const expect400 = async (what: string, a: Promise<HttpAnswer>, httpLayerMay = false): Promise<void> => {
        const got = await a;
        if (httpLayerMay && plainHttpLayer400(got)) return;
        if (got.status !== 400 || (got.body as { errcode?: unknown } | undefined)?.errcode !== "SMCP_INVALID") wrong.push(`${what}: ${answerSummary(got)}`);
      };
      const fed = (path: string): Promise<HttpAnswer> => ctx.fake.send(t.name, { method: "GET", path });
      await expect400("federation: %ZZ in the channel segment", fed("/federation/v1/channels/%ZZ/events?after=0"), true);
      await expect400("federation: after=01", fed(`/federation/v1/channels/${ch}/events?after=01`));
      await expect400("federation: after=-1", fed(`/federation/v1/channels/${ch}/events?after=-1`));
      await expect400("federation: limit=1001", fed(`/federation/v1/channels/${ch}/events?after=0&limit=1001`));
      await expect400("control: %ZZ in the channel segment", t.control.request("GET", "/control/v1/channels/%ZZ"), true);
      await expect400("control: after=1e2", t.control.request("GET", `/control/v1/channels/${ch}/events?after=1e2`));
      await expect400("control: wait_ms=30001", t.control.request("GET", `/control/v1/channels/${ch}/events?after=0&wait_ms=30001`));
      if (wrong.length > 0) fail(`${wrong.length} malformed requests not answered 400 SMCP_INVALID`, "400 SMCP_INVALID", wrong.join("\n"));
      expectOk(await fed(`/federation/v1/channels/${ch}/events?after=0&limit=1&limit=zz`), "BackfillPage", "repeated limit (the first counts)", 200);
    },
  })),
];

/** Before any channel exists with the fake peer: only the two instances and the harness are involved. */
export const documentChecks: Check[] = [...selfDescription, ...unsignedDocuments];
export const controlOrderChecks: Check[] = [...controlOrder, ...hostMapRules, ...selfPeer, ...controlBodyLimit, ...selfCall];
