// Mutation testing of the conformance harness: which mutants run — stale ones found up front, `--only` by ID or glob,
// and `--sample N`, a deterministic sample spread over the spec's sections (for CI) (issue 11).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { globMatches } from "../selection.ts";
import { applyMutant, topSection, type Mutant, type Stale } from "./mutant.ts";

/** Splits the catalogue into mutants whose patch applies to the files in `repo` now, and stale ones. */
export function partitionStale(repo: string, mutants: readonly Mutant[]): { live: Mutant[]; stale: Stale[] } {
  const live: Mutant[] = [];
  const stale: Stale[] = [];
  const texts = new Map<string, string | undefined>();
  for (const m of mutants) {
    if (!texts.has(m.file)) {
      const path = join(repo, m.file);
      texts.set(m.file, existsSync(path) ? readFileSync(path, "utf8") : undefined);
    }
    const applied = applyMutant(m, texts.get(m.file));
    if ("stale" in applied) stale.push({ id: m.id, file: m.file, reason: applied.stale });
    else live.push(m);
  }
  return { live, stale };
}

/** Mutants matching any of `patterns` (IDs or globs, `*` any run of characters); a pattern matching none is an error. */
export function only(mutants: readonly Mutant[], patterns: readonly string[]): Mutant[] {
  if (patterns.length === 0) return [...mutants];
  for (const p of patterns) {
    if (!mutants.some((m) => globMatches(p, m.id))) throw new Error(`--only ${p} matches no mutant`);
  }
  return mutants.filter((m) => patterns.some((p) => globMatches(p, m.id)));
}

/**
 * `n` mutants, the same ones for the same catalogue and seed: each section's mutants in hash order, then one section
 * after the other in turn, so that a small sample still touches every section. Catalogue order is kept in the result.
 */
export function sample(mutants: readonly Mutant[], n: number, seed = "smcp"): Mutant[] {
  if (n >= mutants.length) return [...mutants];
  const hash = (m: Mutant): string => createHash("sha256").update(`${seed}\n${m.id}`).digest("hex");
  const bySection = new Map<string, Mutant[]>();
  for (const m of mutants) bySection.set(topSection(m), [...(bySection.get(topSection(m)) ?? []), m]);
  const queues = [...bySection.entries()]
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, list]) => list.sort((a, b) => (hash(a) < hash(b) ? -1 : 1)));
  const picked = new Set<Mutant>();
  for (let round = 0; picked.size < n; round++) {
    for (const q of queues) if (q[round] && picked.size < n) picked.add(q[round]!);
  }
  return mutants.filter((m) => picked.has(m));
}
