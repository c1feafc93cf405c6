// Conformance harness: the numbered requirements of spec/requirements.json that checks cite (for coverage and lint).
import { existsSync, readFileSync } from "node:fs";

export interface Requirement {
  id: string;
  level: string;
  section: string;
  summary: string;
}

const REQUIREMENTS_FILE = new URL("../../spec/requirements.json", import.meta.url);

/** Every requirement of the spec, or an empty list when the index is missing (e.g. an older checkout). */
export function loadRequirements(): Requirement[] {
  if (!existsSync(REQUIREMENTS_FILE)) return [];
  const json = JSON.parse(readFileSync(REQUIREMENTS_FILE, "utf8")) as { requirements?: Requirement[] };
  return Array.isArray(json.requirements) ? json.requirements : [];
}

/** Requirement IDs a check list cites that the spec does not define (a test keeps this empty). */
export function unknownRequirementIds(cited: Iterable<string>): string[] {
  const known = new Set(loadRequirements().map((r) => r.id));
  return [...new Set(cited)].filter((id) => !known.has(id)).sort();
}
