// Conformance harness, fake peer (1.1 forwarded calls, spec §10.6): `POST /federation/v1/forward` with a behaviour a
// check scripts — an honest, tampering, replaying or dropping intermediate, or a destination — and the routes
// (`forwards_to`) its registry listing advertises. Unscripted, a forwarded call is unexpected.
import { SmcpError } from "../../protocol/errors.ts";
import type { ForwardedCall } from "../../protocol/types.ts";
import type { Answer, Route, RouteRequest } from "./routes.ts";

export type ForwardBehaviour = (call: ForwardedCall, r: RouteRequest) => Answer | Promise<Answer>;

export class FakeForwarding {
  /** What the fake does with a forwarded call; absent, it refuses and records the call as unexpected. */
  behaviour: ForwardBehaviour | undefined;
  /** Destinations the fake's registry listing says it forwards to (FWD-33). */
  forwardsTo: string[] = [];
  /** Every forwarded call received, in order (as parsed and validated). */
  readonly received: ForwardedCall[] = [];

  readonly route: Route = {
    name: "forward",
    method: "POST",
    path: "/federation/v1/forward",
    signed: true,
    handle: async (r) => {
      const call = r.parse<ForwardedCall>("ForwardedCall");
      this.received.push(call);
      if (!this.behaviour) {
        r.rec.problems.push("unexpected request: the harness never offered to forward calls through the fake peer");
        throw new SmcpError("SMCP_FORWARD_REFUSED", "the fake peer forwards nothing", { hop: r.self.name });
      }
      return this.behaviour(call, r);
    },
  };
}
