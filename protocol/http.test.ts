// Tests of a protocol primitive (HTTP edge of every component): body reading and parsing, and the error body
// (spec §3.1 JCS-01..04, §5.6 checks 2 and 9, §13).
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SmcpError } from "./errors.ts";
import { parseJsonBody, readBody, sendError } from "./http.ts";

function fakeRequest(contentType: string | undefined): IncomingMessage {
  return { headers: contentType === undefined ? {} : { "content-type": contentType } } as unknown as IncomingMessage;
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof SmcpError ? err.errcode : "not an SmcpError";
  }
}

describe("parseJsonBody (spec §5.6 check 9, §3.1)", () => {
  it("SIGN-34: a body that is not application/json is 415 SMCP_UNSUPPORTED_MEDIA_TYPE; parameters and case are ignored", () => {
    expect(codeOf(() => parseJsonBody(fakeRequest("text/plain"), Buffer.from("{}")))).toBe("SMCP_UNSUPPORTED_MEDIA_TYPE");
    expect(codeOf(() => parseJsonBody(fakeRequest(undefined), Buffer.from("{}")))).toBe("SMCP_UNSUPPORTED_MEDIA_TYPE");
    expect(parseJsonBody(fakeRequest("Application/JSON; charset=utf-8"), Buffer.from('{"a":1}'))).toEqual({ a: 1 });
  });

  it("JCS-01: malformed JSON and non-object bodies are 400 SMCP_BAD_JSON", () => {
    for (const text of ["{", "", "[]", "null", "1", '"x"']) expect(codeOf(() => parseJsonBody(fakeRequest("application/json"), Buffer.from(text))), text).toBe("SMCP_BAD_JSON");
  });

  it("JCS-02..04: duplicate names, unsafe integer literals and lone surrogates are 400 SMCP_BAD_JSON", () => {
    for (const text of ['{"a":1,"a":2}', '{"n":9007199254740992}', '{"s":"\\ud800"}']) {
      expect(codeOf(() => parseJsonBody(fakeRequest("application/json"), Buffer.from(text))), text).toBe("SMCP_BAD_JSON");
    }
  });
});

describe("readBody and sendError over a real socket (spec §5.6 check 2, §13)", () => {
  let server: ReturnType<typeof createServer>;
  let port = 0;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      readBody(req, 16).then(
        (body) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(body);
        },
        (err: unknown) => sendError(res, err),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function post(body: Buffer, chunked: boolean): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(body.length) };
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/", headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  it("SIGN-30: a body within the limit is returned byte for byte", async () => {
    const answer = await post(Buffer.from('{"a":"é"}'), false);
    expect(answer).toMatchObject({ status: 200, body: '{"a":"é"}' });
  });

  it("SIGN-30: a declared Content-Length over the limit is 413 SMCP_TOO_LARGE with the spec error body", async () => {
    const answer = await post(Buffer.alloc(17, 0x61), false);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ errcode: "SMCP_TOO_LARGE" });
  });

  it("SIGN-30: a chunked body that grows over the limit is 413 SMCP_TOO_LARGE", async () => {
    const answer = await post(Buffer.alloc(64, 0x61), true);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ errcode: "SMCP_TOO_LARGE" });
  });
});

describe("sendError (spec §13)", () => {
  it("ERR: a non-SmcpError becomes 500 SMCP_INTERNAL without leaking its message; Retry-After is rounded-up seconds", () => {
    const written: { status?: number; headers?: Record<string, string>; body?: string } = {};
    const res = {
      headersSent: false,
      writeHead(status: number, headers: Record<string, string>) {
        written.status = status;
        written.headers = headers;
      },
      end(body: string) {
        written.body = body;
      },
    } as unknown as ServerResponse;
    expect(sendError(res, new Error("secret path /etc/x")).errcode).toBe("SMCP_INTERNAL");
    expect(written.status).toBe(500);
    expect(written.body).not.toContain("secret");
    sendError(res, new SmcpError("SMCP_RATE_LIMITED", "slow down", { retryAfterMs: 1001 }));
    expect(written.status).toBe(429);
    expect(written.headers?.["retry-after"]).toBe("2");
    expect(JSON.parse(written.body!)).toEqual({ errcode: "SMCP_RATE_LIMITED", error: "slow down", retry_after_ms: 1001 });
  });
});
