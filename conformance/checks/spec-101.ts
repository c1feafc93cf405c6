// Conformance harness: the points spec 1.0.1 settled that a black box can see — missing bodies, the bound of `after`,
// ValidationIssue paths, events of the receiver's own channel, an invitee before its join, key validity, member order,
// events without a head, a removed server's fresh head (spec §3.1 JCS-17, §4.3 KEY-24, §5.6 SIGN-45/47, §8.5 TXN-41,
// §9 CHAN-23/DLV-33/DLV-34, §12 CTRL-37, §13 ERR-10).
import { KEY_VALIDITY_MS } from "../../protocol/key-document.ts";
import type { HttpAnswer } from "../../protocol/http-client.ts";
import type { BackfillPage, EventList, KeyDocument, TransactionResult } from "../../protocol/types.ts";
import { answerSummary, ensure, expectError, expectOk, fail } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { FakePeer } from "../fake-peer.ts";
import { advChannel, fakeChannel, known } from "./support/state.ts";
import { backfillPath, unsignedGet, uid } from "./support/requests.ts";

/** The largest integer of §3.1 (2^53 − 1), which `after` must accept (SIGN-47). */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const sendPath = (ctx: CheckContext): string => `/federation/v1/send/${ctx.fake.nextTxnId()}`;

function check(id: string, name: string, requirements: string[], prereq: string, run: (ctx: CheckContext, role: Role) => Promise<void>, level: Check["level"] = "MUST"): Check[] {
  return perTarget((role) => ({ id, name, requirements, level, prerequisites: [prereq], run: (ctx) => run(ctx, role) }));
}

/** Collects mismatches of several probes, so one run reports every wrong answer. */
class Probes {
  readonly wrong: string[] = [];
  expect(what: string, a: HttpAnswer, test: (a: HttpAnswer) => void): void {
    try {
      test(a);
    } catch (err) {
      this.wrong.push(`${what}: ${(err as Error).message} — ${answerSummary(a)}`);
    }
  }
  done(message: string, expected: string): void {
    if (this.wrong.length > 0) fail(`${this.wrong.length} ${message}`, expected, this.wrong.join("\n"));
  }
}

const missingBody = check("adv/http/missing-body", "on PUT /federation/v1/send: no body and no Content-Type, or a body without Content-Type, get 415 SMCP_UNSUPPORTED_MEDIA_TYPE; Content-Type application/json with an empty body gets 400 SMCP_BAD_JSON", ["SIGN-45"], "adv/sign/baseline@@", async (ctx, role) => {
  const t = known(ctx, role);
  const p = new Probes();
  const text = Buffer.from(`{"origin":"${ctx.fake.name}","origin_ts":${Date.now()},"heads":[]}`);
  p.expect("no body, no Content-Type", await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx) }), (a) => void expectError(a, "SMCP_UNSUPPORTED_MEDIA_TYPE", "no body"));
  p.expect("a JSON body without Content-Type", await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: text, contentType: null }), (a) => void expectError(a, "SMCP_UNSUPPORTED_MEDIA_TYPE", "no Content-Type"));
  p.expect("Content-Type application/json, empty body", await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: Buffer.alloc(0) }), (a) => void expectError(a, "SMCP_BAD_JSON", "empty body"));
  p.done("body-endpoint requests without a usable body got another answer than SIGN-45's", "415 SMCP_UNSUPPORTED_MEDIA_TYPE without the media type, 400 SMCP_BAD_JSON for an empty JSON body");
});

