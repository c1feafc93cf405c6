// Conformance harness, fake peer: last-byte sync (spec §8.4 TXN-20, §10.3 CALL-11) — every copy whole, each on its
// own connection. That the copies overlap at an instance is shown by the mutants it kills (call/concurrent-repeat-*).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendOverlapping } from "./last-byte-sync.ts";

const servers: Array<{ close(): void }> = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

/** A server that answers each request the moment its body ends, with the number of bytes it received. */
async function recordingServer(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    let n = 0;
    req.on("data", (chunk: Buffer) => (n += chunk.length));
    req.on("end", () => res.end(JSON.stringify({ received: n })));
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, connections: () => connections };
}

describe("sendOverlapping (last-byte sync)", () => {
  it("sends each copy whole on its own connection and returns every answer", async () => {
    const server = await recordingServer();
    const body = Buffer.from(JSON.stringify({ payload: "x".repeat(5_000) }));
    const copy = { url: server.url, method: "PUT", headers: { "content-type": "application/json" }, body };
    const answers = await sendOverlapping([copy, copy, copy], { timeoutMs: 5_000 });
    expect(answers.map((a) => [a.status, a.body])).toEqual([[200, { received: body.length }], [200, { received: body.length }], [200, { received: body.length }]]);
    expect(server.connections()).toBe(3);
  });

  it("refuses a body too short to hold anything back", async () => {
    await expect(sendOverlapping([{ url: "http://127.0.0.1:9/", method: "PUT", headers: {}, body: Buffer.from("x") }], { timeoutMs: 100 })).rejects.toThrow(/at least two bytes/);
  });

  it("an unreachable target fails every copy, none hangs", async () => {
    const server = await recordingServer();
    servers.pop()!.close();
    const copy = { url: server.url, method: "PUT", headers: {}, body: Buffer.from("{}") };
    await expect(sendOverlapping([copy, copy], { timeoutMs: 2_000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});
