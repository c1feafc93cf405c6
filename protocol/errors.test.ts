// Protocol primitive tests (spec §13 ERR-05, ERR-10): the one place error bodies are built gives every SMCP_INVALID details.
import { describe, expect, it } from "vitest";
import { SmcpError } from "./errors.ts";
import { validate } from "./schemas.ts";

describe("error bodies (spec §13)", () => {
  it("ERR-05/ERR-10: an SMCP_INVALID thrown without details gets one issue about the whole request (path \"\")", () => {
    const body = new SmcpError("SMCP_INVALID", "GET /federation/v1/ping takes no body").toBody();
    expect(body.details).toEqual([{ path: "", message: "GET /federation/v1/ping takes no body" }]);
    expect(validate("Error", body)).toEqual([]);
    expect(new SmcpError("SMCP_INVALID", "x", { details: [] }).toBody().details).toEqual([{ path: "", message: "x" }]);
  });

  it("ERR-05: given details are kept (at most 64), and other codes get none", () => {
    const many = Array.from({ length: 70 }, (_, i) => ({ path: `/a/${i}`, message: "bad" }));
    expect(new SmcpError("SMCP_INVALID", "bad", { details: many }).toBody().details).toHaveLength(64);
    expect(new SmcpError("SMCP_BAD_JSON", "bad").toBody().details).toBeUndefined();
  });
});
