// Mutation testing of the conformance harness: a scratch copy of the reference instance's sources with one mutant
// applied — source folders copied (tests left out), node_modules symlinked, so a copy costs milliseconds (issue 11).
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import { applyMutant, type Mutant } from "./mutant.ts";

/** What a mutated reference instance needs to run: its entry point, sources, schemas and package type. */
export const INSTANCE_SOURCES = ["bin", "protocol", "reference-impl", "schemas", "package.json", "tsconfig.json"];

export interface Scratch {
  dir: string;
  remove(): void;
}

/** Copies `entries` of `repo` into a fresh directory under `parent`, links node_modules, and applies `mutant`. */
export function makeScratch(repo: string, parent: string, mutant: Mutant, entries: readonly string[] = INSTANCE_SOURCES): Scratch {
  if (!entries.some((e) => mutant.file === e || mutant.file.startsWith(e + "/"))) {
    throw new Error(`${mutant.file} is outside the copied sources (${entries.join(", ")})`);
  }
  const dir = mkdtempSync(join(parent, `${mutant.id.replace(/\//g, "_")}-`));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    for (const entry of entries) {
      cpSync(join(repo, entry), join(dir, entry), { recursive: true, filter: (src) => !src.endsWith(".test.ts") && !src.includes(`${sep}node_modules`) });
    }
    symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"), "dir");
    const target = join(dir, mutant.file);
    const patched = applyMutant(mutant, readFileSync(target, "utf8"));
    if ("stale" in patched) throw new Error(`mutant ${mutant.id} is stale: ${patched.stale}`);
    writeFileSync(target, patched.text);
    return { dir, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
