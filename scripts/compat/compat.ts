// Spec tooling (spec §14 versioning): the current build against the newest release in spec/releases/ — models,
// operations and requirement IDs — with the changes deliberately accepted in spec/compat-accepted.json.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { diffModels, diffOperations, modelResolver } from "./api-diff.ts";
import { diffRequirements, type Deprecation, type Requirement } from "./requirements-diff.ts";
import type { Change, Schema } from "./schema-diff.ts";

/** A build: the generated JSON Schemas, the OpenAPI and the requirement index. */
export interface Build {
  models: Record<string, Schema>;
  openapi: Record<string, unknown>;
  requirements: Requirement[];
}
export interface Accepted {
  release: string;
  change: string;
  reason: string;
}
export interface CompatReport {
  release: string;
  breaking: Change[];
  accepted: Array<Change & { reason: string }>;
  additive: Change[];
  /** Acceptances that match no change: stale records are refused so the file stays true. */
  unusedAcceptances: Accepted[];
}

export function compareBuilds(release: string, old: Build, now: Build, accepted: Accepted[] = [], deprecations: Deprecation[] = []): CompatReport {
  const changes = [
    ...diffModels(old.models, now.models),
    ...diffOperations(old.openapi, now.openapi, modelResolver(old.models, now.models)),
    ...diffRequirements(old.requirements, now.requirements, deprecations),
  ];
  const forRelease = accepted.filter((a) => a.release === release);
  const used = new Set<Accepted>();
  const report: CompatReport = { release, breaking: [], accepted: [], additive: [], unusedAcceptances: [] };
  for (const c of changes) {
    if (c.severity === "additive") {
      report.additive.push(c);
      continue;
    }
    const a = forRelease.find((x) => x.change === c.message);
    if (a) {
      used.add(a);
      report.accepted.push({ ...c, reason: a.reason });
    } else report.breaking.push(c);
  }
  report.unusedAcceptances = forRelease.filter((a) => !used.has(a));
  return report;
}

export function loadBuild(jsonSchemaDir: string, openapiFile: string, requirementsFile: string): Build {
  const models: Record<string, Schema> = {};
  for (const f of readdirSync(jsonSchemaDir).filter((f) => f.endsWith(".json")).sort())
    models[f.replace(/\.json$/, "")] = JSON.parse(readFileSync(join(jsonSchemaDir, f), "utf8"));
  return {
    models,
    openapi: JSON.parse(readFileSync(openapiFile, "utf8")),
    requirements: JSON.parse(readFileSync(requirementsFile, "utf8")).requirements,
  };
}

/** Newest release folder by semantic version. */
export function latestRelease(releasesDir: string): string {
  const versions = readdirSync(releasesDir).filter((d) => /^\d+\.\d+\.\d+$/.test(d));
  const key = (v: string) => v.split(".").map(Number);
  versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
  const last = versions.at(-1);
  if (!last) throw new Error(`no release under ${releasesDir}`);
  return last;
}

/** A release is immutable: every file must match its SHA256SUMS line, and no file may be added. */
export function verifyRelease(dir: string): string[] {
  const sums = join(dir, "SHA256SUMS");
  if (!existsSync(sums)) return [`${dir}: SHA256SUMS missing`];
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const line of readFileSync(sums, "utf8").split("\n").filter(Boolean)) {
    const [hash, file] = line.split(/\s+\*?/, 2) as [string, string];
    const path = join(dir, file);
    listed.add(file.replace(/^\.\//, ""));
    if (!existsSync(path)) problems.push(`${file}: missing from the release`);
    else if (createHash("sha256").update(readFileSync(path)).digest("hex") !== hash) problems.push(`${file}: changed after release`);
  }
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }))
    if (f !== "SHA256SUMS" && statSync(join(dir, f)).isFile() && !listed.has(f)) problems.push(`${f}: added after release`);
  return problems;
}