const afterBound = check("adv/http/after-bound", "`after` accepts 2^53−1 on the federation backfill and the control event list; 2^53 gets 400 SMCP_INVALID", ["SIGN-47", "SIGN-44"], "adv/participant/backfill@@", async (ctx, role) => {
  const t = known(ctx, role);
  const ch = advChannel(ctx, role);
  const p = new Probes();
  const fed = (after: string): Promise<HttpAnswer> => ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, `after=${after}`) });
  const ctl = (after: string): Promise<HttpAnswer> => t.control.request("GET", `/control/v1/channels/${encodeURIComponent(ch)}/events?after=${after}`);
  p.expect(`federation after=${MAX_SAFE}`, await fed(String(MAX_SAFE)), (a) => {
    const page = expectOk<BackfillPage>(a, "BackfillPage", "backfill after 2^53−1", 200);
    ensure(page.events.length === 0, "events after 2^53−1", [], page.events.map((e) => e.seq));
  });
  p.expect(`control after=${MAX_SAFE}`, await ctl(String(MAX_SAFE)), (a) => {
    const list = expectOk<EventList>(a, "EventList", "control events after 2^53−1", 200);
    ensure(list.events.length === 0, "events after 2^53−1", [], list.events.map((e) => e.seq));
  });
  p.expect("federation after=2^53", await fed("9007199254740992"), (a) => void expectError(a, "SMCP_INVALID", "after 2^53"));
  p.expect("control after=2^53", await ctl("9007199254740992"), (a) => void expectError(a, "SMCP_INVALID", "after 2^53"));
  p.done("answers to `after` at and beyond 2^53−1 were wrong", "200 with no events at 2^53−1, 400 SMCP_INVALID at 2^53");
});

/** The `path`s of an SMCP_INVALID answer's details. */
function issuePaths(a: HttpAnswer, where: string): string[] {
  const err = expectError(a, "SMCP_INVALID", where);
  return (err.details ?? []).map((d) => d.path);
}

const issuePathsCheck = check("adv/http/issue-paths", "ValidationIssue.path names a query parameter as /<name>, a body value by its JSON Pointer, and the whole request (bad percent-encoding, a body on GET) as \"\"", ["ERR-10", "ERR-05"], "adv/participant/backfill@@", async (ctx, role) => {
  const t = known(ctx, role);
  const ch = encodeURIComponent(advChannel(ctx, role));
  const p = new Probes();
  const has = (want: string) => (a: HttpAnswer) => {
    const paths = issuePaths(a, "request");
    ensure(paths.includes(want), `no ValidationIssue with path ${JSON.stringify(want)}`, JSON.stringify(want), JSON.stringify(paths));
  };
  p.expect("federation after=01", await ctx.fake.send(t.name, { method: "GET", path: `/federation/v1/channels/${ch}/events?after=01` }), has("/after"));
  p.expect("federation after missing", await ctx.fake.send(t.name, { method: "GET", path: `/federation/v1/channels/${ch}/events` }), has("/after"));
  p.expect("federation limit=1001", await ctx.fake.send(t.name, { method: "GET", path: `/federation/v1/channels/${ch}/events?after=0&limit=1001` }), has("/limit"));
  p.expect("control after=1e2", await t.control.request("GET", `/control/v1/channels/${ch}/events?after=1e2`), has("/after"));
  p.expect("transaction with origin_ts a string", await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), body: { origin: ctx.fake.name, origin_ts: "yesterday" } }), has("/origin_ts"));
  p.expect("a body on GET /federation/v1/ping", await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/ping", rawBody: Buffer.from("{}") }), has(""));
  const pct = await t.control.request("GET", "/control/v1/channels/%ZZ");
  // SIGN-46: an HTTP layer's own plain 400 carries no details to judge; only an SMCP error body is held to ERR-10.
  if (!(pct.status === 400 && plainHttpLayer400(pct))) p.expect("control: %ZZ in the channel segment", pct, has(""));
  p.done("ValidationIssue paths were not the ones ERR-10 names", "/after, /limit, /origin_ts, and \"\" for the whole request");
});

/** An answer that is not an SMCP error body at all: what an HTTP layer sends before any handler runs (SIGN-46). */
export function plainHttpLayer400(a: HttpAnswer): boolean {
  const body = a.body as { errcode?: unknown } | undefined;
  return a.status === 400 && (body === undefined || typeof body !== "object" || body === null || typeof body.errcode !== "string");
}

