// Conformance harness (spec §14 VER-12): the success criteria and the 1.1 checks against a pair of reference instances
// where bob is 1.0-only (--protocol-versions 1.0) — the 1.0 flows pass both ways, bob's 1.1 checks are excluded with why.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { capture } from "../tests/support/capture-output.ts";
import { main } from "./cli.ts";

const SMCP_BIN = fileURLToPath(new URL("../bin/smcp.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "smcp-v11-pair-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a 1.1 reference paired with a 1.0-only reference", () => {
  it("VER-12, VER-10, VER-11: sc/* pass both ways; v11/* pass on the 1.1 instance and are excluded on the 1.0-only one", async () => {
    const io = capture();
    const bob = `${process.execPath} ${SMCP_BIN} serve --name {name} --listen 127.0.0.1:{port} --data {data} --control-token={token} --accept-all-invites --protocol-versions 1.0`;
    const code = await main(["run", "--bob-cmd", bob, "--only", "sc/*", "--only", "v11/*", "--no-durability", "--latency-calls", "10", "--json", join(dir, "r.json")]);
    const report = JSON.parse(readFileSync(join(dir, "r.json"), "utf8")) as { checks: Array<{ id: string; status: string; details: string[] }> };
    const status = (pattern: RegExp) => report.checks.filter((c) => pattern.test(c.id)).map((c) => c.status);
    expect(report.checks.filter((c) => c.status === "fail" || c.status === "not-testable").map((c) => `${c.id}: ${c.details[0]}`)).toEqual([]);
    // The success criteria (invite, events both ways, calls, backfill, removal) pass; SHOULD-level ones are excluded without --strict.
    expect(status(/^sc\//).filter((s) => s === "pass").length).toBeGreaterThan(10);
    expect(status(/^v11\/.*@alice$/)).toEqual(Array(6).fill("pass"));
    expect(status(/^v11\/.*@bob$/)).toEqual(Array(6).fill("excluded"));
    expect(report.checks.filter((c) => /^v11\/.*@bob$/.test(c.id)).every((c) => /needs protocol 1\.1/.test(c.details.join(" ")))).toBe(true);
    expect([code, io.out()]).toEqual([0, expect.stringMatching(/conformant/)]);
  }, 180_000);
});
