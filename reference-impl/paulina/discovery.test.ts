// Tests of Paulina (registry): discovery validation, the host map, caching with back-off, and key lookup (spec §6).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { DEFAULT_LIMITS } from "../../protocol/limits.ts";
import { createDispatcher } from "../../protocol/http-client.ts";
import { formatPublicKey, generateSeed, signingKeyFromSeed } from "../../protocol/keys.ts";
import { parseAuthHeader, signRequest, verifyRequestSignature } from "../../protocol/signing.ts";
import type { ServerDiscovery } from "../../protocol/types.ts";
import { openDatabase, Store } from "../storage/db.ts";
import { Discovery } from "./discovery.ts";

const key = signingKeyFromSeed(generateSeed());
const logger = pino({ level: "silent" });

describe("discovery", () => {
  let server: Server;
  let base = "";
  let hits = 0;
  let respond: (req: IncomingMessage, res: ServerResponse) => void;
  const dispatcher = createDispatcher();
  let clock = 1_000_000;

  function doc(overrides: Partial<ServerDiscovery> = {}): ServerDiscovery {
    return {
      server_name: "bob.example", endpoint: base, version: "1.0", versions: ["1.0"], components: ["naomi"], key_id: key.keyId,
      public_key: formatPublicKey(key.publicKey),
      limits: DEFAULT_LIMITS,
      ...overrides,
    };
  }

  function serve(body: unknown, headers: Record<string, string> = {}): void {
    respond = (_req, res) => res.writeHead(200, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
  }

  function paulina(random: () => number = () => 0): Discovery {
    return new Discovery({ self: "alice.example", store: new Store(openDatabase(":memory:")), dispatcher, logger, hosts: { "bob.example": base }, now: () => clock, random });
  }

  async function refusal(d: Discovery): Promise<string> {
    try {
      await d.discover("bob.example", true);
    } catch (err) {
      expect((err as SmcpError).errcode).toBe("SMCP_PEER_UNREACHABLE");
      return (err as Error).message;
    }
    throw new Error("discovery unexpectedly succeeded");
  }

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      respond(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await dispatcher.close();
  });

  it("DISC-21, DISC-16: fetches <base>/.well-known/smcp/server through the host map and caches it (spec §6.4, §6.3)", async () => {
    serve(doc(), { "cache-control": "max-age=60" });
    const d = paulina();
    hits = 0;
    const peer = await d.discover("bob.example");
    expect(peer).toMatchObject({ serverName: "bob.example", endpoint: base, keyId: key.keyId });
    await d.discover("bob.example");
    expect(hits).toBe(1);
    clock += 61_000; // max-age honoured
    await d.discover("bob.example");
    expect(hits).toBe(2);
    expect(await d.lookupKey("bob.example", key.keyId)).not.toBeNull();
    expect(await d.lookupKey("bob.example", "ed25519:other")).toBeNull();
  });

  it("DISC-19: a rotated key replaces the cached key object; the old key_id is no longer served to request authentication (spec §5.6 step 4)", async () => {
    const rotated = signingKeyFromSeed(generateSeed());
    serve(doc(), { "cache-control": "max-age=3600" });
    const d = paulina();
    const before = await d.lookupKey("bob.example", key.keyId);
    expect(before?.keyId).toBe(key.keyId);
    clock += 6_000; // past the key-refresh interval
    serve(doc({ key_id: rotated.keyId, public_key: formatPublicKey(rotated.publicKey) }), { "cache-control": "max-age=3600" });
    const after = await d.lookupKey("bob.example", rotated.keyId);
    expect(after?.keyId).toBe(rotated.keyId);
    const parts = { method: "GET", uri: "/federation/v1/ping", body: Buffer.alloc(0) };
    const signedByOld = parseAuthHeader(signRequest(key, { ...parts, origin: "bob.example", destination: "alice.example" }))!;
    const signedByNew = parseAuthHeader(signRequest(rotated, { ...parts, origin: "bob.example", destination: "alice.example" }))!;
    expect(verifyRequestSignature(after!, signedByNew, parts)).toBe(true);
    expect(verifyRequestSignature(after!, signedByOld, parts)).toBe(false);
    // The old key_id is refused from now on: within the refresh interval without a fetch, and after it with one.
    expect(await d.lookupKey("bob.example", key.keyId)).toBeNull();
    clock += 6_000;
    expect(await d.lookupKey("bob.example", key.keyId)).toBeNull();
    expect((await d.lookupKey("bob.example", rotated.keyId))?.keyId).toBe(rotated.keyId);
  });

  it("DISC-07: the document's server_name must be the name asked for (spec §6.1)", async () => {
    serve(doc({ server_name: "carol.example" }));
    expect(await refusal(paulina())).toMatch(/names carol.example/);
  });

  it("DISC-14: http:// endpoints are refused unless loopback (spec §6.3)", async () => {
    serve(doc({ endpoint: "http://bob.example:8080" }));
    expect(await refusal(paulina())).toMatch(/https/);
    const d = paulina();
    expect(() => d.putHost("bob.example", "http://10.0.0.1:80")).toThrow(/https/);
  });

  it("KEY-07, DISC-07: a key_id not derived from the public key, or an invalid document, is refused (spec §4.2, §6.1)", async () => {
    serve(doc({ key_id: "ed25519:AAAAAAAA" }));
    expect(await refusal(paulina())).toMatch(/key_id/);
    serve({ server_name: "bob.example" });
    expect(await refusal(paulina())).toMatch(/invalid discovery document/);
  });

  it("DISC-17: errors are cached with exponential back-off from 1 s (spec §6.3)", async () => {
    respond = (_req, res) => res.writeHead(500).end();
    const d = paulina();
    hits = 0;
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    expect(hits).toBe(1); // the cached error answered the second time
    clock += 1_001;
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    expect(hits).toBe(2);
    clock += 1_001; // back-off doubled to 2 s
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    expect(hits).toBe(2);
    serve(doc());
    clock += 1_000;
    await expect(d.discover("bob.example")).resolves.toMatchObject({ keyId: key.keyId });
  });

  it("DISC-17: jitter lengthens a cached failure by up to 20 %, never shortens it, and retry_after_ms says so (spec §6.3)", async () => {
    respond = (_req, res) => res.writeHead(500).end();
    const d = paulina(() => 0.5);
    hits = 0;
    const first = (await d.discover("bob.example").catch((e: unknown) => e)) as SmcpError;
    expect(first.extra.retryAfterMs).toBe(1_100);
    clock += 1_099;
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    expect(hits).toBe(1);
    clock += 1;
    await expect(d.discover("bob.example")).rejects.toThrow(SmcpError);
    expect(hits).toBe(2);
  });

  it("DISC-15: follows a redirect, refuses loops (spec §6.3)", async () => {
    respond = (req, res) => {
      if (req.url === "/.well-known/smcp/server") res.writeHead(302, { location: "/moved" }).end();
      else if (req.url === "/moved") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc()));
    };
    await expect(paulina().discover("bob.example")).resolves.toMatchObject({ serverName: "bob.example" });
    respond = (_req, res) => res.writeHead(302, { location: "/.well-known/smcp/server" }).end();
    expect(await refusal(paulina())).toMatch(/redirect/);
  });

  it("DISC-15: follows a chain of exactly 5 redirects, and refuses a 6th (spec §6.3)", async () => {
    const chain = (redirects: number) => (req: IncomingMessage, res: ServerResponse) => {
      const hop = req.url === "/.well-known/smcp/server" ? 0 : Number(req.url!.slice("/hop/".length));
      if (hop < redirects) res.writeHead(302, { location: `/hop/${hop + 1}` }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc()));
    };
    respond = chain(5);
    await expect(paulina().discover("bob.example")).resolves.toMatchObject({ serverName: "bob.example" });
    respond = chain(6);
    expect(await refusal(paulina())).toMatch(/redirect/);
  });
});
