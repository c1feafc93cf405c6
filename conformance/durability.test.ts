// Conformance harness self-tests: the durability phase (dur/*) bites — instances that lose their state at a restart,
// or forget their replay cache without refusing older requests, fail the checks named; one the harness cannot restart
// is reported excluded, never passed; --alice-restart-cmd restarts an instance given by URL (spec §5.8, §8, §9.2, §10.3).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { allChecks } from "./checks/index.ts";
import { main } from "./cli.ts";
import { freePort, randomToken } from "./deployment.ts";
import { durabilityUnavailable } from "./pair-run.ts";
import { plan } from "./runner.ts";
import { declaresProofs } from "../tests/support/self-tests/proofs.ts";

const SMCP_BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));
const REFERENCE = new URL("../reference-impl/instance.ts", import.meta.url);

/** The check IDs each negative self-test proves able to fail (asserted exactly: these fail, every other dur/ check passes). */
const PROVES_CAN_FAIL: Record<string, string[]> = {
  "state wiped at each start": ["dur/keys/unchanged", "dur/events/kept", "dur/channels/kept", "dur/queue/delivered", "dur/calls/outcome-kept", "dur/txn/results-kept"],
  "replay cache forgotten, requests signed before the restart accepted": ["dur/sign/replay-across-restart"],
  "does not come back after a restart": ["dur/restart"],
  "counts the submission in flight among its queued events": ["dur/queue/pending-counted"],
};
declaresProofs(import.meta.url, Object.values(PROVES_CAN_FAIL).flat());

/**
 * A preload for the reference instance: GET /control/v1/peers counts a transaction in flight one item too many (the
 * submission it carries taken for an event, DLV-35). Same-length edits only, so Content-Length stays true.
 */
const COUNTS_SUBMISSION = `import { ServerResponse } from "node:http";
const end = ServerResponse.prototype.end;
ServerResponse.prototype.end = function (chunk, ...rest) {
  if (typeof chunk === "string" && this.req?.method === "GET" && this.req.url?.startsWith("/control/v1/peers")) {
    const body = JSON.parse(chunk);
    for (const p of body.peers ?? []) if (p.outbound?.state === "sending" && p.outbound.pending > 0) p.outbound.pending += 1;
    const text = JSON.stringify(body);
    if (text.length === chunk.length) chunk = text;
  }
  return end.call(this, chunk, ...rest);
};
`;

type Report = { checks: Array<{ id: string; status: string; details: string[]; actual?: string }> };

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `smcp-dur-${label}-`));
  dirs.push(d);
  return d;
}

function quiet(): { err: () => string } {
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (err.push(String(chunk)), true));
  return { err: () => err.join("") };
}

/** A launcher script `$0 NAME PORT DATA TOKEN` that runs the reference instance (conformance profile, CONF-10) after `prelude` (shell). */
function launcher(dir: string, file: string, prelude: string, nodeArgs = ""): string {
  const path = join(dir, file);
  writeFileSync(path, `#!/bin/sh\n${prelude}\nexec "${process.execPath}" ${nodeArgs} "${SMCP_BIN}" serve --name "$1" --listen "127.0.0.1:$2" --data "$DATA" --control-token="$4" --accept-all-invites\n`);
  chmodSync(path, 0o755);
  return `${path} {name} {port} {data} {token}`;
}

async function run(args: string[], dir: string): Promise<{ code: number; report: Report }> {
  const json = join(dir, "report.json");
  const code = await main(["run", "--json", json, ...args]);
  return { code, report: JSON.parse(readFileSync(json, "utf8")) as Report };
}

const durIds = (role: "alice" | "bob"): string[] => allChecks().filter((c) => c.id.startsWith("dur/") && c.id.endsWith(`@${role}`)).map((c) => c.id);
const failedIds = (r: Report, role: string): string[] => r.checks.filter((c) => c.id.startsWith("dur/") && c.id.endsWith(`@${role}`) && c.status !== "pass").map((c) => c.id).sort();
const withRole = (ids: string[], role: string): string[] => ids.map((id) => `${id}@${role}`).sort();

