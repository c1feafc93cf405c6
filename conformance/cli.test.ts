// Conformance harness self-tests: the CLI end to end — list, usage and deployment errors, --alice-cmd, and a full run
// against two untouched reference instances, which must pass everything.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { capture } from "../tests/support/capture-output.ts";
import { allChecks } from "./checks/index.ts";
import { coverage, EXCLUSIONS } from "./checks/exclusions.ts";
import { loadRequirements, unknownRequirementIds } from "./checks/requirements.ts";
import { main } from "./cli.ts";
import { requireDocker } from "./deployment.ts";
import { processAlive } from "./process-group.ts";
import { validateReport } from "./report-schema.ts";

const HARNESS_BIN = fileURLToPath(new URL("../bin/smcp-conformance.js", import.meta.url));
const SMCP_BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));

/**
 * A launcher as implementers write them: it forks a helper and runs the server without `exec`, so signalling only
 * the `/bin/sh -c` wrapper (or only this script) would leave both running. Every PID it starts goes to $SMCP_TEST_PIDS.
 */
function writeLauncher(dir: string): string {
  const file = join(dir, "launch.sh");
  writeFileSync(
    file,
    `#!/bin/sh
sleep 300 &
echo $! >> "$SMCP_TEST_PIDS"
echo $$ >> "$SMCP_TEST_PIDS"
"${process.execPath}" "${SMCP_BIN}" serve --name "$1" --listen "127.0.0.1:$2" --data "$3" --control-token="$4" --accept-all-invites &
echo $! >> "$SMCP_TEST_PIDS"
wait
`,
  );
  chmodSync(file, 0o755);
  return file;
}

function pidsIn(file: string): number[] {
  return existsSync(file) ? readFileSync(file, "utf8").split(/\s+/).filter(Boolean).map(Number) : [];
}

const REFERENCE = new URL("../reference-impl/instance.ts", import.meta.url);


const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("check catalogue", () => {
  it("every check has a unique ID in the <group>/<area>/<name>[@instance] scheme and cites requirements of spec/requirements.json", () => {
    const checks = allChecks();
    expect(new Set(checks.map((c) => c.id)).size).toBe(checks.length);
    for (const c of checks) {
      expect(c.id).toMatch(/^(sc|ctl|adv|dur|fwd|v11|judith|gail|kathy)\/[a-z0-9-]+(\/[a-z0-9-]+)*(@(alice|bob))?$/);
      expect(c.requirements.length, c.id).toBeGreaterThan(0);
      for (const p of c.prerequisites) expect(checks.some((x) => x.id === p), `${c.id} → ${p}`).toBe(true);
    }
    expect(unknownRequirementIds(checks.flatMap((c) => c.requirements))).toEqual([]);
  });

  it("every requirement of spec/requirements.json is cited by a check or excluded with a reason (spec §16 coverage)", () => {
    const cited = new Map<string, string[]>();
    for (const c of allChecks()) for (const r of c.requirements) cited.set(r, [...(cited.get(r) ?? []), c.id]);
    const rows = coverage(loadRequirements(), cited);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => r.status === "untested").map((r) => r.requirement.id)).toEqual([]);
    for (const r of rows.filter((x) => x.status === "excluded")) expect(r.exclusion!.reason.length, r.requirement.id).toBeGreaterThan(15);
    // An exclusion must not hide a requirement a check now cites, nor name one the spec does not define.
    const known = new Set(loadRequirements().map((r) => r.id));
    expect(Object.keys(EXCLUSIONS).filter((id) => cited.has(id) || !known.has(id))).toEqual([]);
  });

  it("`list --coverage` reports tested / excluded (with why) / untested", async () => {
    const io = capture();
    expect(await main(["list", "--coverage"])).toBe(0);
    expect(io.out()).toMatch(/requirements of spec\/requirements\.json: \d+ — tested \d+, excluded with a reason \d+, untested 0/);
    expect(io.out()).toMatch(/excluded: retention \(\d+\)/);
    expect(io.out()).toMatch(/TXN-18 .*\n\s+why: 24 h retention/);
  });

  it("`list` prints every check with its requirements and level and exits 0", async () => {
    const io = capture();
    expect(await main(["list"])).toBe(0);
    for (const c of allChecks()) expect(io.out()).toContain(c.id);
    expect(io.out()).toMatch(/MUST {2}SIGN-38/);
  });
});

