// Spec tooling (spec §14 versioning): `npm run spec:compat` — fails, naming each change, when the current build
// breaks a peer of the newest release in spec/releases/; lists additive and accepted changes.
// Usage: tsx scripts/spec-compat.ts [--release <dir>] [--schemas <dir>] [--requirements <file>]
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compareBuilds, latestRelease, loadBuild, verifyRelease, type Accepted } from "./compat/compat.ts";
import type { Deprecation } from "./compat/requirements-diff.ts";

const root = new URL("..", import.meta.url).pathname;
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const releasesDir = join(root, "spec", "releases");
const releaseDir = arg("--release") ?? join(releasesDir, latestRelease(releasesDir));
const release = releaseDir.replace(/\/$/, "").replace(/^.*\//, "");
const schemas = arg("--schemas") ?? join(root, "schemas");
const readJson = <T>(file: string, fallback: T): T => (existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : fallback);

const tampered = verifyRelease(releaseDir);
if (tampered.length) {
  console.error(`spec:compat: release ${release} is not as released:\n- ${tampered.join("\n- ")}`);
  process.exit(1);
}
const report = compareBuilds(
  release,
  loadBuild(join(releaseDir, "json-schema"), join(releaseDir, "openapi", "openapi.json"), join(releaseDir, "requirements.json")),
  loadBuild(join(schemas, "json-schema"), join(schemas, "openapi", "openapi.json"), arg("--requirements") ?? join(root, "spec", "requirements.json")),
  readJson<{ accepted: Accepted[] }>(join(root, "spec", "compat-accepted.json"), { accepted: [] }).accepted,
  readJson<{ deprecations: Deprecation[] }>(join(root, "spec", "deprecations.json"), { deprecations: [] }).deprecations,
);
const list = (title: string, items: string[]) => items.length && console.log(`${title} (${items.length}):\n  ${items.join("\n  ")}`);
list(`additive and other non-breaking changes against ${release}`, report.additive.map((c) => c.message));
list(`accepted changes against ${release}`, report.accepted.map((c) => `${c.message}\n      accepted: ${c.reason}`));
const failures = [
  ...report.breaking.map((c) => `[${c.rule}] ${c.message}`),
  ...report.unusedAcceptances.map((a) => `[stale-acceptance] spec/compat-accepted.json accepts a change that no longer occurs: ${a.change}`),
];
if (failures.length) {
  console.error(`spec:compat FAILED: ${failures.length} breaking change(s) against release ${release}:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log(`spec:compat ok: no breaking change against release ${release} (${report.additive.length} additive, ${report.accepted.length} accepted)`);
