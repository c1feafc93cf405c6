// Conformance harness self-tests, fake peer: send behaviour planted for one origin applies to that origin's transactions only.
import { describe, expect, it } from "vitest";
import { SmcpError } from "../../protocol/errors.ts";
import { SendGate } from "./send-behaviour.ts";

const answer = (gate: SendGate, origin: string): Promise<string> =>
  gate.pass(origin, () => "processed").catch((err: unknown) => (err instanceof SmcpError ? err.errcode : String(err)));

describe("SendGate", () => {
  it("a failure planted for one origin fails only that origin's next transaction, and is gone afterwards", async () => {
    const gate = new SendGate();
    const seen = await gate.with({ failNext: 1, failWith: { errcode: "SMCP_RATE_LIMITED", retryAfterMs: 700 } }, async () => [await answer(gate, "bob.example"), await answer(gate, "alice.example"), await answer(gate, "alice.example")], "alice.example");
    expect(seen).toEqual(["processed", "SMCP_RATE_LIMITED", "processed"]);
    expect(await answer(gate, "alice.example")).toBe("processed");
  });

  it("two origins patched at once keep their own behaviour, and the common one applies to everyone else", async () => {
    const gate = new SendGate();
    const both = await gate.with({ failNext: 5, failWith: { errcode: "SMCP_INTERNAL" } }, () =>
      gate.with({ failNext: 1, failWith: { errcode: "SMCP_NOT_FOUND" } }, async () => [await answer(gate, "bob.example"), await answer(gate, "bob.example"), await answer(gate, "alice.example"), await answer(gate, "eve.example")], "bob.example"),
    "alice.example");
    expect(both).toEqual(["SMCP_NOT_FOUND", "processed", "SMCP_INTERNAL", "processed"]);
    const common = await gate.with({ failNext: 1, failWith: { errcode: "SMCP_INTERNAL" } }, async () => [await answer(gate, "eve.example"), await answer(gate, "alice.example")]);
    expect(common).toEqual(["SMCP_INTERNAL", "processed"]);
  });
});
