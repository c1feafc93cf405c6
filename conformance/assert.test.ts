// Conformance harness self-test (spec §13 ERR-05): the one place every error body is validated refuses an
// SMCP_INVALID without details, whichever check received it.
import { describe, expect, it } from "vitest";
import { CheckFailure, expectError, expectErrorBody } from "./assert.ts";

const answer = (status: number, body: unknown) => ({ status, headers: {}, body, raw: Buffer.from(JSON.stringify(body)) });

describe("expectErrorBody (ERR-05)", () => {
  it("refuses an SMCP_INVALID without details, and one with an empty list", () => {
    expect(() => expectErrorBody(answer(400, { errcode: "SMCP_INVALID", error: "bad" }), "w")).toThrow(CheckFailure);
    expect(() => expectErrorBody(answer(400, { errcode: "SMCP_INVALID", error: "bad", details: [] }), "w")).toThrow(/ERR-05/);
    expect(() => expectError(answer(400, { errcode: "SMCP_INVALID", error: "bad" }), [[400, "SMCP_INVALID"]], "w")).toThrow(/ERR-05/);
  });

  it("accepts an SMCP_INVALID with details, and other codes without", () => {
    expect(expectErrorBody(answer(400, { errcode: "SMCP_INVALID", error: "bad", details: [{ path: "", message: "m" }] }), "w").errcode).toBe("SMCP_INVALID");
    expect(expectErrorBody(answer(400, { errcode: "SMCP_BAD_JSON", error: "bad" }), "w").errcode).toBe("SMCP_BAD_JSON");
  });
});
