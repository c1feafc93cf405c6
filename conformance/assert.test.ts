// Conformance harness self-tests: expectError derives the HTTP status from the spec's error-code table (spec §13),
// and the one place every error body is validated refuses an SMCP_INVALID without details (ERR-05).
import { describe, expect, it } from "vitest";
import type { HttpAnswer } from "../protocol/http-client.ts";
import { CheckFailure, expectError, expectErrorBody } from "./assert.ts";

const answer = (status: number, errcode: string): HttpAnswer => {
  const body = { errcode, error: "x", ...(errcode === "SMCP_INVALID" ? { details: [{ path: "", message: "m" }] } : {}) };
  return { status, headers: {}, body, raw: Buffer.from(JSON.stringify(body)) };
};
const rawAnswer = (status: number, body: unknown): HttpAnswer => ({ status, headers: {}, body, raw: Buffer.from(JSON.stringify(body)) });

describe("expectError", () => {
  it("passes the errcode at the status the table gives, alone or among alternatives", () => {
    expect(expectError(answer(403, "SMCP_NOT_MEMBER"), "SMCP_NOT_MEMBER", "w").errcode).toBe("SMCP_NOT_MEMBER");
    expect(expectError(answer(404, "SMCP_UNKNOWN_CHANNEL"), ["SMCP_INVALID", "SMCP_UNKNOWN_CHANNEL"], "w").errcode).toBe("SMCP_UNKNOWN_CHANNEL");
  });

  it("fails the right errcode at another status, another errcode, and an accepted request", () => {
    expect(() => expectError(answer(400, "SMCP_NOT_MEMBER"), "SMCP_NOT_MEMBER", "w")).toThrow(/wrong error/);
    expect(() => expectError(answer(401, "SMCP_BAD_SIGNATURE"), "SMCP_REPLAY", "w")).toThrow(CheckFailure);
    const accepted: HttpAnswer = { status: 200, headers: {}, body: {}, raw: Buffer.from("{}") };
    expect(() => expectError(accepted, "SMCP_REPLAY", "w")).toThrow(/accepted/);
  });

  it("states the expected status from the table", () => {
    try {
      expectError(answer(400, "SMCP_INVALID"), "SMCP_RATE_LIMITED", "w");
    } catch (err) {
      expect((err as CheckFailure).expected).toBe("429 SMCP_RATE_LIMITED");
    }
    expect.assertions(1);
  });
});

describe("expectErrorBody (ERR-05)", () => {
  it("refuses an SMCP_INVALID without details, and one with an empty list", () => {
    expect(() => expectErrorBody(rawAnswer(400, { errcode: "SMCP_INVALID", error: "bad" }), "w")).toThrow(CheckFailure);
    expect(() => expectErrorBody(rawAnswer(400, { errcode: "SMCP_INVALID", error: "bad", details: [] }), "w")).toThrow(/ERR-05/);
    expect(() => expectError(rawAnswer(400, { errcode: "SMCP_INVALID", error: "bad" }), "SMCP_INVALID", "w")).toThrow(/ERR-05/);
  });

  it("accepts an SMCP_INVALID with details, and other codes without", () => {
    expect(expectErrorBody(rawAnswer(400, { errcode: "SMCP_INVALID", error: "bad", details: [{ path: "", message: "m" }] }), "w").errcode).toBe("SMCP_INVALID");
    expect(expectErrorBody(rawAnswer(400, { errcode: "SMCP_BAD_JSON", error: "bad" }), "w").errcode).toBe("SMCP_BAD_JSON");
  });
});
