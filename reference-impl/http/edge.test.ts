// Tests of the reference instance's HTTP edge (all federation and control endpoints): authentication order,
// body limits, validation and the exact spec error bodies (spec §5.6, §5.7, §12, §13).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSeed, signingKeyFromSeed } from "../../protocol/keys.ts";
import { validate } from "../../protocol/schemas.ts";
import type { Transaction, TransactionResult } from "../../protocol/types.ts";
import type { Instance } from "../instance.ts";
import { FakePeer } from "../../conformance/fake-peer.ts";
import { control, dispatcher, enc, start } from "../../tests/support/instances.ts";
import { removeDir, tempDir } from "../../tests/support/temp-dir.ts";
import { sendRaw } from "../../protocol/http-client.ts";

describe("federation edge", () => {
  let alice: Instance;
  let mallory: FakePeer;
  let dir: string;
  const target = "alice.example";
  const channel = "!edge:alice.example";

  beforeAll(async () => {
    dir = tempDir("alice");
    mallory = await FakePeer.start("mallory.example");
    alice = await start("alice.example", dir, { peers: { "mallory.example": mallory.url }, limits: { maxBodyBytes: 65536 } });
    await mallory.discover(target, alice.url);
    await control(alice, "POST", "/control/v1/channels", { name: "edge" });
  });

  afterAll(async () => {
    await alice.close();
    await mallory.close();
    removeDir(dir);
  });

  function expectError(answer: { status: number; body: unknown }, status: number, errcode: string): void {
    expect({ status: answer.status, errcode: (answer.body as { errcode?: string }).errcode }).toEqual({ status, errcode });
    expect(validate("Error", answer.body)).toEqual([]);
  }

  const txn = (extra: Partial<Transaction> = {}): Transaction => ({ origin: "mallory.example", origin_ts: Date.now(), ...extra });

  it("SIGN: a signed ping from a discovered peer is answered (spec §5.6)", async () => {
    const r = await mallory.send(target, { method: "GET", path: "/federation/v1/ping" });
    expect(r.status).toBe(200);
    expect(validate("Ping", r.body)).toEqual([]);
  });

  it("SIGN: refuses an unsigned request with SMCP_UNAUTHORIZED (spec §5.6 step 1)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", auth: "none" }), 401, "SMCP_UNAUTHORIZED");
  });

  it("SIGN: refuses a header off the grammar with SMCP_UNAUTHORIZED (spec §5.2)", async () => {
    const r = await mallory.send(target, { method: "GET", path: "/federation/v1/ping", headers: { "x-smcp-authorization": "SMCP-Ed25519 origin=\"x\"" } });
    expectError(r, 401, "SMCP_UNAUTHORIZED");
  });

  it("SIGN: refuses another destination with SMCP_WRONG_DESTINATION (spec §5.6 step 2)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { destination: "bob.example" } }), 401, "SMCP_WRONG_DESTINATION");
  });

  it("SIGN: refuses a stale ts with SMCP_BAD_TIMESTAMP (spec §5.6 step 3)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { ts: Date.now() - 120_000 } }), 401, "SMCP_BAD_TIMESTAMP");
  });

  it("SIGN: refuses an undiscoverable origin with SMCP_UNKNOWN_KEY (spec §5.6 step 4)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { origin: "nobody.invalid" } }), 401, "SMCP_UNKNOWN_KEY");
  });

  it("SIGN: refuses a signature by another key with SMCP_BAD_SIGNATURE (spec §5.6 step 5)", async () => {
    const other = signingKeyFromSeed(generateSeed());
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { key: { ...other, keyId: mallory.keyId } } }), 401, "SMCP_BAD_SIGNATURE");
  });

  it("SIGN: refuses a replayed nonce with SMCP_REPLAY (spec §5.6 step 6)", async () => {
    const nonce = "AAAAAAAAAAAAAAAAAAAAAA";
    const ts = Date.now();
    expect((await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { nonce, ts } })).status).toBe(200);
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { nonce, ts } }), 401, "SMCP_REPLAY");
  });

  it("SIGN: refuses a body origin other than the signer with SMCP_ORIGIN_MISMATCH (spec §5.6 step 7)", async () => {
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-origin", body: { ...txn(), origin: "bob.example" } });
    expectError(r, 403, "SMCP_ORIGIN_MISMATCH");
  });

  it("LIMITS: refuses a body over max_body_bytes with SMCP_TOO_LARGE (spec §5.6)", async () => {
    const big = txn({ submissions: [{ submission_id: "s", channel, type: "x:y", sender: "mallory.example", origin_ts: 1, data: { pad: "x".repeat(70_000) } as unknown as Record<string, never> }] });
    expectError(await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-big", body: big }), 413, "SMCP_TOO_LARGE");
  });

  it("JSON: refuses malformed JSON with SMCP_BAD_JSON and a wrong Content-Type with 415 (spec §13)", async () => {
    expectError(await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-bad", rawBody: Buffer.from("{not json") }), 400, "SMCP_BAD_JSON");
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-type", body: txn(), headers: { "content-type": "text/plain" } });
    expectError(r, 415, "SMCP_UNSUPPORTED_MEDIA_TYPE");
  });

  it("SCHEMA: refuses an invalid body with SMCP_INVALID and details (spec §13)", async () => {
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-invalid", body: { origin: "mallory.example" } });
    expectError(r, 400, "SMCP_INVALID");
    expect((r.body as { details: unknown[] }).details.length).toBeGreaterThan(0);
    const badParam = await mallory.send(target, { method: "GET", path: `/federation/v1/channels/${enc(channel)}/events?after=-1` });
    expectError(badParam, 400, "SMCP_INVALID");
  });

  it("TXN-10: a submission for a channel hubbed elsewhere is SMCP_NOT_HUB, an unknown own channel SMCP_UNKNOWN_CHANNEL (spec §8.3)", async () => {
    const sub = (c: string, id: string) => ({ submission_id: id, channel: c, type: "chat:message", sender: "mallory.example", origin_ts: 1, data: {} });
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-hubs", body: txn({ submissions: [sub("!x:bob.example", "a"), sub("!nope:alice.example", "b")] }) });
    expect((r.body as TransactionResult).rejected.map((x) => x.errcode)).toEqual(["SMCP_NOT_HUB", "SMCP_UNKNOWN_CHANNEL"]);
    expectError(await mallory.send(target, { method: "GET", path: `/federation/v1/channels/${enc("!x:bob.example")}/events?after=0` }), 403, "SMCP_NOT_HUB");
    expectError(await mallory.send(target, { method: "GET", path: `/federation/v1/channels/${enc("!nope:alice.example")}/events?after=0` }), 404, "SMCP_UNKNOWN_CHANNEL");
  });

  it("NAOMI: a non-member's submission is rejected per item with SMCP_NOT_MEMBER (spec §9)", async () => {
    const body = txn({ submissions: [{ submission_id: "s1", channel, type: "chat:message", sender: "mallory.example", origin_ts: Date.now(), data: {} }] });
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-member", body });
    expect(r.status).toBe(200);
    const result = r.body as TransactionResult;
    expect(result.rejected).toEqual([expect.objectContaining({ id: "s1", errcode: "SMCP_NOT_MEMBER" })]);
    const backfill = await mallory.send(target, { method: "GET", path: `/federation/v1/channels/${enc(channel)}/events?after=0` });
    expectError(backfill, 403, "SMCP_NOT_MEMBER");
  });

  it("TXN: a repeated txn_id with the same bytes returns the stored result; other bytes get SMCP_CONFLICT (spec §8)", async () => {
    const body = Buffer.from(JSON.stringify(txn({ submissions: [{ submission_id: "s2", channel, type: "chat:message", sender: "mallory.example", origin_ts: 1, data: {} }] })));
    const first = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-idem", rawBody: body });
    const second = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-idem", rawBody: body });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expectError(await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-idem", body: txn() }), 409, "SMCP_CONFLICT");
  });

  it("NAOMI: events from a server that is not the channel's hub are rejected with SMCP_NOT_HUB (spec §7.5)", async () => {
    const events = (await control(alice, "GET", `/control/v1/channels/${enc(channel)}/events`)).body as { events: Transaction["events"] };
    const r = await mallory.send(target, { method: "PUT", path: "/federation/v1/send/t-hub", body: txn({ events: events.events }) });
    expect((r.body as TransactionResult).rejected[0]!.errcode).toBe("SMCP_NOT_HUB");
  });

  it("SIGN-28: a path segment with broken percent-encoding fails check 12 (400 SMCP_INVALID), after authentication (spec §5.6)", async () => {
    const path = "/federation/v1/channels/%E0%A4%A/events?after=0";
    expectError(await mallory.send(target, { method: "GET", path, auth: "none" }), 401, "SMCP_UNAUTHORIZED");
    expectError(await mallory.send(target, { method: "GET", path }), 400, "SMCP_INVALID");
  });

  it("SIGN-22: a content coding is refused with 415 also on an endpoint that takes no body (spec §5.4, §5.6 check 9)", async () => {
    const r = await mallory.send(target, { method: "GET", path: "/federation/v1/ping", headers: { "content-encoding": "gzip" } });
    expectError(r, 415, "SMCP_UNSUPPORTED_MEDIA_TYPE");
  });

  it("SIGN-43: a request signed in the receiver's own name is 401 SMCP_UNKNOWN_KEY (spec §5.6 check 6)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/ping", sign: { origin: target } }), 401, "SMCP_UNKNOWN_KEY");
  });

  it("CTRL-31: discovering the instance's own server name is 400 SMCP_INVALID (spec §12.2)", async () => {
    expectError(await control(alice, "POST", "/control/v1/peers", { server_name: target }), 400, "SMCP_INVALID");
  });

  it("CTRL-32: inviting a current member answers accepted without an invite; CTRL-34: data without canonical form is 400 (spec §12.3)", async () => {
    await control(alice, "POST", "/control/v1/channels", { name: "members" });
    const ch = enc("!members:alice.example");
    const first = await control(alice, "POST", `/control/v1/channels/${ch}/invites`, { server: "mallory.example" });
    expect(first.body).toMatchObject({ accepted: true });
    const before = (await control(alice, "GET", `/control/v1/channels/${ch}`)).body as { local_seq: number };
    mallory.invitedTo.clear();
    const again = await control(alice, "POST", `/control/v1/channels/${ch}/invites`, { server: "mallory.example" });
    expect([again.status, again.body]).toEqual([200, { channel: "!members:alice.example", server: "mallory.example", accepted: true }]);
    expect(mallory.invitedTo.size).toBe(0);
    // 1e400 is not representable; 1e300 is a finite double but an integer beyond 2^53 - 1, which has no canonical form (JCS-08).
    const r = await sendRaw(dispatcher, alice.url + `/control/v1/channels/${ch}/events`, {
      method: "POST", headers: { authorization: `Bearer ${alice.controlToken}`, "content-type": "application/json" },
      body: Buffer.from('{"type":"chat:message","data":{"n":1e300}}'),
    });
    expectError(r, 400, "SMCP_INVALID");
    expect((r.body as { details?: { path: string }[] }).details?.[0]?.path).toBe("/data");
    expect(((await control(alice, "GET", `/control/v1/channels/${ch}`)).body as { local_seq: number }).local_seq).toBe(before.local_seq);
  });

  it("ROUTES: unknown path is 404 SMCP_NOT_FOUND, wrong method 405 SMCP_METHOD_NOT_ALLOWED (spec §13)", async () => {
    expectError(await mallory.send(target, { method: "GET", path: "/federation/v1/nothing" }), 404, "SMCP_NOT_FOUND");
    const wrong = await mallory.send(target, { method: "POST", path: "/federation/v1/ping", body: {} });
    expectError(wrong, 405, "SMCP_METHOD_NOT_ALLOWED");
    expect(wrong.headers.allow).toBe("GET");
  });

  it("CONTROL: a missing or wrong bearer token gets 401 SMCP_UNAUTHORIZED (spec §12)", async () => {
    expectError(await control(alice, "GET", "/control/v1/instance", undefined, "wrong"), 401, "SMCP_UNAUTHORIZED");
    const r = await sendRaw(dispatcher, alice.url + "/control/v1/channels", { method: "GET", headers: {} });
    expectError(r, 401, "SMCP_UNAUTHORIZED");
  });

  it("CTRL-14, CTRL-19: unknown channel is 404 SMCP_UNKNOWN_CHANNEL; reserved types are 400 SMCP_INVALID (spec §12.3)", async () => {
    expectError(await control(alice, "GET", `/control/v1/channels/${enc("!none:alice.example")}`), 404, "SMCP_UNKNOWN_CHANNEL");
    const r = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "smcp:member.join", data: {} });
    expectError(r, 400, "SMCP_INVALID");
    const big = await control(alice, "POST", `/control/v1/channels/${enc(channel)}/events`, { type: "chat:message", data: { pad: "x".repeat(66_000) } });
    expectError(big, 413, "SMCP_TOO_LARGE");
    expectError(await control(alice, "POST", `/control/v1/channels/${enc(channel)}/invites`, { server: "alice.example" }), 400, "SMCP_INVALID");
    expectError(await control(alice, "DELETE", `/control/v1/channels/${enc(channel)}/members/alice.example`), 400, "SMCP_INVALID");
    expectError(await control(alice, "DELETE", `/control/v1/channels/${enc(channel)}/members/zed.example`), 404, "SMCP_NOT_FOUND");
    expectError(await control(alice, "GET", `/control/v1/channels/${enc(channel)}/events?limit=0`), 400, "SMCP_INVALID");
  });
});

describe("rate limiting", () => {
  it("RATE: over the burst an origin gets 429 SMCP_RATE_LIMITED with retry_after_ms and Retry-After (spec §5.7)", async () => {
    const dir = tempDir("alice");
    const mallory = await FakePeer.start("mallory.example");
    const alice = await start("alice.example", dir, { peers: { "mallory.example": mallory.url }, rateLimit: { perSecond: 1, burst: 2 } });
    try {
      await mallory.discover("alice.example", alice.url);
      const target = "alice.example";
      const statuses: number[] = [];
      let limited: { status: number; body: unknown; headers: Record<string, unknown> } | undefined;
      for (let i = 0; i < 3; i++) {
        const r = await mallory.send(target, { method: "GET", path: "/federation/v1/ping" });
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect((limited!.body as { errcode: string }).errcode).toBe("SMCP_RATE_LIMITED");
      expect((limited!.body as { retry_after_ms: number }).retry_after_ms).toBeGreaterThan(0);
      expect(Number(limited!.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    } finally {
      await alice.close();
      await mallory.close();
      removeDir(dir);
    }
  });
});
