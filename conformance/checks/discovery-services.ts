// Conformance harness: an instance's discovery document lists the SMCP services it demonstrably runs — it answers
// discovery (Paulina), transactions and backfill (Naomi), calls (Roshumba) and pings (Vendela) — besides its MCP
// components (spec §6.1).
import { ensure } from "../assert.ts";
import { perTarget } from "../context.ts";
import { known } from "./support/state.ts";

/** Services every instance that passes the success criteria runs; their names are reserved by NAME-09. */
const SERVICES = ["paulina", "naomi", "roshumba", "vendela"];

export const discoveryServiceChecks = perTarget((role) => ({
  id: "adv/discovery/lists-services",
  name: "the discovery document's components list the SMCP services the instance runs (paulina, naomi, roshumba, vendela) as well as vikunja",
  requirements: ["DISC-05"],
  level: "MUST" as const,
  prerequisites: ["adv/sign/baseline@@"],
  async run(ctx) {
    const components = known(ctx, role).discovery.components;
    const missing = SERVICES.filter((s) => !components.includes(s));
    ensure(missing.length === 0, "discovery components leave out SMCP services the instance runs", SERVICES, components);
  },
}));
