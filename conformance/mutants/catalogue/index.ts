// Mutation testing of the conformance harness: the whole catalogue. Every mutant must apply to the current tree; a
// stale one (after a refactor) is re-targeted, never dropped (issue 11).
import type { Mutant } from "../mutant.ts";
import { CHANNEL_AND_EDGE_MUTANTS } from "./channels-and-edge.ts";
import { INSTANCE_MUTANTS } from "./instance.ts";
import { PROTOCOL_MUTANTS } from "./protocol.ts";

export const ALL_MUTANTS: readonly Mutant[] = [...PROTOCOL_MUTANTS, ...INSTANCE_MUTANTS, ...CHANNEL_AND_EDGE_MUTANTS];
