// Tests of the start-up launcher (bin/launch.js, issue 16): a bundle is rebuilt whenever any source's content changes
// (even with its old mtime), each file keeps its own import.meta.url, and SMCP_NO_BUNDLE=1 runs the same through tsx.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const launcher = fileURLToPath(new URL("./run-entry.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "smcp-launch-"));
const cache = join(dir, "cache");
const entry = join(dir, "entry.ts");
const dep = join(dir, "dep.ts");

function run(env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [launcher, entry, "an-argument"], { encoding: "utf8", env: { ...process.env, SMCP_BUNDLE_CACHE: cache, ...env }, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("bin/launch.js", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "package.json"), `{"type": "module"}\n`); // as the repository's own
  writeFileSync(dep, `export const word: string = "first";\n`);
  writeFileSync(entry, `import { word } from "./dep.ts";\nconsole.log(JSON.stringify({ word, url: import.meta.url, args: process.argv.slice(2) }));\n`);

  it("runs the entry bundled, with its own import.meta.url and its arguments", () => {
    expect(JSON.parse(run())).toEqual({ word: "first", url: pathToFileURL(entry).href, args: ["an-argument"] });
    expect(readdirSync(cache)).toHaveLength(1);
  });

  it("rebuilds when a dependency's content changes, even when its mtime is put back", () => {
    const { atime, mtime } = statSync(dep);
    writeFileSync(join(dir, "package.json"), `{"type": "module"}\n`); // as the repository's own
  writeFileSync(dep, `export const word: string = "other";\n`);
    utimesSync(dep, atime, mtime);
    expect(JSON.parse(run()).word).toBe("other");
  });

  it("SMCP_NO_BUNDLE=1 runs the same program through tsx", () => {
    expect(JSON.parse(run({ SMCP_NO_BUNDLE: "1" }))).toEqual(JSON.parse(run()));
  });
});
