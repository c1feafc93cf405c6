// Conformance harness: poison events — event data nested deeper than the bound is refused by the hub before it is
// sequenced, and the channel keeps delivering (spec §7.2 EVT-20, §12.3 CTRL-34).
import type { ErrorBody } from "../../protocol/errors.ts";
import type { TransactionResult } from "../../protocol/types.ts";
import { ensure, expectOk } from "../assert.ts";
import { perTarget, type Check } from "../context.ts";
import { MAX_EVENT_DATA_DEPTH as MAX_DATA_DEPTH } from "../../protocol/json-depth.ts";
import { markerOf, sendTxn, submission, uid, withMarker } from "./support/requests.ts";
import { advChannel, known } from "./support/state.ts";

/** `{"a":{"a":…{}}}` nested `depth` levels (built without recursion). */
function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

export const poisonDataChecks: Check[] = perTarget((role) => ({
  id: "adv/txn/over-deep-data",
  name: `submissions whose data nests ${MAX_DATA_DEPTH + 20} and ${MAX_DATA_DEPTH + 1} levels deep (bodies within JCS-18's 64) are rejected per item with SMCP_BAD_EVENT before sequencing, ${MAX_DATA_DEPTH} levels are sequenced and delivered, and a control publish of over-deep data is 400 SMCP_INVALID with a details path`,
  requirements: ["EVT-20", "CTRL-34"],
  level: "MUST",
  prerequisites: ["adv/participant/invited@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const ch = advChannel(ctx, role);
    // `{marker, d}` adds one level above d.
    const cases = [[`${MAX_DATA_DEPTH + 20}`, MAX_DATA_DEPTH + 19], [`${MAX_DATA_DEPTH + 1}`, MAX_DATA_DEPTH], [`${MAX_DATA_DEPTH}`, MAX_DATA_DEPTH - 1]] as const;
    const subs = cases.map(([depth, inner]) => submission(ctx, role, { data: { marker: uid(ctx, `deep-${depth}`), d: nested(inner) } as never }));
    const results: TransactionResult[] = [];
    for (const sub of subs) results.push(expectOk<TransactionResult>(await sendTxn(ctx, role, { submissions: [sub] }), "TransactionResult", "over-deep submission", 200));
    const verdicts = results.map((r) => (r.rejected[0]?.errcode ?? (r.sequenced.length === 1 ? "sequenced" : "neither")));
    ensure(verdicts.join() === "SMCP_BAD_EVENT,SMCP_BAD_EVENT,sequenced", `wrong verdicts for data nested ${MAX_DATA_DEPTH + 20} / ${MAX_DATA_DEPTH + 1} / ${MAX_DATA_DEPTH} levels deep`, ["SMCP_BAD_EVENT", "SMCP_BAD_EVENT", "sequenced"], verdicts);
    for (const sub of subs.slice(0, 2)) {
      ensure((await withMarker(ctx, role, markerOf(sub))).length === 0, "an over-deep submission was sequenced", 0, "sequenced");
    }
    // The channel keeps delivering: the deepest allowed event reaches the fake peer, a participant.
    const seq = results[2]!.sequenced[0]!.seq;
    const delivered = await ctx.fake.waitUntil(() => ctx.fake.participant.get(ch)?.events.has(seq) === true, ctx.options.deliveryTimeoutMs);
    ensure(delivered, `the event with data ${MAX_DATA_DEPTH} levels deep was not delivered to the participant`, `seq ${seq} delivered`, "not delivered");
    const publish = await t.control.request("POST", `/control/v1/channels/${encodeURIComponent(ch)}/events`, { type: "conformance:deep", data: nested(MAX_DATA_DEPTH + 20) });
    const body = publish.body as (ErrorBody & { details?: Array<{ path?: string }> }) | undefined;
    const want = "/data" + "/a".repeat(MAX_DATA_DEPTH);
    ensure(publish.status === 400 && body?.errcode === "SMCP_INVALID" && body.details?.[0]?.path === want, `a control publish of data ${MAX_DATA_DEPTH + 20} levels deep is not 400 SMCP_INVALID pointing at the first over-deep value`, { status: 400, errcode: "SMCP_INVALID", path: want }, { status: publish.status, errcode: body?.errcode, path: body?.details?.[0]?.path });
  },
}));
