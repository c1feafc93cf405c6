// Security test of Paulina and the HTTP edge (spec §5.7 RATE-13, §6.2 DISC-12, DISC-31, §6.3 DISC-30, §11.1 REG-02, REG-10; issue
// 10 finding 2): requests with random signatures naming attacker-chosen origins make a bounded number of outbound
// fetches, never reach loopback or private addresses for names the operator did not map, record no peer, and a
// hostile discovery answer is cut off at 64 KiB and at the deadline.
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakePeer } from "../conformance/fake-peer.ts";
import type { Instance } from "../reference-impl/instance.ts";
import type { InstanceConfig } from "../reference-impl/config.ts";
import { UNAUTHENTICATED_BUDGET } from "../reference-impl/http/rate-limit.ts";
import { MAX_CANDIDATES } from "../reference-impl/paulina/discovery.ts";
import { control, start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An "internal service" on loopback that counts every TCP connection it gets. */
let internalPort = 0;
let internalConnections = 0;
/** Every hostname the instances asked DNS for; the resolver answers 127.0.0.1, as an attacker's DNS would. */
const lookups: string[] = [];

beforeAll(async () => {
  const tcp = createTcpServer((s) => {
    internalConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  internalPort = (tcp.address() as AddressInfo).port;
  cleanups.push(() => new Promise<void>((r) => tcp.close(() => r())));
});

const frozen = Date.now();

async function instance(label: string, extra: Partial<InstanceConfig> = {}): Promise<{ alice: Instance; fake: FakePeer }> {
  const dir = tempDir(label);
  const alice = await start("alice.example", dir, {
    now: () => frozen, // no budget refill while the test runs: counts are exact
    discovery: { resolve: async (h) => (lookups.push(h), ["127.0.0.1"]) },
    ...extra,
  });
  const fake = await startFakePeer("attacker.example", [alice]);
  cleanups.push(() => removeDir(dir), () => alice.close(), () => fake.close());
  return { alice, fake };
}

async function burst(fake: FakePeer, origins: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const origin of origins) {
    const a = await fake.send("alice.example", { method: "GET", path: "/federation/v1/ping", sign: { origin, ts: frozen, sig: "A".repeat(86) } });
    const code = `${a.status} ${(a.body as { errcode?: string }).errcode}`;
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

describe("unauthenticated requests naming new origins (RATE-13, DISC-30, REG-02)", () => {
  it("300 origins whose DNS points at an internal port: 32 lookups, 0 connections, 0 peers, 268 refused with 429", async () => {
    const { alice, fake } = await instance("scan-dns");
    lookups.length = 0;
    const before = internalConnections;
    const origins = Array.from({ length: 300 }, (_, i) => `scan${i}.example:${internalPort}`);
    expect(await burst(fake, origins)).toEqual({ "401 SMCP_UNKNOWN_KEY": UNAUTHENTICATED_BUDGET.burst, "429 SMCP_RATE_LIMITED": 300 - UNAUTHENTICATED_BUDGET.burst });
    expect(alice.discovery.fetches).toBe(32);
    expect(lookups.filter((h) => h.startsWith("scan"))).toHaveLength(32);
    expect(internalConnections - before).toBe(0);
    expect(alice.discovery.known()).toEqual([]);
    expect(alice.store.peers()).toEqual([]);
    // The same origins again: cached failures, no new fetch and no new charge.
    expect(await burst(fake, origins.slice(0, 32))).toEqual({ "401 SMCP_UNKNOWN_KEY": 32 });
    expect(alice.discovery.fetches).toBe(32);
  });

  it("origins that are loopback IP literals (127.0.0.1:port): no fetch, no connection at all", async () => {
    const { alice, fake } = await instance("scan-literal");
    const before = internalConnections;
    const origins = [`127.0.0.1:${internalPort}`, ...Array.from({ length: 49 }, (_, i) => `127.0.0.${i + 2}:${internalPort}`)];
    expect(await burst(fake, origins)).toEqual({ "401 SMCP_UNKNOWN_KEY": 32, "429 SMCP_RATE_LIMITED": 18 });
    expect(alice.discovery.fetches).toBe(0);
    expect(internalConnections - before).toBe(0);
  });

  it("a mapped origin (test deployment) is exempt from the budget, fetched once, and recorded only once a request verified", async () => {
    const { alice, fake } = await instance("verify-first");
    const counts = await burst(fake, Array(40).fill("attacker.example"));
    expect(counts).toEqual({ "401 SMCP_BAD_SIGNATURE": 40 });
    expect(alice.discovery.fetches).toBe(1);
    expect(alice.discovery.known()).toEqual([]);
    expect(alice.store.peers()).toEqual([]);
    const ok = await fake.send("alice.example", { method: "GET", path: "/federation/v1/ping", sign: { ts: frozen } });
    expect(ok.status).toBe(200);
    expect(alice.discovery.known().map((p) => p.serverName)).toEqual(["attacker.example"]);
    expect(alice.store.peers().map((p) => p.server_name)).toEqual(["attacker.example"]);
  });

  it("REG-10: at most maxPeers are tracked; the least recently verified is dropped from memory and store", async () => {
    const { alice } = await instance("max-peers", { discovery: { maxPeers: 5, resolve: async () => ["127.0.0.1"] } });
    const fakes: FakePeer[] = [];
    const ping = async (f: FakePeer) =>
      expect((await f.send("alice.example", { method: "GET", path: "/federation/v1/ping", sign: { ts: frozen } })).status).toBe(200);
    for (let i = 0; i < 8; i++) {
      const f = await startFakePeer(`p${i}.example`, [alice]);
      cleanups.push(() => f.close());
      fakes.push(f);
      await ping(f);
    }
    const names = () => alice.discovery.known().map((p) => p.serverName);
    const rows = () => alice.store.peers().map((p) => p.server_name);
    expect(names()).toEqual(["p3.example", "p4.example", "p5.example", "p6.example", "p7.example"]);
    expect(rows()).toEqual(names());
    // p0 verifies again: recorded anew, and p3 (least recently verified) makes room.
    await ping(fakes[0]!);
    expect(names()).toEqual(["p0.example", "p4.example", "p5.example", "p6.example", "p7.example"]);
    expect(rows()).toEqual(names());
  });

  it("a flood of 4,500 distinct names keeps every per-name structure bounded", async () => {
    const { alice, fake } = await instance("flood", { unauthenticatedBudget: { perSecond: 1, burst: 1_000_000 } });
    // Private IP literals: each is a cached failure, refused before any connection (so the flood stays fast).
    const origins = Array.from({ length: 4_500 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const counts = await burst(fake, origins);
    expect(counts).toEqual({ "401 SMCP_UNKNOWN_KEY": 4_500 });
    const sizes = alice.discovery.sizes();
    expect(sizes.failures).toBe(4096);
    expect(sizes.candidates).toBeLessThanOrEqual(MAX_CANDIDATES);
    expect(sizes.peers).toBe(0);
    expect(sizes.inflight).toBe(0);
    expect(sizes.keyRefreshes).toBe(0);
  }, 60_000);
});

describe("hostile discovery answers (DISC-12)", () => {
  let hostile: Server;
  let written = 0;
  let mode: "huge" | "trickle" = "huge";

  beforeAll(async () => {
    hostile = createServer((req, res) => {
      if (mode === "huge") {
        res.writeHead(200, { "content-type": "application/json" }); // chunked: no length announced
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (written < 800 * 1024 * 1024 && !res.destroyed) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        res.on("close", () => undefined);
        pump();
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(" ")), 50);
        res.on("close", () => clearInterval(t));
      }
    });
    await new Promise<void>((r) => hostile.listen(0, "127.0.0.1", r));
    cleanups.push(() => {
      hostile.closeAllConnections();
      return new Promise<void>((r) => hostile.close(() => r()));
    });
  });

  it("an 800 MB answer is cut off while reading: the fetch fails at 64 KiB, the server got to write at most a few MiB", async () => {
    const { alice } = await instance("huge", {});
    const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    expect((await control(alice, "PUT", "/control/v1/hosts/huge.example", { base_url: url })).status).toBe(204);
    mode = "huge";
    written = 0;
    await expect(alice.discovery.discover("huge.example")).rejects.toThrow(/over 65536 bytes/);
    console.log(`800 MiB offered: the hostile server wrote ${written} bytes before the fetch stopped`);
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it("an answer trickled one byte per 50 ms is abandoned at the total deadline", async () => {
    const { alice } = await instance("trickle", { discovery: { deadlineMs: 500, resolve: async () => ["127.0.0.1"] } });
    const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    expect((await control(alice, "PUT", "/control/v1/hosts/slow.example", { base_url: url })).status).toBe(204);
    mode = "trickle";
    const started = performance.now();
    await expect(alice.discovery.discover("slow.example")).rejects.toThrow(/within 500 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
