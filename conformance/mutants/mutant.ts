// Mutation testing of the conformance harness (issue 11): one mutant is a named, small source patch of the reference
// instance — the bug an independent implementer makes — and the requirement it breaks.

/** One planted bug: replace the single occurrence of `find` in `file` by `replace`. */
export interface Mutant {
  /** Stable, unique, `area/what-is-wrong`; cited by the allow-list and the JSON report. */
  id: string;
  /** Repository-relative path of the file to patch (a file of the reference instance or of `protocol/`). */
  file: string;
  /** Exact text that must occur exactly once in `file` (one or two lines); anything else makes the mutant stale. */
  find: string;
  replace: string;
  /** Requirement IDs of spec/requirements.json the mutated instance breaks. */
  requirements: string[];
  /** The spec section, `§5.5`. */
  section: string;
  /** The implementer's mistake, in one sentence. */
  why: string;
}

/** A catalogue entry whose patch no longer applies: after a refactor it must be re-targeted, never silently dropped. */
export interface Stale {
  id: string;
  file: string;
  reason: string;
}

/** Occurrences of `needle` in `text`, overlapping ones included (so that an ambiguous find is never "once"). */
export function occurrences(text: string, needle: string): number {
  if (needle.length === 0) return 0;
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) n++;
  return n;
}

/** The patched text, or why the mutant is stale against `text` (the file's current content; undefined when missing). */
export function applyMutant(m: Mutant, text: string | undefined): { text: string } | { stale: string } {
  if (text === undefined) return { stale: `${m.file} does not exist` };
  const n = occurrences(text, m.find);
  if (n !== 1) return { stale: n === 0 ? `find no longer occurs in ${m.file}` : `find occurs ${n} times in ${m.file}; it must be unique` };
  const at = text.indexOf(m.find);
  return { text: text.slice(0, at) + m.replace + text.slice(at + m.find.length) };
}

/**
 * Problems of the catalogue itself (not of the code it targets): duplicate or malformed IDs, unknown requirement
 * IDs, patches that change nothing, finds longer than two lines (they rot faster and are harder to re-target).
 */
export function catalogueProblems(mutants: readonly Mutant[], knownRequirements: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const m of mutants) {
    if (!/^[a-z0-9-]+(\/[a-z0-9-]+)+$/.test(m.id)) problems.push(`${m.id}: id must be lowercase area/name`);
    if (seen.has(m.id)) problems.push(`${m.id}: duplicate id`);
    seen.add(m.id);
    if (m.find === m.replace) problems.push(`${m.id}: replace equals find`);
    if (m.find.split("\n").length > 2) problems.push(`${m.id}: find spans more than two lines`);
    if (m.requirements.length === 0) problems.push(`${m.id}: names no requirement`);
    for (const r of m.requirements) if (!knownRequirements.has(r)) problems.push(`${m.id}: unknown requirement ${r}`);
    if (!/^§\d+(\.\d+)?$/.test(m.section)) problems.push(`${m.id}: section must look like §5.5`);
    if (m.why.trim().length < 10) problems.push(`${m.id}: say why (the implementer's mistake)`);
    if (m.file.startsWith("/") || m.file.includes("..")) problems.push(`${m.id}: file must be repository-relative`);
  }
  return problems;
}

/** The top-level spec section of a mutant (`§5.5` → `5`), for the per-section table and the stratified sample. */
export function topSection(m: Pick<Mutant, "section">): string {
  return m.section.replace(/^§/, "").split(".")[0]!;
}
