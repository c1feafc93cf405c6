// Conformance harness self-tests: expectError derives the HTTP status from the spec's error-code table (spec §13).
import { describe, expect, it } from "vitest";
import type { HttpAnswer } from "../protocol/http-client.ts";
import { CheckFailure, expectError } from "./assert.ts";

const answer = (status: number, errcode: string): HttpAnswer => {
  const body = { errcode, error: "x" };
  return { status, headers: {}, body, raw: Buffer.from(JSON.stringify(body)) };
};

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
