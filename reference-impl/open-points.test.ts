// Reference instance tests (spec 1.0.1 open points): SIGN-45 missing media type or body, SIGN-47 the range of
// `after`, ERR-10 issue paths of parameters, KEY-24 the key document's validity, TXN-41 events of a channel the
// receiver hubs, CTRL-37 a new participant's members — on a running instance.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransactionResult } from "../protocol/types.ts";
import { sendRaw } from "../protocol/http-client.ts";
import type { Instance } from "./instance.ts";
import { control, dispatcher, enc, start, startFakePeer } from "../tests/support/instances.ts";
import { removeDir, tempDir } from "../tests/support/temp-dir.ts";

describe("spec 1.0.1 open points on the reference instance", () => {
  const dir = tempDir("open-points");
  let alice: Instance;
  const channel = "!ops:alice.example";
  beforeAll(async () => {
    alice = await start("alice.example", dir);
    const r = await control(alice, "POST", "/control/v1/channels", { name: "ops" });
    expect(r.status).toBe(201);
  });
  afterAll(async () => {
    await alice?.close();
    removeDir(dir);
  });

  const raw = (path: string, headers: Record<string, string>, body?: string) =>
    sendRaw(dispatcher, alice.url + path, {
      method: "POST", headers: { authorization: `Bearer ${alice.controlToken}`, ...headers }, body: body === undefined ? undefined : Buffer.from(body), timeoutMs: 10_000,
    });

  it("SIGN-45: a body endpoint without Content-Type answers 415 with or without a body; JSON with an empty body 400 SMCP_BAD_JSON", async () => {
    const path = `/control/v1/channels/${enc(channel)}/events`;
    const none = await raw(path, {});
    expect([none.status, (none.body as { errcode: string }).errcode]).toEqual([415, "SMCP_UNSUPPORTED_MEDIA_TYPE"]);
    const untyped = await raw(path, {}, '{"type":"chat:message","data":{}}');
    expect([untyped.status, (untyped.body as { errcode: string }).errcode]).toEqual([415, "SMCP_UNSUPPORTED_MEDIA_TYPE"]);
    const empty = await raw(path, { "content-type": "application/json" }, "");
    expect([empty.status, (empty.body as { errcode: string }).errcode]).toEqual([400, "SMCP_BAD_JSON"]);
  });

  it("SIGN-47/ERR-10: `after` accepts 2^53−1 and refuses 2^53 with an issue at /after", async () => {
    const ok = await control(alice, "GET", `/control/v1/channels/${enc(channel)}/events?after=9007199254740991`);
    expect(ok.status).toBe(200);
    const over = await control(alice, "GET", `/control/v1/channels/${enc(channel)}/events?after=9007199254740992`);
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ errcode: "SMCP_INVALID", details: [{ path: "/after" }] });
  });

  it("KEY-24: each valid_until_ts is the key document's ts plus exactly 7 days", async () => {
    const r = await sendRaw(dispatcher, `${alice.url}/federation/v1/keys`, { method: "GET", headers: {}, timeoutMs: 10_000 });
    const doc = r.body as { ts: number; verify_keys: Array<{ valid_until_ts: number }> };
    expect(doc.verify_keys.map((k) => k.valid_until_ts - doc.ts)).toEqual([604_800_000]);
  });

  it("TXN-41: an event of a channel the receiver hubs itself, sent by another server, is rejected SMCP_NOT_HUB", async () => {
    const bob = await startFakePeer("bob.example", [alice]);
    try {
      // The fixture chain is alice's !ops:alice.example, the channel alice hubs here: a well-formed event of it.
      const event = JSON.parse(readFileSync(new URL("../fixtures/examples/Event/valid-application.json", import.meta.url), "utf8"));
      expect(event.channel).toBe(channel);
      const answer = await bob.send("alice.example", { method: "PUT", path: "/federation/v1/send/txn-41", body: { origin: "bob.example", origin_ts: Date.now(), events: [event] } });
      expect(answer.status).toBe(200);
      const result = answer.body as TransactionResult;
      expect(result.rejected?.map((r) => r.errcode)).toEqual(["SMCP_NOT_HUB"]);
    } finally {
      await bob.close();
    }
  });

  it("CHAN-11/CTRL-37: right after accepting an invite, a participant is joined with local_seq 0 and members []", async () => {
    const bob = await startFakePeer("bob.example", [alice]);
    try {
      const invite = { origin: "bob.example", channel: "!ops:bob.example", inviter: "bob.example", invitee: "alice.example", origin_ts: Date.now() };
      const answer = await bob.send("alice.example", { method: "POST", path: "/federation/v1/invite", body: invite });
      expect(answer.body).toMatchObject({ accepted: true });
      const info = await control(alice, "GET", `/control/v1/channels/${enc("!ops:bob.example")}`);
      expect(info.body).toMatchObject({ role: "participant", joined: true, local_seq: 0, members: [] });
    } finally {
      await bob.close();
    }
  });
});
