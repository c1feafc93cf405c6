// Conformance harness, fake peer: the endpoints every SMCP server answers — discovery, key document, ping, registry; calls refused (spec §4, §9, §10).
import { SmcpError } from "../../protocol/errors.ts";
import { makeKeyDocument } from "../../protocol/key-document.ts";
import type { Route } from "./routes.ts";

/** The fake's own documents; it offers no tools, so any call an instance sends it is unexpected. */
export function ownRoutes(forwardsTo: () => string[] = () => []): Route[] {
  return [
    { name: "well-known", method: "GET", path: "/.well-known/smcp/server", signed: false, handle: (r) => ({ status: 200, body: r.self.discoveryDocument() }) },
    { name: "keys", method: "GET", path: "/federation/v1/keys", signed: false, handle: (r) => ({ status: 200, body: makeKeyDocument(r.self.name, r.self.key, Date.now()) }) },
    {
      name: "ping",
      method: "GET",
      path: "/federation/v1/ping",
      signed: true,
      handle: (r) => ({
        status: 200,
        body: { server_name: r.self.name, ts: Date.now(), status: "ok", components: r.self.components.map((name) => ({ name, status: "up" })) },
      }),
    },
    { name: "registry", method: "GET", path: "/federation/v1/registry", signed: true, handle: (r) => {
      // 1.1 (FWD-33): the destinations a check lets the fake advertise as routes.
      const routes = forwardsTo();
      return { status: 200, body: { server_name: r.self.name, components: [], ...(routes.length > 0 ? { forwards_to: routes } : {}) } };
    } },
    {
      name: "call",
      method: "*",
      path: "/federation/v1/call",
      signed: true,
      handle: (r) => {
        r.rec.problems.push("unexpected request: the harness never offered tools on the fake peer");
        throw new SmcpError("SMCP_FORBIDDEN", "the fake peer accepts no calls");
      },
    },
  ];
}
