// Mutation testing of the conformance harness: the whole catalogue — the stable list, and the list to re-target after
// the Naomi split and the edge hardening (issue 11).
import type { Mutant } from "../mutant.ts";
import { INSTANCE_MUTANTS } from "./instance.ts";
import { PROTOCOL_MUTANTS } from "./protocol.ts";
import { RETARGET_MUTANTS } from "./retarget.ts";

export type Group = "stable" | "retarget";

/** Mutants of files nobody was refactoring when the catalogue was written: a stale one here is a regression. */
export const STABLE_MUTANTS: readonly Mutant[] = [...PROTOCOL_MUTANTS, ...INSTANCE_MUTANTS];

/** Mutants of files under refactoring (Naomi, the HTTP edge, Paulina, request auth): expected stale until re-targeted. */
export { RETARGET_MUTANTS };

export const ALL_MUTANTS: readonly Mutant[] = [...STABLE_MUTANTS, ...RETARGET_MUTANTS];

export function groupOf(id: string): Group {
  return RETARGET_MUTANTS.some((m) => m.id === id) ? "retarget" : "stable";
}
