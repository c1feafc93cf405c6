// Tests that peers' answers get the same strict I-JSON parser as requests (spec §3.1 JCS-01..04).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDispatcher, parseAnswerBody, sendRaw } from "./http-client.ts";

const bytes = (s: string) => Buffer.from(s, "utf8");

describe("answers from peers", () => {
  let server: Server;
  let base: string;
  let answer = Buffer.alloc(0);
  const dispatcher = createDispatcher();

  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(answer));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await dispatcher.close();
    await new Promise((r) => server.close(r));
  });

  it("JCS-02: an answer with a duplicate member name has no body, and says why (spec §3.1)", async () => {
    answer = bytes('{"accepted":false,"accepted":true}');
    const a = await sendRaw(dispatcher, `${base}/x`, { method: "GET", headers: {} });
    expect(a.status).toBe(200);
    expect(a.body).toBeUndefined();
    expect(a.bodyError).toMatch(/duplicate member name/);
    expect(a.raw.toString("utf8")).toBe('{"accepted":false,"accepted":true}');
  });

  it("JCS-01, JCS-03, JCS-04: BOM, invalid UTF-8, unsafe integers and lone surrogates are refused like in requests (spec §3.1)", () => {
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes("{}")]), /byte order mark/],
      [Buffer.concat([bytes('{"a":"'), Buffer.from([0xff]), bytes('"}')]), /UTF-8/],
      [bytes('{"seq":9007199254740993}'), /integer literal/],
      [bytes('{"s":"\\ud800"}'), /surrogate/],
      [bytes("{"), /not JSON/],
    ];
    for (const [raw, why] of cases) {
      const parsed = parseAnswerBody(raw);
      expect(parsed.body, why.source).toBeUndefined();
      expect(parsed.bodyError, why.source).toMatch(why);
    }
  });

  it("a valid answer parses; an empty one has no body and no error", async () => {
    answer = bytes('{"seq":9007199254740991,"s":"\\ud83d\\ude00"}');
    const a = await sendRaw(dispatcher, `${base}/x`, { method: "GET", headers: {} });
    expect(a.body).toEqual({ seq: 9007199254740991, s: "😀" });
    expect(a.bodyError).toBeUndefined();
    expect(parseAnswerBody(Buffer.alloc(0))).toEqual({ body: undefined });
  });
});
