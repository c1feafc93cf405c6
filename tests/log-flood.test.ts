// Security test of the HTTP edge's logging (spec §5.7 RATE-14, issue 10 "logs have no rate limit"): 1,000 bad requests from
// one address write the burst of request lines, not 1,000; the next line after a pause says how many were dropped.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LogLimiter } from "../reference-impl/http/log-limiter.ts";
import { start } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

describe("log rate limit", () => {
  it("1,000 unauthenticated requests from one address: exactly 100 request lines logged", async () => {
    const dir = tempDir("logs");
    let clock = Date.now();
    const log = join(dir, "alice.log");
    const alice = await start("alice.example", join(dir, "data"), { logDestination: log, logLevel: "info", now: () => clock });
    try {
      for (let i = 0; i < 1000; i++) await fetch(`${alice.url}/federation/v1/ping`);
      clock += 1000; // 20 tokens back
      await fetch(`${alice.url}/federation/v1/ping`);
    } finally {
      await alice.close();
    }
    const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { msg: string; suppressed_lines?: number });
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests).toHaveLength(101);
    expect(requests.at(-1)!.suppressed_lines).toBe(900);
    removeDir(dir);
  });

  it("keys are bounded and independent", () => {
    let t = 0;
    const limiter = new LogLimiter(1, 2, () => t);
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a"), limiter.take("b")]).toEqual([0, 0, -1, 0]);
    t += 1000;
    expect(limiter.take("a")).toBe(1);
  });
});
