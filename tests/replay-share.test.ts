// Security test of request authentication (spec §5.8 SIGN-41, SIGN-49, issue 10 finding 9): an origin that fills its
// share of the replay cache is refused alone; another origin keeps being served.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakePeer } from "../conformance/fake-peer.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

let alice: Instance;
let mallory: FakePeer;
let bob: FakePeer;
const dir = tempDir("replay-share");

beforeAll(async () => {
  alice = await start("alice.example", dir, { replayCache: { entries: 1000, perOrigin: 50 } });
  mallory = await startFakePeer("mallory.example", [alice]);
  bob = await startFakePeer("bob.example", [alice]);
});
afterAll(async () => {
  await mallory.close();
  await bob.close();
  await alice.close();
  removeDir(dir);
});

async function pings(peer: FakePeer, n: number): Promise<Record<number, number>> {
  const counts: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const a = await peer.send("alice.example", { method: "GET", path: "/federation/v1/ping" });
    counts[a.status] = (counts[a.status] ?? 0) + 1;
  }
  return counts;
}

describe("replay cache share per origin (SIGN-49)", () => {
  it("mallory's 80 requests: 50 accepted, 30 refused with 429; bob's 50 all accepted afterwards", async () => {
    expect(await pings(mallory, 80)).toEqual({ 200: 50, 429: 30 });
    expect(await pings(bob, 50)).toEqual({ 200: 50 });
  });
});
