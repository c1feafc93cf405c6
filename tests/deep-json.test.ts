// Security test of the HTTP edge and Naomi (spec §3.1 JCS-18, issue 10 finding 6): over-deep JSON is refused with a
// spec error body before anything recursive sees it; the instance keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakePeer } from "../conformance/fake-peer.ts";
import type { Instance } from "../reference-impl/instance.ts";
import { start, startFakePeer } from "./support/instances.ts";
import { removeDir, tempDir } from "./support/temp-dir.ts";

let alice: Instance;
let fake: FakePeer;
const dir = tempDir("deep");

beforeAll(async () => {
  alice = await start("alice.example", dir);
  fake = await startFakePeer("rogue.example", [alice]);
});
afterAll(async () => {
  await fake.close();
  await alice.close();
  removeDir(dir);
});

describe("over-deep JSON (JCS-18)", () => {
  it("a signed 100,000-deep transaction body gets 400 SMCP_BAD_JSON, and the next request is served", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const rawBody = Buffer.from(`{"origin":"rogue.example","origin_ts":1,"events":[{"data":${deep}}]}`);
    const a = await fake.send("alice.example", { method: "PUT", path: "/federation/v1/send/deep-1", rawBody });
    expect(a.status).toBe(400);
    expect((a.body as { errcode: string; error: string }).errcode).toBe("SMCP_BAD_JSON");
    expect((a.body as { error: string }).error).toMatch(/deeper than 64 levels/);
    const ping = await fake.send("alice.example", { method: "GET", path: "/federation/v1/ping" });
    expect(ping.status).toBe(200);
  });

  it("65 levels are refused, 64 are parsed (and then judged by the schema)", async () => {
    const nest = (n: number) => `{"origin":"rogue.example","origin_ts":1,"events":[{"data":${"[".repeat(n - 3)}${"]".repeat(n - 3)}}]}`;
    const over = await fake.send("alice.example", { method: "PUT", path: "/federation/v1/send/deep-2", rawBody: Buffer.from(nest(65)) });
    expect((over.body as { errcode: string }).errcode).toBe("SMCP_BAD_JSON");
    const at = await fake.send("alice.example", { method: "PUT", path: "/federation/v1/send/deep-3", rawBody: Buffer.from(nest(64)) });
    expect((at.body as { errcode: string }).errcode).not.toBe("SMCP_BAD_JSON");
  });
});