const ownChannelEvents = check("adv/txn/own-channel-events", "an event of a channel the receiver hubs, sent back to it in `events` by a member, is rejected per item with SMCP_NOT_HUB", ["TXN-41", "TXN-27"], "adv/participant/invited@@", async (ctx, role) => {
  const t = known(ctx, role);
  const ch = advChannel(ctx, role);
  const [first] = await t.control.allEvents(ch);
  ensure(first, "the hub's channel has no events", "smcp:channel.create", "none");
  const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), body: { origin: ctx.fake.name, origin_ts: Date.now(), events: [first] } });
  const r = expectOk<TransactionResult>(a, "TransactionResult", "the hub's own event sent back to it", 200);
  const item = r.rejected.find((x) => x.id === first.event_id);
  ensure(item?.errcode === "SMCP_NOT_HUB", "the hub's own event sent back by a member was not rejected with SMCP_NOT_HUB", { rejected: [{ id: first.event_id, errcode: "SMCP_NOT_HUB" }] }, r);
  ensure(!r.processed.includes(first.event_id), "the event is also listed as processed", "not processed", r.processed);
});

const inviteeBeforeJoin = check("adv/participant/invitee-before-join", "right after accepting an invite from a new hub, before any event: members [] at local_seq 0 and the hub's calls are refused (403); after the create and join events, members include the hub and the invitee", ["CTRL-37", "CHAN-23", "CTRL-12"], "adv/sign/baseline@@", async (ctx, role) => {
  const t = known(ctx, role);
  const hub = await FakePeer.start(`new-hub-${ctx.runId}-${role[0]}.test`, ctx.recorder);
  try {
    hub.addInstance(t.name, t.discovery.endpoint, t.key);
    await t.control.mapHost(hub.name, hub.url);
    await t.control.discover(hub.name);
    const ch = hub.hubCreate(uid(ctx, "before-join"));
    ch.members.add(t.name);
    const answer = await hub.sendInvite(t.name, ch.id);
    ensure(answer.status === 200 && (answer.body as { accepted?: unknown }).accepted === true, "the invite was not accepted", "200 accepted", answerSummary(answer));
    const info = await t.control.channel(ch.id);
    ensure(info.local_seq === 0 && info.members.length === 0, "right after accepting, before any event, members must be [] (CTRL-37)", { local_seq: 0, members: [] }, { local_seq: info.local_seq, members: info.members });
    const call = { origin: hub.name, call_id: uid(ctx, "call"), target: `smcp://${t.name}/vikunja`, tool: "list_tasks", params: {} };
    expectError(await hub.send(t.name, { method: "POST", path: "/federation/v1/call", body: call }), "SMCP_FORBIDDEN", "a call from the hub of a channel whose join the invitee does not hold (CHAN-23)");
    hub.hubAppend(ch.id, "smcp:member.join", { server: t.name });
    expectOk(await hub.sendTransaction(t.name, { events: ch.events, heads: [hub.hubHead(ch.id)] }), "TransactionResult", "create and join events", 200);
    const seen = await t.control.waitForEvents(ch.id, (evs) => evs.length >= 2, ctx.options.deliveryTimeoutMs);
    ensure(seen.length >= 2, "the invitee never exposed the create and join events", 2, seen.length);
    const after = await t.control.channel(ch.id);
    ensure(after.members.includes(hub.name) && after.members.includes(t.name), "after its join, members lack the hub or the invitee (CTRL-12, CTRL-37)", [hub.name, t.name], after.members);
  } finally {
    await hub.close();
  }
});

const keyValidity = check("adv/keys/key-validity", "the key document's valid_until_ts is exactly its ts plus 7 days", ["KEY-24"], "sc/discovery/well-known@@", async (ctx, role) => {
  const t = known(ctx, role);
  const doc = expectOk<KeyDocument>(await unsignedGet(ctx, `${t.discovery.endpoint}/federation/v1/keys`, `harness->${role}`), "KeyDocument", "key document", 200);
  const off = doc.verify_keys.filter((k) => k.valid_until_ts !== doc.ts + KEY_VALIDITY_MS);
  ensure(off.length === 0, "valid_until_ts is not ts + 7 days (KEY-24)", doc.ts + KEY_VALIDITY_MS, off.map((k) => k.valid_until_ts));
}, "SHOULD");