describe.skipIf(!existsSync(REFERENCE))("the durability phase against broken instances", () => {
  it(`an instance whose data directory is wiped at each start (alice), or kept in a fresh directory each time (bob: in memory as far as a restart can tell), fails exactly ${PROVES_CAN_FAIL["state wiped at each start"]!.join(", ")}`, async () => {
    const dir = tempDir("wiped");
    mkdirSync(join(dir, "mem"));
    const wiped = launcher(dir, "wiped.sh", 'DATA="$3"; rm -rf "$DATA"; mkdir -p "$DATA"');
    const fresh = launcher(dir, "fresh.sh", `DATA="$(mktemp -d "${join(dir, "mem")}/run-XXXXXX")"`);
    quiet();
    const { code, report } = await run(["--alice-cmd", wiped, "--bob-cmd", fresh, "--only", "dur/*", "--delivery-timeout-ms", "3000"], dir);
    expect(code).toBe(1);
    const want = PROVES_CAN_FAIL["state wiped at each start"]!;
    expect(failedIds(report, "alice")).toEqual(withRole(want, "alice"));
    expect(failedIds(report, "bob")).toEqual(withRole(want, "bob"));
    // Each fails for its own reason, not as "prerequisite failed".
    for (const c of report.checks.filter((x) => x.id.startsWith("dur/") && x.status !== "pass")) expect(c.status, c.id).toBe("fail");
    const failure = (id: string): string => report.checks.find((c) => c.id === id)!.details[0]!;
    expect(failure("dur/events/kept@alice")).toMatch(/gone after the restart/);
    expect(failure("dur/calls/outcome-kept@alice")).toMatch(/no stored result|another result|tasks changed/);
    expect(failure("dur/queue/delivered@alice")).toMatch(/lost/);
  }, 180_000);

  it(`an instance that forgets its replay cache at a restart and still accepts requests signed before it (alice) fails ${PROVES_CAN_FAIL["replay cache forgotten, requests signed before the restart accepted"]!.join(", ")} and nothing else; one that does not start a second time (bob) fails ${PROVES_CAN_FAIL["does not come back after a restart"]!.join(", ")}`, async () => {
    const dir = tempDir("replay");
    // Its clock runs 20 s slow: the non-persistent cache's start (SIGN-42) then lies before requests it accepted in
    // its previous life, which the new, empty cache lets through again. Everything else it stores is kept.
    writeFileSync(join(dir, "slow-clock.mjs"), "const real = Date.now;\nDate.now = () => real() - 20_000;\n");
    const slow = launcher(dir, "slow.sh", 'DATA="$3"', `--import "${join(dir, "slow-clock.mjs")}"`);
    const once = launcher(dir, "once.sh", 'DATA="$3"; if [ -e "$DATA/started-once" ]; then echo "refusing to start again" >&2; exit 3; fi; touch "$DATA/started-once"');
    quiet();
    const { code, report } = await run(["--alice-cmd", slow, "--bob-cmd", once, "--only", "dur/*"], dir);
    expect(code).toBe(1);
    expect(failedIds(report, "alice")).toEqual(withRole(PROVES_CAN_FAIL["replay cache forgotten, requests signed before the restart accepted"]!, "alice"));
    expect(report.checks.find((c) => c.id === "dur/sign/replay-across-restart@alice")!.details[0]).toMatch(/accepted again after it/);
    const restart = report.checks.find((c) => c.id === "dur/restart@bob")!;
    expect(restart.status).toBe("fail");
    expect(restart.details[0]).toMatch(/did not come back.*exited \(3\)/);
    const dependants = report.checks.filter((c) => c.id.startsWith("dur/") && c.id.endsWith("@bob") && c.id !== "dur/restart@bob");
    for (const c of dependants) expect(c.status, c.id).toBe("not-testable");
  }, 180_000);

  it(`an instance that counts the submission in flight among its queued events (alice) fails ${PROVES_CAN_FAIL["counts the submission in flight among its queued events"]!.join(", ")} and nothing else`, async () => {
    const dir = tempDir("pending");
    writeFileSync(join(dir, "counts-submission.mjs"), COUNTS_SUBMISSION);
    const counting = launcher(dir, "counting.sh", 'DATA="$3"', `--import "${join(dir, "counts-submission.mjs")}"`);
    const plain = launcher(dir, "plain.sh", 'DATA="$3"');
    quiet();
    const { code, report } = await run(["--alice-cmd", counting, "--bob-cmd", plain, "--only", "dur/*"], dir);
    expect(code).toBe(1);
    expect(failedIds(report, "alice")).toEqual(withRole(PROVES_CAN_FAIL["counts the submission in flight among its queued events"]!, "alice"));
    expect(failedIds(report, "bob")).toEqual([]);
    expect(report.checks.find((c) => c.id === "dur/queue/pending-counted@alice")!.details[0]).toMatch(/a submission is not an event/);
  }, 180_000);
});

