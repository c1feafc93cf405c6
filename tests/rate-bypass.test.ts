// Security test of the HTTP edge (spec §5.7 RATE-01, RATE-10, issue 10 finding 5): 50 server names sharing one key,
// and many keys on one client address, share one limit instead of getting one each.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakePeer } from "../conformance/fake-peer.ts";
import { formatPublicKey, generateSeed, signingKeyFromSeed } from "../protocol/keys.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { ADDRESS_RATE_FACTOR } from "../reference-impl/http/rate-limit.ts";
import { start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

const BURST = 20;
let alice: Instance;
const dir = tempDir("rate-bypass");
const fakes: FakePeer[] = [];
// A frozen clock: no token refills while the test runs, so every count below is exact.
const frozen = Date.now();

beforeAll(async () => {
  alice = await start("alice.example", dir, { rateLimit: { perSecond: 1, burst: BURST }, now: () => frozen });
});
afterAll(async () => {
  for (const f of fakes) await f.close();
  await alice.close();
  removeDir(dir);
});

async function statuses(peer: FakePeer, n: number, sign?: { key: ReturnType<typeof signingKeyFromSeed> }): Promise<Record<number, number>> {
  const counts: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const a = await peer.send("alice.example", { method: "GET", path: "/federation/v1/ping", ...(sign ? { sign } : {}) });
    counts[a.status] = (counts[a.status] ?? 0) + 1;
  }
  return counts;
}

function add(counts: Record<number, number>, more: Record<number, number>): void {
  for (const [k, v] of Object.entries(more)) counts[Number(k)] = (counts[Number(k)] ?? 0) + v;
}

describe("rate limits per key and per client address (RATE-10)", () => {
  it("50 names sharing one key: 250 requests, exactly the key's burst (20) accepted, 230 refused with 429", async () => {
    const shared = signingKeyFromSeed(generateSeed());
    const names: FakePeer[] = [];
    for (let i = 0; i < 50; i++) {
      const f = await startFakePeer(`sybil${i}.example`, [alice], { advertiseKey: formatPublicKey(shared.publicKey) });
      fakes.push(f);
      names.push(f);
    }
    const total: Record<number, number> = {};
    for (const f of names) add(total, await statuses(f, 5, { key: shared }));
    expect(total).toEqual({ 200: BURST, 429: 250 - BURST });
  });

  it(`distinct keys on one address share the address's bucket (${ADDRESS_RATE_FACTOR} × burst = 160)`, async () => {
    const dir2 = tempDir("rate-address");
    const carol = await start("carol.example", dir2, { rateLimit: { perSecond: 1, burst: BURST }, now: () => frozen });
    try {
      const counts: Array<Record<number, number>> = [];
      for (let i = 0; i < 12; i++) {
        const f = await startFakePeer(`keyed${i}.example`, [carol]);
        fakes.push(f);
        const c: Record<number, number> = {};
        for (let j = 0; j < BURST; j++) {
          const a = await f.send("carol.example", { method: "GET", path: "/federation/v1/ping" });
          c[a.status] = (c[a.status] ?? 0) + 1;
        }
        counts.push(c);
      }
      // 12 keys × 20 requests from 127.0.0.1: the first 8 keys get their burst, the next 4 find the address empty.
      expect(counts.slice(0, 8)).toEqual(Array(8).fill({ 200: BURST }));
      expect(counts.slice(8)).toEqual(Array(4).fill({ 429: BURST }));
    } finally {
      await carol.close();
      removeDir(dir2);
    }
  });
});
