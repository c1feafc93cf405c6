// Tests of how the harness is distributed: the npm package's contents and dependencies, the harness image's
// Dockerfile against the package's `files`, and the CI action's steps (bin/ci-action.sh) run as a script.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { validateReport } from "./report-schema.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string; version: string; private?: boolean; files: string[]; bin: Record<string, string>; engines: Record<string, string>;
  dependencies: Record<string, string>; devDependencies: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const temp = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** What `npm pack` would put in the tarball (paths inside the package). */
function packedFiles(): string[] {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path).sort();
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

describe("npm package", () => {
  it("is publishable: name, version, engines, a bin for smcp and smcp-conformance (executable, with a node shebang)", () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.name).toMatch(/^[a-z0-9-]+$/);
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(pkg.engines.node).toMatch(/>=\s*20/);
    expect(Object.keys(pkg.bin).sort()).toEqual(["smcp", "smcp-conformance"]);
    for (const file of Object.values(pkg.bin)) {
      expect(readFileSync(join(ROOT, file), "utf8").startsWith("#!/usr/bin/env node\n"), file).toBe(true);
      expect(statSync(join(ROOT, file)).mode & 0o111, file).not.toBe(0);
    }
  });

  it("runtime dependencies are the instance's and the harness's own; the Docker client is an optional peer; build and test tools are dev-only", () => {
    expect(pkg.dependencies.testcontainers).toBeUndefined();
    expect(pkg.peerDependencies?.testcontainers).toBeDefined();
    expect(pkg.peerDependenciesMeta?.testcontainers?.optional).toBe(true);
    for (const dev of ["msw", "playwright-core", "vitest", "typescript", "@typespec/compiler", "@redocly/cli", "openapi-typescript", "fast-check", "testcontainers"]) {
      expect(pkg.devDependencies[dev], dev).toBeDefined();
      expect(pkg.dependencies[dev], dev).toBeUndefined();
    }
    // Exact pins (house rule), and every runtime dependency is imported by code the package ships.
    for (const v of [...Object.values(pkg.dependencies), ...Object.values(pkg.devDependencies)]) expect(v).toMatch(/^\d+\.\d+\.\d+$/);
    const shipped = packedFiles().filter((f) => f.endsWith(".ts") || f.endsWith(".js")).map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n");
    for (const dep of Object.keys(pkg.dependencies)) expect(shipped.includes(`"${dep}`) || shipped.includes(`'${dep}`), dep).toBe(true);
  });

  it("ships the instance, the harness, schemas, requirements and fixtures — no tests, test support, bench, CI or spec sources", () => {
    const files = packedFiles();
    for (const f of ["bin/smcp.js", "bin/smcp-conformance.js", "conformance/cli.ts", "conformance/report.schema.json", "reference-impl/cli.ts", "protocol/signing.ts", "schemas/json-schema/Event.json", "spec/requirements.json", "action.yml", "Dockerfile.harness"]) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /\.test\.ts$|^conformance\/mutants\/|^(bench|tests|scripts|\.ci)\/|\.tsp$/.test(f))).toEqual([]);
    // A guard against shipping whole folders by mistake (703 files with 1.1 and the §18 profiles, most of them fixture examples and schemas).
    expect(files.length).toBeLessThan(800);
  });
});

describe("harness image (Dockerfile.harness)", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile.harness"), "utf8");
  const copies = [...dockerfile.matchAll(/^COPY (.+)$/gm)].flatMap((m) => {
    const parts = m[1]!.split(" ");
    const dest = parts.pop()!;
    return parts.map((src) => ({ src, dest }));
  });

  it("copies exactly the package's `files` (each to the same path) plus the manifest and lockfile", () => {
    const positive = pkg.files.filter((f) => !f.startsWith("!"));
    expect(copies.map((c) => c.src).filter((s) => s !== "package.json" && s !== "package-lock.json").sort()).toEqual([...positive].sort());
    for (const c of copies) {
      const same = c.src === "package.json" || c.src === "package-lock.json" ? "./" : `./${c.src.includes("*") ? `${dirname(c.src)}/` : c.src}`;
      expect(c.dest, c.src).toBe(same);
    }
  });

  it("its prune step leaves exactly the files of the npm package (emulated: COPY, then the RUN line, in a folder)", () => {
    const dir = temp("smcp-image-");
    for (const c of copies) {
      if (c.src.includes("*")) {
        const base = dirname(c.src);
        const re = new RegExp(`^${c.src.slice(base.length + 1).replace(/\./g, "\\.").replace(/\*/g, "[^/]*")}$`);
        mkdirSync(join(dir, base), { recursive: true });
        for (const f of readdirSync(join(ROOT, base))) if (re.test(f) && statSync(join(ROOT, base, f)).isFile()) cpSync(join(ROOT, base, f), join(dir, base, f));
      } else cpSync(join(ROOT, c.src), join(dir, c.src), { recursive: true });
    }
    const prune = /^RUN (find .*)$/m.exec(dockerfile)![1]!;
    execFileSync("sh", ["-c", prune], { cwd: dir });
    // The lockfile is in the image for `npm ci`; npm never packs it.
    const inImage = walk(dir).map((f) => relative(dir, f)).filter((f) => f !== "package-lock.json").sort();
    expect(inImage).toEqual(packedFiles().filter((f) => f !== "README.md"));
  });

  it.skipIf(spawnSync("docker", ["info"], { timeout: 10_000 }).status !== 0)("builds and runs `--version` (needs a Docker engine: SKIPPED where none is reachable, as on this project's machines)", () => {
    execFileSync("docker", ["build", "-f", "Dockerfile.harness", "-t", "smcp-conformance:test", "."], { cwd: ROOT, stdio: "inherit" });
    expect(execFileSync("docker", ["run", "--rm", "smcp-conformance:test", "--version"], { encoding: "utf8" })).toBe(`smcp-conformance ${pkg.version}\n`);
  }, 600_000);
});

