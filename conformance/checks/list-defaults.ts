// Conformance harness: what lists hold when the client names no limit, and list orders that only show with more than
// a handful of items — Control API events and federation backfill default to 100, list_tasks is in id order, and
// the host and peer operations answer exactly as §12.2 says (spec §9.4, §12.2, §12.3, §16).
import { PAGE_LIMIT_DEFAULT } from "../../protocol/limits.ts";
import type { BackfillPage, EventList, RemoteCallResult } from "../../protocol/types.ts";
import { ensure, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";
import { backfillPath, fakeCall, fakeListTasks, remoteCall, uid } from "./support/requests.ts";
import { taskOf } from "./support/matchers.ts";

/** Events published on top of the create and join events: the channel then holds more than one default page. */
const PUBLISHED = PAGE_LIMIT_DEFAULT + 2;

function listCheck(id: string, name: string, requirements: string[], prerequisite: string, run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: [prerequisite], run: (ctx) => run(ctx, role) }));
}

/** Publishes `n` events on `channel`, ten at a time. */
async function publishMany(ctx: CheckContext, role: Role, channel: string, n: number): Promise<void> {
  const t = known(ctx, role);
  for (let i = 0; i < n; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => t.control.publish(channel, "conformance:page", { n: i + j })));
  }
}

export const listDefaultChecks: Check[] = [
  ...listCheck("adv/lists/default-page", `without limit, Control API events and a member's backfill hold ${PAGE_LIMIT_DEFAULT} events of a longer channel, from after + 1 in order`, ["CTRL-22", "DLV-18"], "adv/participant/invited@@", async (ctx, role) => {
    const t = known(ctx, role);
    // A channel of its own (only the fake peer invited, after the events), so that its length is known exactly.
    const channel = (await t.control.createChannel(uid(ctx, "pages"))).channel;
    await publishMany(ctx, role, channel, PUBLISHED);
    try {
      const outcome = await t.control.invite(channel, ctx.fake.name);
      ensure(outcome.accepted, "the fake peer's invite was not accepted", true, outcome);
      const seqs = (evs: { seq: number }[]): number[] => evs.map((e) => e.seq);
      const want = Array.from({ length: PAGE_LIMIT_DEFAULT }, (_, i) => i + 1);
      const list = expectOk<EventList>(await t.control.request("GET", `/control/v1/channels/${encodeURIComponent(channel)}/events`), "EventList", "GET events without limit", 200);
      ensure(JSON.stringify(seqs(list.events)) === JSON.stringify(want), `GET events without limit is not seqs 1..${PAGE_LIMIT_DEFAULT}`, `1..${PAGE_LIMIT_DEFAULT}`, seqs(list.events));
      const page = expectOk<BackfillPage>(await ctx.fake.send(t.name, { method: "GET", path: backfillPath(channel, "after=0") }), "BackfillPage", "backfill without limit", 200);
      ensure(JSON.stringify(seqs(page.events)) === JSON.stringify(want), `backfill without limit is not seqs 1..${PAGE_LIMIT_DEFAULT}`, `1..${PAGE_LIMIT_DEFAULT}`, seqs(page.events));
      ctx.note(`${PUBLISHED + 2} events; both default pages held ${PAGE_LIMIT_DEFAULT}`);
    } finally {
      // Leave no membership behind: the removal checks need the fake peer to share only the adversarial channel.
      await t.control.request("DELETE", `/control/v1/channels/${encodeURIComponent(channel)}/members/${ctx.fake.name}`);
    }
  }),
  ...listCheck("adv/lists/tasks-in-id-order", "list_tasks lists tasks in id order even when their titles sort the other way", ["CONF-03"], "adv/calls/member-call@@", async (ctx, role) => {
    const t = known(ctx, role);
    const ids: Array<string | number> = [];
    for (const title of [uid(ctx, "zz-order"), uid(ctx, "aa-order")]) {
      ids.push(taskOf(expectOk<RemoteCallResult>(await fakeCall(ctx, t, remoteCall(ctx, t, "create_task", { title })), "RemoteCallResult", "create_task", 200), "create_task").id);
    }
    const listed = (await fakeListTasks(ctx, t)).map((x) => x.id);
    const at = ids.map((id) => listed.indexOf(id));
    ensure(at[0]! >= 0 && at[1]! > at[0]!, "list_tasks does not list the later task after the earlier one (id order, §16)", ids, listed);
    const numeric = listed.every((id) => typeof id === "number");
    if (numeric) ensure(listed.every((id, i) => i === 0 || (id as number) > (listed[i - 1] as number)), "list_tasks ids are not ascending", "ascending ids", listed);
  }),
  ...listCheck("adv/control/hosts-and-peers", "PUT /control/v1/hosts answers 204 without a body; POST /control/v1/peers fetches the discovery document again", ["CTRL-10", "CTRL-08"], "adv/setup/fake-peer@@", async (ctx, role) => {
    const t = known(ctx, role);
    const put = await t.control.request("PUT", `/control/v1/hosts/${encodeURIComponent(`unused-${ctx.runId}.test`)}`, { base_url: ctx.fake.url });
    ensure(put.status === 204 && put.raw.length === 0, "PUT hosts did not answer 204 No Content", "204, empty body", `${put.status} ${put.raw.toString("utf8").slice(0, 200)}`);
    const since = ctx.fake.records.length;
    const info = await t.control.discover(ctx.fake.name);
    ensure(info.key_id === ctx.fake.key.keyId, "POST peers returned another key", ctx.fake.key.keyId, info.key_id);
    const fetched = ctx.fake.records.slice(since).filter((r) => r.route === "well-known").length;
    ensure(fetched >= 1, "POST /control/v1/peers answered from the cache without fetching the discovery document (a forced discovery)", "≥ 1 GET /.well-known/smcp/server", fetched);
  }),
];