describe("which checks the phase can run (pair-run's durabilityUnavailable, runner's plan)", () => {
  const dur = allChecks().find((c) => c.id === "dur/restart@alice")!;
  const other = allChecks().find((c) => c.id === "sc/discovery/well-known@alice")!;
  const restart = async (): Promise<void> => {};
  it("a check that restarts nobody always runs; one that restarts alice runs only where alice can be restarted and not with --no-durability", () => {
    expect(durabilityUnavailable(other, { restart: {} }, true)).toBeUndefined();
    expect(durabilityUnavailable(dur, { restart: { alice: restart } }, false)).toBeUndefined();
    expect(durabilityUnavailable(dur, { restart: { alice: restart } }, true)).toMatch(/--no-durability/);
    expect(durabilityUnavailable(dur, { restart: { bob: restart } }, false)).toMatch(/alice: given by URL without --alice-restart-cmd/);
  });
  it("plan excludes an unavailable check with its reason and does not pull it in as anyone's prerequisite", () => {
    const p = plan(allChecks(), { only: ["dur/*@alice"], skip: [], strict: false, unavailable: (c) => (c.restarts ? "cannot restart" : undefined) });
    expect([...p.run].filter((id) => id.startsWith("dur/"))).toEqual([]);
    expect(p.excluded.get("dur/restart@alice")).toBe("cannot restart");
    expect(p.excluded.get("dur/events/kept@alice")).toBe("cannot restart");
  });
});

describe.skipIf(!existsSync(REFERENCE))("instances the harness cannot restart, and --no-durability", () => {
  it("--no-durability reports every dur/ check excluded with the reason, none passed", async () => {
    const dir = tempDir("off");
    quiet();
    const { code, report } = await run(["--only", "dur/*", "--no-durability"], dir);
    expect(code).toBe(0);
    const dur = report.checks.filter((c) => c.id.startsWith("dur/"));
    expect(dur.map((c) => c.id).sort()).toEqual([...durIds("alice"), ...durIds("bob")].sort());
    for (const c of dur) {
      expect(c.status, c.id).toBe("excluded");
      expect(c.details.join(" "), c.id).toMatch(/--no-durability/);
    }
  }, 60_000);

  it("an instance given by URL is restarted by --alice-restart-cmd and passes the phase; without the command its dur/ checks are excluded, naming the option", async () => {
    const dir = tempDir("url");
    const data = join(dir, "data");
    mkdirSync(data);
    const port = await freePort();
    const token = randomToken();
    const pidFile = join(dir, "pid");
    // The instance outlives the restart command (its own session), as a service manager's would.
    const start = join(dir, "start.sh");
    writeFileSync(start, `#!/bin/sh\nsetsid "${process.execPath}" "${SMCP_BIN}" serve --name alice.example --listen 127.0.0.1:${port} --data "${data}" --control-token=${token} --accept-all-invites >>"${dir}/log" 2>&1 < /dev/null &\necho $! > "${pidFile}"\n`);
    const restart = join(dir, "restart.sh");
    writeFileSync(restart, `#!/bin/sh\npid=$(cat "${pidFile}")\nkill -9 "$pid"\nwhile kill -0 "$pid" 2>/dev/null; do sleep 0.05; done\nexec "${start}"\n`);
    chmodSync(start, 0o755);
    chmodSync(restart, 0o755);
    expect(spawnSync(start).status).toBe(0);
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${port}/.well-known/smcp/server`).then((r) => r.status, () => 0)) === 200);
      const url = ["--alice", `http://127.0.0.1:${port}`, "--alice-token", token, "--only", "dur/*@alice"];
      quiet();
      const without = await run(url, dir);
      expect(without.code).toBe(0);
      for (const id of durIds("alice")) {
        const c = without.report.checks.find((x) => x.id === id)!;
        expect(c.status, id).toBe("excluded");
        expect(c.details.join(" "), id).toMatch(/--alice-restart-cmd/);
      }
      const restarted = await run([...url, "--alice-restart-cmd", `${restart} {port}`], dir);
      expect(failedIds(restarted.report, "alice")).toEqual([]);
      expect(restarted.report.checks.filter((c) => c.id.startsWith("dur/") && c.status === "pass").map((c) => c.id).sort()).toEqual(durIds("alice").sort());
      expect(restarted.code).toBe(0);
    } finally {
      const pid = Number(readFileSync(pidFile, "utf8"));
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }, 180_000);
});

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("the URL instance did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
}
