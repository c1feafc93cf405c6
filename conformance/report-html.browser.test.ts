// Conformance harness self-test in a real browser (headless Debian Chromium via playwright-core): the HTML report
// opens with failures first and their details open, and filters by status and by group.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonReport, type RunMeta } from "./report.ts";
import { htmlReport, type JsonRun } from "./report-html.ts";
import type { CheckResult } from "./runner.ts";

const CHROMIUM = process.env.SMCP_CHROMIUM ?? "/usr/bin/chromium";
const present = existsSync(CHROMIUM);
// Not silently green: without a browser the suite is reported as skipped, and its title says why.
const title = present ? "HTML report in headless Chromium" : `HTML report in headless Chromium — SKIPPED: no browser at ${CHROMIUM} (apt-get install -y chromium, or set SMCP_CHROMIUM)`;

const meta: RunMeta = { deployment: "reference", alice: "a", bob: "b", startedAt: "2026-01-01T00:00:00.000Z", durationMs: 10, options: {} };
const r = (id: string, status: CheckResult["status"]): CheckResult => ({
  id, name: `check ${id}`, requirements: ["SIGN-06"], level: "MUST", status, duration_ms: 3, details: [status === "pass" ? "" : `why ${id}`], wire: [], expectation: "none",
  ...(status === "fail" ? { category: "requirement" as const, expected: "401", actual: "200" } : {}),
});
// In catalogue order, the failures come late: the report must still open with them.
const results = [r("sc/discovery/well-known@alice", "pass"), r("sc/calls/create-task", "pass"), r("adv/http/too-large@bob", "pass"), r("adv/sign/replay@alice", "pass"), r("adv/sign/bad-sig@bob", "fail"), r("adv/http/bad-json@alice", "fail"), r("sc/final/dup", "not-testable"), r("adv/txn/should-thing", "excluded")];

describe.skipIf(!present)(title, () => {
  let browser: Browser;
  let dir: string;
  let url: string;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    dir = mkdtempSync(join(tmpdir(), "smcp-html-"));
    const file = join(dir, "report.html");
    writeFileSync(file, htmlReport([{ label: "run", run: JSON.parse(jsonReport(results, meta)) as JsonRun }]));
    url = pathToFileURL(file).href;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const visibleIds = (page: import("playwright-core").Page): Promise<string[]> =>
    page.$$eval("tbody tr", (rows) => rows.filter((x) => !(x as HTMLElement).hidden && (x as HTMLElement).offsetParent !== null).map((x) => x.id.replace(/^check-/, "")));

  it("opens failures first, with their details open; passes stay closed", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    const ids = await visibleIds(page);
    expect(ids.slice(0, 3)).toEqual(["adv/sign/bad-sig@bob", "adv/http/bad-json@alice", "sc/final/dup"]);
    expect(ids).toHaveLength(results.length);
    expect(await page.locator("#check-adv\\/sign\\/bad-sig\\@bob details").first().getAttribute("open")).not.toBeNull();
    expect(await page.locator("#check-sc\\/calls\\/create-task details").first().getAttribute("open")).toBeNull();
    await expect(page.locator("#shown").textContent()).resolves.toBe(`${results.length} of ${results.length} checks shown`);
    await page.close();
  });

  it("filters by status (clicking the checkboxes) and by group or area (the select), together", async () => {
    const page = await browser.newPage();
    await page.goto(url);
    for (const s of ["pass", "not-testable", "excluded"]) await page.locator(`input[name=status][value="${s}"]`).uncheck();
    expect(await visibleIds(page)).toEqual(["adv/sign/bad-sig@bob", "adv/http/bad-json@alice"]);
    await page.selectOption("#group", "adv/sign");
    expect(await visibleIds(page)).toEqual(["adv/sign/bad-sig@bob"]);
    await page.locator('input[name=status][value="pass"]').check();
    expect(await visibleIds(page)).toEqual(["adv/sign/bad-sig@bob", "adv/sign/replay@alice"]);
    await page.selectOption("#group", "sc");
    expect(await visibleIds(page)).toEqual(["sc/discovery/well-known@alice", "sc/calls/create-task"]);
    await expect(page.locator("#shown").textContent()).resolves.toBe(`2 of ${results.length} checks shown`);
    await page.close();
  });
});
