// Security test of the HTTP edge (spec §5.7 RATE-11, RATE-12, issue 10 finding 7): one client address holds at most
// its share of connections, and headers or a body trickled byte by byte are cut off at their deadline.
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Instance } from "../reference-impl/instance.ts";
import { EDGE_DEFAULTS } from "../reference-impl/http/server.ts";
import { start } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";
import { until } from "./support/until.ts";

let alice: Instance;
const dir = tempDir("slow");
const serverSockets: Socket[] = [];

beforeAll(async () => {
  // Short deadlines so that the test does not wait 30 s; the defaults are asserted separately.
  alice = await start("alice.example", dir, { edge: { headersTimeoutMs: 400, requestTimeoutMs: 800 } });
  alice.http.server.on("connection", (s: Socket) => serverSockets.push(s));
});
afterAll(async () => {
  await alice.close();
  removeDir(dir);
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(Number(new URL(alice.url).port), "127.0.0.1", () => resolve(s));
    s.on("error", () => undefined);
    s.once("error", reject);
  });
}

function closed(s: Socket): Promise<string> {
  let got = "";
  s.on("data", (d) => (got += d.toString("latin1")));
  return new Promise((resolve) => (s.destroyed ? resolve(got) : s.once("close", () => resolve(got))));
}

describe("slow clients (RATE-11, RATE-12)", () => {
  it("defaults: 128 connections per address, 10 s for headers, 30 s for a request", () => {
    expect(EDGE_DEFAULTS).toEqual({ maxConnectionsPerAddress: 128, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
  });

  it("RATE-11: of 300 connections from one address, 128 are held and 172 closed at once; others still get served", async () => {
    const before = alice.http.refusedConnections;
    const sockets = await Promise.all(Array.from({ length: 300 }, () => open()));
    await until("refusals counted", () => alice.http.refusedConnections - before === 172 || undefined, 5000);
    await until("refused sockets closed", () => sockets.filter((s) => s.destroyed || s.readableEnded).length === 172 || undefined, 5000);
    expect(alice.http.refusedConnections - before).toBe(172);
    for (const s of sockets) s.destroy();
    await until("connections released", async () => {
      const r = await fetch(`${alice.url}/.well-known/smcp/server`).catch(() => undefined);
      return r?.status === 200 || undefined;
    });
  });

  it("RATE-12: a body trickled one byte at a time is cut off at the request deadline with 408, a few bytes read", async () => {
    serverSockets.length = 0;
    const s = await open();
    s.write("PUT /federation/v1/send/t HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n");
    const timer = setInterval(() => s.writable && s.write("a"), 50);
    const answer = await closed(s);
    clearInterval(timer);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    const read = serverSockets.reduce((n, x) => n + x.bytesRead, 0);
    expect(read).toBeLessThan(1000);
  });

  it("RATE-12: headers trickled one byte at a time are cut off at the header deadline", async () => {
    const s = await open();
    const started = performance.now();
    const timer = setInterval(() => s.writable && s.write("x"), 50);
    s.write("GET /federation/v1/ping HTTP/1.1\r\nx-slow: ");
    const answer = await closed(s);
    clearInterval(timer);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // Bounded by the deadline plus Node's check interval (a quarter of it), not by the client.
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