describe("usage and deployment errors exit 2 without running checks", () => {
  it("--alice without --alice-token", async () => {
    const io = capture();
    expect(await main(["run", "--alice", "http://127.0.0.1:1"])).toBe(2);
    expect(io.err()).toMatch(/--alice needs --alice-token/);
  });

  it("an --only pattern that matches no check is refused (a typo must not run nothing)", async () => {
    const io = capture();
    expect(await main(["run", "--only", "sc/latency"])).toBe(2);
    expect(io.err()).toMatch(/matches no check/);
  });

  it("--alice-cmd without {port}", async () => {
    const io = capture();
    expect(await main(["run", "--alice-cmd", "my-server", "--bob-cmd", "my-server {port}"])).toBe(2);
    expect(io.err()).toMatch(/must contain \{port\}/);
  });

  it("--alice-image with no Docker engine names the alternatives (--alice-cmd, --alice URL)", async () => {
    const dockerUp = await requireDocker().then(() => true, () => false);
    if (dockerUp) return; // this machine class has no engine; with one, the image path is exercised for real
    const io = capture();
    expect(await main(["run", "--alice-image", "example/smcp:1", "--bob-image", "example/smcp:1"])).toBe(2);
    expect(io.err()).toMatch(/Docker engine/);
    expect(io.err()).toMatch(/--alice-cmd/);
    expect(io.err()).toMatch(/--alice URL --alice-token/);
  });
});

describe.skipIf(!existsSync(REFERENCE))("against reference instances", () => {
  it("a relative --alice-cmd runs in the caller's folder; a forking launcher leaves nothing behind after the run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smcp-launcher-"));
    dirs.push(dir);
    writeLauncher(dir);
    const pidFile = join(dir, "pids");
    const cmd = "./launch.sh {name} {port} {data} {token}";
    const child = spawn(process.execPath, [HARNESS_BIN, "run", "--alice-cmd", cmd, "--bob-cmd", cmd, "--bob-name", "bob.test", "--only", "sc/discovery/well-known"], {
      cwd: dir,
      env: { ...process.env, SMCP_TEST_PIDS: pidFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(out).toMatch(/✓ sc\/discovery\/well-known@bob/);
    expect(out).toMatch(/bob\.test/);
    expect(code, out).toBe(0);
    const pids = pidsIn(pidFile);
    expect(pids).toHaveLength(6); // per role: the sleep helper, the script, the server
    expect(pids.filter(processAlive)).toEqual([]);
  }, 60_000);

  it("Ctrl-C (SIGINT) during a run stops every started process group, helpers included, and exits 130", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smcp-launcher-"));
    dirs.push(dir);
    writeLauncher(dir);
    const pidFile = join(dir, "pids");
    const cmd = "./launch.sh {name} {port} {data} {token}";
    const child = spawn(process.execPath, [HARNESS_BIN, "run", "--alice-cmd", cmd, "--bob-cmd", cmd], {
      cwd: dir,
      env: { ...process.env, SMCP_TEST_PIDS: pidFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // Both instances are up once the harness prints its first line; interrupt in the middle of the checks.
    await new Promise<void>((resolve) => child.stdout.on("data", (c: Buffer) => c.toString().includes("✓") && resolve()));
    expect(pidsIn(pidFile).filter(processAlive)).toHaveLength(6);
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(pidsIn(pidFile).filter(processAlive)).toEqual([]);
  }, 60_000);

  it("`run` (npm start) passes every check on two untouched reference instances, with latency (§16); its wall time is a bench figure (bench/conformance.ts)", async () => {
    const io = capture();
    const dir = mkdtempSync(join(tmpdir(), "smcp-conformance-test-"));
    dirs.push(dir);
    const code = await main(["run", "--latency-calls", "50", "--json", join(dir, "r.json"), "--junit", join(dir, "r.xml")]);
    const report = JSON.parse(readFileSync(join(dir, "r.json"), "utf8")) as { checks: Array<{ id: string; status: string; expectation: string; category?: string; details: string[] }>; latency?: { p99: number } };
    const bad = report.checks.filter((c) => (c.status === "fail" || c.status === "not-testable") && c.expectation !== "expected-failure");
    expect(bad.map((c) => `${c.id}: ${c.details[0]}`)).toEqual([]);
    expect(report.checks.filter((c) => c.expectation === "stale").map((c) => c.id)).toEqual([]);
    expect(report.checks.some((c) => c.category === "harness-error")).toBe(false);
    expect(report.latency?.p99).toBeLessThan(500);
    expect(io.out()).toMatch(/p99/);
    expect(readFileSync(join(dir, "r.xml"), "utf8")).toMatch(/<testsuites name="smcp-conformance"/);
    expect(validateReport(report)).toEqual([]);
    expect(code).toBe(0);
  }, 180_000);
});
