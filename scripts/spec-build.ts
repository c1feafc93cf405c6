// Spec tooling: regenerates schemas/ (JSON Schema 2020-12, OpenAPI 3.1, typed client) from spec/*.tsp, or checks it is up to date.
// Usage: tsx scripts/spec-build.ts [--check]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, cpSync, existsSync, statSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER, STRING, UNKNOWN, tsRecord } from "openapi-typescript";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { teachOpenApi } from "./openapi-teach.ts";

const root = new URL("..", import.meta.url).pathname;
const schemasDir = join(root, "schemas");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

/** Emits everything into a fresh folder: emitters never delete stale files, so we never emit in place. */
async function buildInto(outDir: string): Promise<void> {
  execFileSync(bin("tsp"), ["compile", join(root, "spec"), "--output-dir", outDir, "--warn-as-error"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const openapiFile = join(outDir, "openapi", "openapi.json");
  const doc = teachOpenApi(JSON.parse(readFileSync(openapiFile, "utf8")), readFileSync(join(root, "spec", "smcp-federation.md"), "utf8"), join(root, "fixtures"));
  writeFileSync(openapiFile, `${JSON.stringify(doc, null, 2)}\n`);
  mkdirSync(join(outDir, "client"), { recursive: true });
  const ast = await openapiTS(pathToFileURL(join(outDir, "openapi", "openapi.json")), {
    rootTypes: true,
    rootTypesNoSchemaPrefix: true,
    // TypeSpec's Record<unknown> is `unevaluatedProperties: {}` in OpenAPI 3.1, which openapi-typescript
    // would type as Record<string, never>: any JSON object is meant.
    transform: (schema) =>
      "unevaluatedProperties" in schema && !("properties" in schema && Object.keys(schema.properties ?? {}).length)
        ? tsRecord(STRING, UNKNOWN)
        : undefined,
  });
  writeFileSync(join(outDir, "client", "smcp-api.d.ts"), COMMENT_HEADER + astToString(ast));
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

function compare(fresh: string): string[] {
  const problems: string[] = [];
  const committed = new Set(listFiles(schemasDir));
  for (const file of listFiles(fresh)) {
    if (!committed.has(file)) problems.push(`missing from schemas/: ${file}`);
    else if (!readFileSync(join(fresh, file)).equals(readFileSync(join(schemasDir, file)))) problems.push(`out of date: schemas/${file}`);
    committed.delete(file);
  }
  for (const stale of committed) problems.push(`stale (no longer generated): schemas/${stale}`);
  return problems;
}

function checkFormatting(): string[] {
  try {
    execFileSync(bin("tsp"), ["format", "--check", "spec/**/*.tsp"], { cwd: root, stdio: "pipe" });
    return [];
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? "") + String((err as { stderr?: Buffer }).stderr ?? "");
    return [`spec/*.tsp not formatted (run: npx tsp format "spec/**/*.tsp")\n${out.trim()}`];
  }
}

const check = process.argv.includes("--check");
const fresh = mkdtempSync(join(tmpdir(), "smcp-schemas-"));
try {
  await buildInto(fresh);
  if (check) {
    const problems = [...compare(fresh), ...checkFormatting()];
    if (problems.length > 0) {
      console.error(`spec:check failed (${problems.length}):\n- ${problems.join("\n- ")}\nRun: npm run spec:build`);
      process.exit(1);
    }
    console.log(`spec:check ok: ${listFiles(fresh).length} generated files match schemas/, spec/*.tsp formatted`);
  } else {
    rmSync(schemasDir, { recursive: true, force: true });
    cpSync(fresh, schemasDir, { recursive: true });
    console.log(`spec:build wrote ${listFiles(schemasDir).length} files to ${relative(root, schemasDir)}/`);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
