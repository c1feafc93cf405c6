// Naomi (event bus): the event data bounds — nesting depth measured without recursion, with a JSON Pointer to the
// first over-deep value (spec §7.2 EVT-20).
import { describe, expect, it } from "vitest";
import { MAX_EVENT_DATA_DEPTH, MAX_JSON_DEPTH, tooDeep } from "../../protocol/json-depth.ts";
import { dataProblem } from "./event-data.ts";

/** `{"a":{"a":…{}}}` nested `depth` levels (built without recursion). */
function nested(depth: number, key = "a"): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { [key]: v };
  return v;
}

describe("event data nesting (EVT-20)", () => {
  it("leaves room within JCS-18 for the three envelope levels of Transaction, BackfillPage and EventList, and more", () => {
    expect(MAX_JSON_DEPTH).toBe(64);
    expect(MAX_EVENT_DATA_DEPTH).toBe(32);
    expect(MAX_EVENT_DATA_DEPTH + 3).toBeLessThanOrEqual(MAX_JSON_DEPTH);
  });

  it("accepts exactly MAX_EVENT_DATA_DEPTH levels and refuses one more, pointing at the first over-deep value", () => {
    expect(tooDeep(nested(32), 32)).toBeNull();
    expect(tooDeep(nested(33), 32)).toBe("/a".repeat(32));
    expect(dataProblem(nested(32), 1 << 20)).toBeNull();
    expect(dataProblem(nested(33), 1 << 20)).toMatchObject({ errcode: "SMCP_INVALID", path: "/a".repeat(32) });
  });

  it("counts arrays, ignores scalars, and escapes ~ and / in the pointer (RFC 6901)", () => {
    expect(tooDeep({ x: 1, y: "deep", z: null }, 1)).toBeNull();
    expect(tooDeep({ x: [1, [2]] }, 2)).toBe("/x/1");
    expect(tooDeep({ ok: {}, "a/b": { "c~d": {} } }, 2)).toBe("/a~1b/c~0d");
  });

  it("measures 100 000 levels without exhausting the stack", () => {
    expect(tooDeep(nested(100_000), 32)).toBe("/a".repeat(32));
  });
});
