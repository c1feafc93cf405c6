// Spec tooling (spec §1.2): `npm run spec:requirements` checks spec/requirements.json against the prose's `[ID]`
// tags; `-- --write` rebuilds it from them (IDs, levels, sections; summaries kept, new ones drafted).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkIndex, readTags, rebuildIndex } from "./requirements-index.ts";

const root = new URL("..", import.meta.url).pathname;
const indexFile = join(root, "spec", "requirements.json");
const prose = readFileSync(join(root, "spec", "smcp-federation.md"), "utf8");
const index = JSON.parse(readFileSync(indexFile, "utf8"));
const tags = readTags(prose);
const version = /^# .* — version (\d+\.\d+(?:\.\d+)?)$/m.exec(prose)?.[1];

if (process.argv.includes("--write")) {
  const rebuilt = { version: version ?? index.version, requirements: rebuildIndex(tags, index.requirements) };
  writeFileSync(indexFile, `${JSON.stringify(rebuilt, null, 2)}\n`);
  console.log(`spec:requirements wrote ${rebuilt.requirements.length} requirements to spec/requirements.json`);
} else {
  const problems = checkIndex(tags, index.requirements);
  if (version && index.version !== version) problems.push(`version ${version} in the prose, ${index.version} in spec/requirements.json`);
  if (problems.length) {
    console.error(`spec:requirements failed (${problems.length}):\n- ${problems.join("\n- ")}\nRun: npm run spec:requirements -- --write`);
    process.exit(1);
  }
  console.log(`spec:requirements ok: ${tags.length} requirement IDs, prose and spec/requirements.json agree`);
}
