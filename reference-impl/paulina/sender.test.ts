// Tests of Paulina's signed-request sender (all components that talk to peers): the per-destination 429 gate (spec §5.7 RATE-07).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import { createDispatcher } from "../../protocol/http-client.ts";
import { formatPublicKey, generateSeed, signingKeyFromSeed } from "../../protocol/keys.ts";
import { openDatabase, Store } from "../storage/db.ts";
import { Discovery } from "./discovery.ts";
import { PaulinaSender } from "./sender.ts";

const peerKey = signingKeyFromSeed(generateSeed());

describe("PaulinaSender", () => {
  let server: Server;
  let base = "";
  /** Signed requests that reached the peer (discovery fetches not counted). */
  let hits = 0;
  const dispatcher = createDispatcher();
  let clock = 1_000_000;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/.well-known/smcp/server") {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
          server_name: "bob.example", endpoint: base, version: "1.0", versions: ["1.0"], components: ["vendela"],
          key_id: peerKey.keyId, public_key: formatPublicKey(peerKey.publicKey),
          limits: DEFAULT_LIMITS,
        }));
        return;
      }
      hits++;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "3" })
        .end(JSON.stringify({ errcode: "SMCP_RATE_LIMITED", error: "slow down", retry_after_ms: 2500 }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await dispatcher.close();
  });

  it("RATE-07: after a 429 no request of any kind goes to that destination before retry_after_ms has elapsed (spec §5.7)", async () => {
    const key = signingKeyFromSeed(generateSeed());
    const now = () => clock;
    const discovery = new Discovery({ self: "alice.example", store: new Store(openDatabase(":memory:")), dispatcher, logger: pino({ level: "silent" }), hosts: { "bob.example": base }, now });
    const sender = new PaulinaSender("alice.example", key, discovery, dispatcher, now);
    expect((await sender.request("bob.example", "PUT", "/federation/v1/send/t1", { origin: "alice.example", origin_ts: 1 })).status).toBe(429);
    expect(hits).toBe(1);
    expect(sender.heldFor("bob.example")).toBe(2500);
    clock += 2499;
    for (const [method, path] of [["GET", "/federation/v1/ping"], ["POST", "/federation/v1/call"]] as const) {
      const err = await sender.request("bob.example", method, path).then(() => undefined, (e: unknown) => e as SmcpError);
      expect([err?.errcode, err?.extra.retryAfterMs]).toEqual(["SMCP_PEER_UNREACHABLE", 1]);
    }
    expect(hits).toBe(1);
    clock += 1;
    expect((await sender.request("bob.example", "GET", "/federation/v1/ping")).status).toBe(429);
    expect(hits).toBe(2);
  });
});
