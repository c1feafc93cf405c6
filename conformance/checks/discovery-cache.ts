// Conformance harness: how an instance under test caches peers' discovery — a document without max-age is kept (24 h
// by default), a failed discovery is not fetched again before its back-off ends (spec §6.3).
import { ensure, expectError, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";

const PING = "/federation/v1/ping";

function cacheCheck(id: string, name: string, requirements: string[], run: (ctx: CheckContext, role: Role) => Promise<void>): Check[] {
  return perTarget((role) => ({ id, name, requirements, level: "MUST", prerequisites: ["adv/sign/baseline@@"], run: (ctx) => run(ctx, role) }));
}

export const discoveryCacheChecks: Check[] = [
  ...cacheCheck("adv/discovery/kept-without-max-age", "the fake peer's discovery document (served without Cache-Control) is cached: five signed requests cause no fetch", ["DISC-16"], async (ctx, role) => {
    const t = known(ctx, role);
    const since = ctx.fake.records.length;
    for (let i = 0; i < 5; i++) expectOk(await ctx.fake.send(t.name, { method: "GET", path: PING }), "Ping", "signed ping", 200);
    const fetches = ctx.fake.records.slice(since).filter((r) => r.route === "well-known" || r.route === "keys").length;
    ensure(fetches === 0, "the instance fetched the peer's discovery again although it is cached for 24 h without max-age", 0, fetches);
  }),
  ...cacheCheck("adv/discovery/failure-cached", "after a peer's discovery fails (500), a second call to it at once fetches nothing and fails (502)", ["DISC-17", "DISC-18"], async (ctx, role) => {
    const t = known(ctx, role);
    const peer = await ctx.fake.startSibling(`broken-${ctx.runId}-${role[0]}.test`, ctx.recorder, { wellKnownStatus: 500 });
    try {
      await t.control.mapHost(peer.name, peer.url);
      const call = () => t.control.request("POST", "/control/v1/calls", { target: `smcp://${peer.name}/vikunja`, tool: "list_tasks", params: {} });
      expectError(await call(), "SMCP_PEER_UNREACHABLE", "call to a peer whose discovery answers 500");
      const first = peer.records.filter((r) => r.route === "well-known").length;
      ensure(first >= 1, "the instance never fetched the peer's discovery", "≥ 1 fetch", first);
      expectError(await call(), "SMCP_PEER_UNREACHABLE", "second call while the failure is cached");
      const second = peer.records.filter((r) => r.route === "well-known").length;
      ensure(second === first, "the failed discovery was fetched again before its back-off (1 s after the first failure) ended", first, second);
    } finally {
      await peer.close();
    }
  }),
];
