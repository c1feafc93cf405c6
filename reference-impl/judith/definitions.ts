// Judith (spec §18.1.1): what makes a workflow definition acceptable beyond its schema — one kind per step, unique
// step IDs, references to earlier steps only, and the definition's size.
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import { SmcpError } from "../../protocol/errors.ts";
import type { JudithWorkflow, ValidationIssue } from "../../protocol/types.ts";
import { JUDITH_LIMITS } from "./limits.ts";
import { checkReferences } from "./references.ts";

/** Roots that are not step IDs (JDT-04). */
export const RESERVED_ROOTS = ["input", "run"] as const;
const MATCH_PATH = /^[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,128}){0,31}$/;

/** Throws 413 SMCP_TOO_LARGE or 400 SMCP_INVALID (with details) for a definition the profile does not accept. */
export function checkDefinition(wf: JudithWorkflow): void {
  const size = canonicalBytes(wf).length;
  if (size > JUDITH_LIMITS.maxDefinitionBytes) {
    throw new SmcpError("SMCP_TOO_LARGE", `the workflow definition has ${size} canonical bytes; at most ${JUDITH_LIMITS.maxDefinitionBytes} are accepted`);
  }
  const issues: ValidationIssue[] = [];
  const roots = new Set<string>(RESERVED_ROOTS);
  wf.steps.forEach((step, i) => {
    const at = `/steps/${i}`;
    if ((step.call === undefined) === (step.wait === undefined)) issues.push({ path: at, message: "a step has exactly one of call and wait" });
    if ((RESERVED_ROOTS as readonly string[]).includes(step.id)) issues.push({ path: `${at}/id`, message: `${step.id} is reserved for references` });
    else if (roots.has(step.id)) issues.push({ path: `${at}/id`, message: `step ID ${step.id} is used twice` });
    if (step.call) checkReferences(step.call.params, roots, `${at}/call/params`, issues);
    for (const [key, value] of Object.entries(step.wait?.match ?? {})) {
      if (!MATCH_PATH.test(key)) issues.push({ path: `${at}/wait/match`, message: `${JSON.stringify(key).slice(0, 200)} is not a dotted path into the event's data` });
      checkReferences(value, roots, `${at}/wait/match/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`, issues);
    }
    roots.add(step.id);
  });
  if (issues.length > 0) throw new SmcpError("SMCP_INVALID", `invalid workflow ${wf.name}: ${issues[0]!.path} ${issues[0]!.message}`, { details: issues });
}
