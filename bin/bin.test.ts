// Tests of both command lines as users run them (bin/smcp.js, bin/smcp-conformance.js): --version, unknown flags,
// and `smcp serve --help` documenting every flag the parser accepts.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
const run = (name: string, args: string[]) => spawnSync(process.execPath, [bin(name), ...args], { encoding: "utf8", timeout: 30_000 });

describe("command lines", () => {
  it("--version prints the package version on both commands and exits 0", () => {
    for (const [name, args] of [["smcp", ["serve", "--version"]], ["smcp-conformance", ["--version"]]] as const) {
      const r = run(name, [...args]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${name} ${VERSION}\n`);
    }
  });

  it("an unknown flag is one line on stderr and exit 2, no stack trace, nothing started", () => {
    for (const [name, args] of [["smcp", ["serve", "--bogus"]], ["smcp-conformance", ["run", "--bogus"]], ["smcp-conformance", ["matrix", "--bogus=1"]]] as const) {
      const r = run(name, [...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^${name}: Unknown option '--bogus'.*--help`));
    }
  });

  it("a bad value is one line and exit 2 too (smcp serve --listen nonsense, --config of a missing file)", () => {
    for (const args of [["serve", "--name", "a.example", "--data", "/tmp/x", "--listen", "nonsense"], ["serve", "--config", "/nonexistent/c.json"]]) {
      const r = run("smcp", args);
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1);
    }
  });

  it("`smcp serve --help` documents every flag, and every documented flag is accepted", () => {
    const help = run("smcp", ["serve", "--help"]);
    expect(help.status).toBe(0);
    const flags = [...help.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]!);
    // The flags of the configuration file's options that an operator sets on the command line.
    for (const f of ["name", "listen", "data", "peer", "control-token", "public-url", "tls-cert", "tls-key", "ca", "config", "call-allow", "invite-allow", "log-level", "log-file", "version", "help"]) {
      expect(flags).toContain(f);
    }
    const withValue: string[] = [];
    for (const f of flags) {
      const line = help.stdout.split("\n").find((l) => l.startsWith(`  --${f}`))!;
      expect(line.replace(/^\s*--\S+( [A-Z:=]+)?(, -h)?\s*/, "").length, f).toBeGreaterThan(8); // a description, not just the name
      if (/^ {2}--\S+ [A-Z]/.test(line)) withValue.push(`--${f}=x`);
    }
    // One start with every documented flag that takes a value: the parser knows them all (it fails later, on values).
    const r = run("smcp", ["serve", ...withValue]);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/Unknown option/);
    expect(withValue.length).toBeGreaterThanOrEqual(14);
  });
});
