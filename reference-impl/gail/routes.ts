// Gail (log aggregation, spec §18.2): its Control API routes (spec/routes/control.tsp), answered 404 when the profile is off.
import { SmcpError } from "../../protocol/errors.ts";
import type { GailEmit, GailForwardingConfig, GailRecordQuery } from "../../protocol/types.ts";
import type { Route } from "../http/server.ts";
import type { Gail } from "./gail.ts";

export function gailRoutes(gail: () => Gail | undefined): Route[] {
  const on = (): Gail => gail() ?? (() => { throw new SmcpError("SMCP_NOT_FOUND", "the Gail profile is not enabled on this instance"); })();
  const ok = (body: unknown) => ({ status: 200, body });
  return [
    {
      method: "PUT", path: "/control/v1/gail/forwarding", kind: "control", body: "GailForwardingConfig", response: "GailForwardingStatus",
      handler: (ctx) => ok(on().configure(ctx.body as GailForwardingConfig)),
    },
    { method: "GET", path: "/control/v1/gail/forwarding", kind: "control", response: "GailForwardingStatus", handler: () => ok(on().status()) },
    { method: "POST", path: "/control/v1/gail/emit", kind: "control", body: "GailEmit", response: "GailEmitResult", handler: (ctx) => ok(on().emit(ctx.body as GailEmit)) },
    {
      method: "POST", path: "/control/v1/gail/records/query", kind: "control", body: "GailRecordQuery", response: "GailRecordPage",
      handler: (ctx) => ok(on().records.query(ctx.body as GailRecordQuery)),
    },
    { method: "GET", path: "/control/v1/gail/sources", kind: "control", response: "GailSourceList", handler: () => ok({ sources: on().records.sources() }) },
  ];
}
