// Security tests of the HTTP edge's timestamp window (spec §5.5 SIGN-25, §5.8 SIGN-39, SIGN-42): signed requests at
// the edge of max_clock_skew_ms are accepted, beyond it refused with 401 SMCP_BAD_TIMESTAMP.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ErrorBody } from "../protocol/errors.ts";
import { validate } from "../protocol/schemas.ts";
import type { Instance } from "../reference-impl/instance.ts";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";

const MARGIN = 250; // loopback signing-to-verification time is a few ms; this is generous

describe("clock skew", () => {
  const SHORT_W = 1500;
  let wide: Instance; // default window, 60 000 ms
  let short: Instance; // a short window, so that the past edge can be reached without waiting a minute
  let startedAt = 0;
  let peer: FakePeer;
  const dirs = [tempDir("skew1"), tempDir("skew2")];
  const ping = (i: Instance, ts: number, nonce?: string) => peer.send(i.serverName, { method: "GET", path: "/federation/v1/ping", sign: { ts, nonce } });

  beforeAll(async () => {
    startedAt = Date.now();
    wide = await start("wide.example", dirs[0]!);
    short = await start("short.example", dirs[1]!, { limits: { maxClockSkewMs: SHORT_W } });
    peer = await startFakePeer("skewed.example", [wide, short]);
  });

  afterAll(async () => {
    await Promise.all([wide?.close(), short?.close(), peer?.close()]);
    dirs.forEach(removeDir);
  });

  const expectBadTimestamp = (r: { status: number; body: unknown }) => {
    expect(r.status).toBe(401);
    expect(validate("Error", r.body)).toEqual([]);
    expect((r.body as ErrorBody).errcode).toBe("SMCP_BAD_TIMESTAMP");
  };

  it("SIGN-25, RATE-03: the instance advertises the window it enforces (spec §5.5, §6.2)", async () => {
    const doc = (await fetch(`${short.url}/.well-known/smcp/server`).then((r) => r.json())) as { limits: { max_clock_skew_ms: number } };
    expect(doc.limits.max_clock_skew_ms).toBe(SHORT_W);
    const docWide = (await fetch(`${wide.url}/.well-known/smcp/server`).then((r) => r.json())) as { limits: { max_clock_skew_ms: number } };
    expect(docWide.limits.max_clock_skew_ms).toBe(60_000);
  });

  it("SIGN-25: ts up to W - margin in the future is accepted, beyond W refused with 401 SMCP_BAD_TIMESTAMP (spec §5.5)", async () => {
    expect((await ping(wide, Date.now() + 60_000 - MARGIN)).status).toBe(200);
    expectBadTimestamp(await ping(wide, Date.now() + 60_000 + MARGIN));
    expect((await ping(short, Date.now() + SHORT_W - MARGIN)).status).toBe(200);
    expectBadTimestamp(await ping(short, Date.now() + SHORT_W + MARGIN));
  });

  it("SIGN-25: ts up to W - margin in the past is accepted, beyond W refused (spec §5.5)", async () => {
    // The past edge only exists once the instance is older than its window (SIGN-42 refuses anything older).
    await until("short instance older than its window", () => Date.now() - startedAt > SHORT_W + 1000, 5000);
    expect((await ping(short, Date.now() - SHORT_W + MARGIN)).status).toBe(200);
    expectBadTimestamp(await ping(short, Date.now() - SHORT_W - MARGIN));
    expectBadTimestamp(await ping(wide, Date.now() - 60_000 - MARGIN));
    expectBadTimestamp(await ping(wide, 0));
  });

  it("SIGN-42: inside the window but before the replay cache started is refused (spec §5.8)", async () => {
    // The wide instance's cache started after startedAt: 1 ms earlier is already refused, although well inside 60 s.
    expectBadTimestamp(await ping(wide, startedAt - 1));
  });

  it("SIGN-38, SIGN-39: a refused timestamp does not burn the nonce; an accepted one cannot be replayed (spec §5.8)", async () => {
    const nonce = "c2tldy1ub25jZS0wMDAwMA";
    expectBadTimestamp(await ping(wide, Date.now() + 120_000, nonce));
    expect((await ping(wide, Date.now(), nonce)).status).toBe(200);
    const again = await ping(wide, Date.now(), nonce);
    expect(again.status).toBe(401);
    expect((again.body as ErrorBody).errcode).toBe("SMCP_REPLAY");
  });
});
