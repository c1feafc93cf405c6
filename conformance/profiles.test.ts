// Conformance harness: --profile selection (spec §18) — unselected profile checks are excluded with a reason.
import { describe, expect, it } from "vitest";
import type { Check } from "./context.ts";
import { parseProfiles, profileUnavailable, PROFILES } from "./profiles.ts";

const check = (profile?: Check["profile"]): Check => ({ id: "x", name: "x", requirements: [], level: "MUST", prerequisites: [], ...(profile ? { profile } : {}), run: async () => {} });

describe("--profile", () => {
  it("parses lists, repeats, all and none; refuses unknown names", () => {
    expect(parseProfiles(undefined)).toEqual([]);
    expect(parseProfiles(["judith,gail", "gail"])).toEqual(["judith", "gail"]);
    expect(parseProfiles(["all"])).toEqual([...PROFILES]);
    expect(parseProfiles(["none"])).toEqual([]);
    expect(() => parseProfiles(["judit"])).toThrow(/unknown profile "judit"/);
  });

  it("a core check always runs; a profile check only when its profile is selected", () => {
    expect(profileUnavailable(check(), [])).toBeUndefined();
    expect(profileUnavailable(check("kathy"), ["kathy"])).toBeUndefined();
    expect(profileUnavailable(check("kathy"), ["judith"])).toMatch(/profile kathy not selected.*--profile kathy/);
  });
});
