// Tests the repository's import structure (all components): production code never imports the conformance harness
// or test support, and protocol/ stays the bottom layer that the reference instance and the harness share.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Test code: test files, and everything under tests/ (the one home of test support). */
const isTestCode = (file: string): boolean => file.endsWith(".test.ts") || file.startsWith(`tests${sep}`);

/** The folders whose production files are checked, and what each may not depend on. */
const RULES: Array<{ folder: string; forbidden: string[] }> = [
  { folder: "protocol", forbidden: ["reference-impl", "conformance", "tests", "bench", "scripts"] },
  { folder: "reference-impl", forbidden: ["conformance", "tests", "bench", "scripts"] },
  { folder: "conformance", forbidden: ["reference-impl", "tests", "bench", "scripts"] },
];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules") return [];
    if (statSync(join(ROOT, path)).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/**
 * Every module `text` refers to: static imports and re-exports, `import type`, dynamic `import()`, and files it
 * resolves with `new URL("…", import.meta.url)` (to read or spawn them). The TypeScript scanner skips comments and strings.
 */
export function referencedModules(text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  const urls = [...text.matchAll(/new URL\(\s*["'`]([^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
  return [...importedFiles.map((f) => f.fileName), ...urls];
}

/** Repository-relative target of a relative specifier, or null for a package or node: builtin. */
function target(from: string, specifier: string): string | null {
  if (!specifier.startsWith(".")) return null;
  return relative(ROOT, resolve(ROOT, dirname(from), specifier));
}

/** "file → target" for each reference of a production file into a forbidden folder, out of the repository, or into test code. */
export function violations(forbidden: string[], files: Array<[string, string]>): string[] {
  const found: string[] = [];
  for (const [file, text] of files) {
    if (isTestCode(file)) continue;
    for (const spec of referencedModules(text)) {
      const to = target(file, spec);
      if (to === null) continue;
      const top = to.split(sep)[0]!;
      // Outside the repository (`..`) counts too: nothing there ships with the folder.
      if (forbidden.includes(top) || top === ".." || isTestCode(to)) found.push(`${file} → ${to}`);
    }
  }
  return found;
}

describe("import boundaries", () => {
  for (const { folder, forbidden } of RULES) {
    it(`production files in ${folder}/ import nothing from ${forbidden.join(", ")}/ or test files`, () => {
      const files = tsFiles(folder).map((f): [string, string] => [f, readFileSync(join(ROOT, f), "utf8")]);
      expect(files.filter(([f]) => !isTestCode(f)).length).toBeGreaterThan(5);
      expect(violations(forbidden, files)).toEqual([]);
    });
  }

  it("the scanner sees every form of reference, and ignores test files and packages", () => {
    const planted = [
      'import { a } from "../tests/support/until.ts";',
      "import type {\n  B,\n} from '../conformance/fake-peer.ts';",
      'export { c } from "./x.test.ts";',
      'const d = await import("../../tests/support/instances.ts");',
      'const e = new URL("../conformance/checks/", import.meta.url);',
      'import "../bench/run.ts";',
      '// import { f } from "../tests/support/f.ts";',
      'const g = "import { h } from \\"../tests/h.ts\\"";',
      'import { i } from "undici";',
      'import { j } from "node:fs";',
      'import { k } from "../protocol/keys.ts";',
    ].join("\n");
    expect(violations(RULES[1]!.forbidden, [[join("reference-impl", "config.ts"), planted]])).toEqual([
      `${join("reference-impl", "config.ts")} → ${join("tests", "support", "until.ts")}`,
      `${join("reference-impl", "config.ts")} → ${join("conformance", "fake-peer.ts")}`,
      `${join("reference-impl", "config.ts")} → ${join("reference-impl", "x.test.ts")}`,
      `${join("reference-impl", "config.ts")} → ${join("..", "tests", "support", "instances.ts")}`,
      `${join("reference-impl", "config.ts")} → ${join("bench", "run.ts")}`,
      `${join("reference-impl", "config.ts")} → ${join("conformance", "checks")}`,
    ]);
    expect(violations(RULES[1]!.forbidden, [[join("reference-impl", "a.test.ts"), planted]])).toEqual([]);
  });
});
