// Kathy (selective config sharing, spec §18.3): its Control API routes (spec/routes/control.tsp), answered 404 when the profile is off.
import { SmcpError } from "../../protocol/errors.ts";
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from "../../protocol/limits.ts";
import type { KathyPublish, KathySubscription } from "../../protocol/types.ts";
import type { Route } from "../http/server.ts";
import type { Kathy } from "./kathy.ts";

export function kathyRoutes(kathy: () => Kathy | undefined): Route[] {
  const on = (): Kathy => kathy() ?? (() => { throw new SmcpError("SMCP_NOT_FOUND", "the Kathy profile is not enabled on this instance"); })();
  const ok = (body: unknown) => ({ status: 200, body });
  return [
    {
      method: "POST", path: "/control/v1/kathy/publish", kind: "control", body: "KathyPublish", response: "KathyPublishResult",
      handler: async (ctx) => ok(await on().publish(ctx.body as KathyPublish)),
    },
    {
      method: "PUT", path: "/control/v1/kathy/subscriptions/{channel}", kind: "control", params: { channel: "ChannelId" }, body: "KathySubscription",
      response: "KathySubscriptionInfo",
      handler: async (ctx) => ok(await on().subscribe(ctx.params.channel!, (ctx.body as KathySubscription).patterns)),
    },
    { method: "GET", path: "/control/v1/kathy/subscriptions", kind: "control", response: "KathySubscriptionList", handler: () => ok({ subscriptions: on().store.subscriptions() }) },
    { method: "GET", path: "/control/v1/kathy/config", kind: "control", response: "KathyConfigList", handler: () => ok({ entries: on().store.applied() }) },
    {
      method: "GET", path: "/control/v1/kathy/audit", kind: "control", response: "KathyAuditList",
      query: { after: { min: 0, max: Number.MAX_SAFE_INTEGER }, limit: { min: 1, max: PAGE_LIMIT_MAX } },
      handler: (ctx) => ok(on().audit(ctx.query.after ?? 0, ctx.query.limit ?? PAGE_LIMIT_DEFAULT)),
    },
  ];
}