const memberOrder = check("adv/json/member-order", "a transaction whose members come in reverse order (not JCS order) is accepted", ["JCS-17"], "adv/sign/baseline@@", async (ctx, role) => {
  const t = known(ctx, role);
  const a = await ctx.fake.send(t.name, { method: "PUT", path: sendPath(ctx), rawBody: Buffer.from(`{"heads":[],"origin_ts":${Date.now()},"origin":"${ctx.fake.name}"}`) });
  expectOk<TransactionResult>(a, "TransactionResult", "transaction with members in reverse order", 200);
});

const headlessEvents = check("adv/hub/headless-events", "an event of the fake hub's channel in a transaction that carries no head is processed, not refused on DLV-10's ground", ["DLV-34"], "adv/hub/head-backfill@@", async (ctx, role) => {
  const t = known(ctx, role);
  const ch = fakeChannel(ctx, role);
  const ev = ctx.fake.hubAppend(ch, "conformance:message", { marker: uid(ctx, "headless") });
  const r = expectOk<TransactionResult>(await ctx.fake.sendTransaction(t.name, { events: [ev] }), "TransactionResult", "event without a head", 200);
  ensure(r.processed.includes(ev.event_id), "an event without a head in its transaction was not processed (DLV-34)", { processed: [ev.event_id] }, r);
  const seen = await t.control.waitForEvents(ch, (evs) => evs.some((e) => e.event_id === ev.event_id), ctx.options.deliveryTimeoutMs);
  ensure(seen.some((e) => e.event_id === ev.event_id), "the processed event is not exposed", ev.event_id, "absent");
});

/** A hub may reuse a head it signed this recently (the reference's cache): "afresh" allows that much age. */
export const FRESH_HEAD_SLACK_MS = 1_000;

const removedHeadFresh = check("adv/removal/head-fresh", "the head of a removed server's backfill page states its leave and is signed afresh: hub_ts is the hub's current time, not the leave's", ["DLV-33", "DLV-20"], "adv/removal/backfill-bounded@@", async (ctx, role) => {
  const t = known(ctx, role);
  const ch = advChannel(ctx, role);
  const leave = [...(ctx.fake.participant.get(ch)?.events.values() ?? [])].find((e) => e.type === "smcp:member.leave" && (e.data as { server?: unknown }).server === ctx.fake.name);
  ensure(leave, "the fake peer holds no leave of its own", "smcp:member.leave", "none");
  const asked = Date.now();
  const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(ch, `after=${leave.seq - 1}`) }), "BackfillPage", "backfill up to the leave", 200);
  ensure(page.head.seq === leave.seq && page.head.event_id === leave.event_id, "the removed server's head does not state its leave (DLV-20)", { seq: leave.seq, event_id: leave.event_id }, page.head);
  ensure(page.head.hub_ts >= asked - FRESH_HEAD_SLACK_MS, "the removed server's head is not signed afresh (DLV-33)", `hub_ts ≥ ${asked - FRESH_HEAD_SLACK_MS} (the request's time)`, `hub_ts ${page.head.hub_ts}, ${asked - page.head.hub_ts} ms old; the leave's hub_ts ${leave.hub_ts}`);
  ctx.note(`leave sequenced ${asked - leave.hub_ts} ms before the request`);
});

/** Before any channel with the fake peer. */
export const spec101EdgeChecks: Check[] = [...missingBody, ...memberOrder, ...keyValidity, ...inviteeBeforeJoin];
/** With the fake peer a member of each instance's channel (after adv/participant/backfill). */
export const spec101MemberChecks: Check[] = [...afterBound, ...issuePathsCheck, ...ownChannelEvents];
/** Late in the run, seconds after the removal, so that a head kept from the leave's time is told from a fresh one. */
export const spec101LateChecks: Check[] = [...removedHeadFresh];
/** After the fake hub's channel checks. */
export const spec101HubChecks: Check[] = [...headlessEvents];