describe("CI action (action.yml, steps in bin/ci-action.sh)", () => {
  const action = readFileSync(join(ROOT, "action.yml"), "utf8");
  const script = readFileSync(join(ROOT, "bin", "ci-action.sh"), "utf8");

  it("is a composite action whose run step is the script, with every INPUT_* the script reads mapped from an input, and keeps the reports", () => {
    expect(action).toMatch(/using: composite/);
    expect(action).toContain('run: bash "$GITHUB_ACTION_PATH/bin/ci-action.sh"');
    const read = [...new Set([...script.matchAll(/\$\{?(INPUT_[A-Z_]+)/g)].map((m) => m[1]!))].sort();
    const mapped = [...action.matchAll(/^\s+(INPUT_[A-Z_]+): \$\{\{ inputs\.([a-z-]+) \}\}$/gm)];
    expect(mapped.map((m) => m[1]).sort()).toEqual(read);
    for (const m of mapped) {
      expect(m[2]!.toUpperCase().replace(/-/g, "_"), m[1]).toBe(m[1]!.slice("INPUT_".length));
      expect(action, m[2]).toMatch(new RegExp(`^ {2}${m[2]}:$`, "m"));
    }
    expect(action).toMatch(/- if: always\(\)\n\s+uses: actions\/upload-artifact@v4[\s\S]*path: \$\{\{ inputs\.reports-dir \}\}/);
  });

  function launcher(dir: string): void {
    const smcp = join(ROOT, "bin", "smcp.js");
    writeFileSync(join(dir, "my-smcp"), `#!/bin/sh\nexec "${process.execPath}" "${smcp}" serve --name "$1" --listen "127.0.0.1:$2" --data "$3" --control-token="$4"\n`);
    chmodSync(join(dir, "my-smcp"), 0o755);
  }

  it("run as a script in a workspace: a relative command, reports kept (JSON valid against the schema, JUnit, HTML), exit code and step summary", () => {
    const ws = temp("smcp-action-");
    launcher(ws);
    const env = { ...process.env, INPUT_ALICE_CMD: "./my-smcp {name} {port} {data} {token}", INPUT_BOB_CMD: "", INPUT_ARGS: "--only sc/discovery/well-known --latency-calls 5", INPUT_REPORTS_DIR: "out/reports", GITHUB_OUTPUT: join(ws, "gh-output"), GITHUB_STEP_SUMMARY: join(ws, "gh-summary") };
    const r = spawnSync("bash", [join(ROOT, "bin", "ci-action.sh")], { cwd: ws, env, encoding: "utf8", timeout: 90_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ sc\/discovery\/well-known@alice/);
    const report = JSON.parse(readFileSync(join(ws, "out/reports/report.json"), "utf8")) as { deployment: string };
    expect(validateReport(report)).toEqual([]);
    expect(report.deployment).toBe("mixed"); // alice from the command, bob the reference
    expect(readFileSync(join(ws, "out/reports/junit.xml"), "utf8")).toMatch(/<testsuites name="smcp-conformance"/);
    expect(readFileSync(join(ws, "out/reports/report.html"), "utf8")).toMatch(/<!doctype html>/);
    expect(readFileSync(join(ws, "gh-output"), "utf8")).toBe("exit-code=0\n");
    expect(readFileSync(join(ws, "gh-summary"), "utf8")).toMatch(/exit 0\n\d+ passed, 0 failed/);
  }, 120_000);

  it("passes a usage error on as exit 2 (output and summary say so) instead of hiding it", () => {
    const ws = temp("smcp-action-");
    const env = { ...process.env, INPUT_ALICE_URL: "http://127.0.0.1:9", INPUT_ALICE_TOKEN: "", INPUT_REPORTS_DIR: "r", GITHUB_OUTPUT: join(ws, "o"), GITHUB_STEP_SUMMARY: join(ws, "s") };
    const r = spawnSync("bash", [join(ROOT, "bin", "ci-action.sh")], { cwd: ws, env, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--alice needs --alice-token/);
    expect(readFileSync(join(ws, "o"), "utf8")).toBe("exit-code=2\n");
    expect(readFileSync(join(ws, "s"), "utf8")).toMatch(/no report was written/);
    expect(existsSync(join(ws, "r", "report.json"))).toBe(false);
  }, 60_000);
});
