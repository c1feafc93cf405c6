// Spec tooling (spec §1.2, §14): a requirement ID of a release never disappears or changes level unless a
// deprecation is recorded for it in spec/deprecations.json.
import type { Change } from "./schema-diff.ts";

export interface Requirement {
  id: string;
  level: string;
  section: string;
  summary: string;
}
export interface Deprecation {
  id: string;
  since: string;
  reason: string;
  level?: string;
}

export function diffRequirements(released: Requirement[], current: Requirement[], deprecations: Deprecation[]): Change[] {
  const now = new Map(current.map((r) => [r.id, r]));
  const recorded = new Map(deprecations.map((d) => [d.id, d]));
  const out: Change[] = [];
  const push = (severity: Change["severity"], rule: string, id: string, message: string) =>
    out.push({ severity, rule, where: id, message: `${id}: ${message}` });
  for (const r of released) {
    const c = now.get(r.id);
    const dep = recorded.get(r.id);
    if (!c) {
      if (dep && dep.level === undefined) push("additive", "requirement-deprecated", r.id, `removed, deprecated since ${dep.since}: ${dep.reason}`);
      else push("breaking", "requirement-removed", r.id, `requirement ${r.level} removed without a recorded deprecation`);
    } else if (c.level !== r.level) {
      if (dep && dep.level === c.level) push("additive", "requirement-deprecated", r.id, `level ${r.level} → ${c.level}, deprecated since ${dep.since}: ${dep.reason}`);
      else push("breaking", "requirement-level-changed", r.id, `level changed from ${r.level} to ${c.level} without a recorded deprecation`);
    }
  }
  const releasedIds = new Set(released.map((r) => r.id));
  for (const c of current) if (!releasedIds.has(c.id)) push("additive", "requirement-added", c.id, `new requirement ${c.level} (§${c.section})`);
  return out;
}
