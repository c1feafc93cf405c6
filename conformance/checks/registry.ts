// Conformance harness: Paulina's registry listing as a non-caller and as a channel peer sees it (spec §11.2).
import type { RegistryListing } from "../../protocol/types.ts";
import { ensure, expectOk } from "../assert.ts";
import { perTarget, type Check, type CheckContext, type Role } from "../context.ts";
import { known } from "./support/state.ts";
import { fakeCall, remoteCall } from "./support/requests.ts";

async function listing(ctx: CheckContext, role: Role): Promise<RegistryListing> {
  const t = known(ctx, role);
  const l = expectOk<RegistryListing>(await ctx.fake.send(t.name, { method: "GET", path: "/federation/v1/registry" }), "RegistryListing", "GET /federation/v1/registry", 200);
  ensure(l.server_name === t.name, "listing names another server", t.name, l.server_name);
  for (const c of l.components) {
    if (c.kind === "service") ensure(c.tools.length === 0, `service ${c.name} lists tools`, [], c.tools);
  }
  return l;
}

export const registryBeforeMembership: Check[] = perTarget((role) => ({
  id: "adv/registry/non-caller",
  name: "the registry listing for an origin that may not call contains no mcp component",
  requirements: ["REG-05", "REG-07", "REG-08"],
  level: "MUST",
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const l = await listing(ctx, role);
    const mcp = l.components.filter((c) => c.kind === "mcp").map((c) => c.name);
    ensure(mcp.length === 0, "mcp components listed to a non-caller", [], mcp);
  },
}));

export const registryAsPeer: Check[] = perTarget((role) => ({
  id: "adv/registry/caller",
  name: "a channel peer's registry listing holds vikunja with its three tools, and each listed tool is callable",
  requirements: ["REG-05", "REG-06", "REG-09", "CONF-01"],
  level: "MUST",
  prerequisites: ["adv/participant/invited@@"],
  async run(ctx) {
    const t = known(ctx, role);
    const l = await listing(ctx, role);
    const v = l.components.find((c) => c.name === "vikunja");
    ensure(v && v.kind === "mcp" && v.uri === `smcp://${t.name}/vikunja`, "vikunja missing or malformed in the listing", { name: "vikunja", kind: "mcp", uri: `smcp://${t.name}/vikunja` }, v);
    const tools = v.tools.map((x) => x.name).sort();
    ensure(["complete_task", "create_task", "list_tasks"].every((n) => tools.includes(n)), "vikunja's tools missing from the listing", ["complete_task", "create_task", "list_tasks"], tools);
    const r = await fakeCall(ctx, t, remoteCall(ctx, t, "list_tasks", {}));
    expectOk(r, "RemoteCallResult", "call of a listed tool", 200);
  },
}));
