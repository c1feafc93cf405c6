// Spec tooling tests (spec §1.2): spec/requirements.json agrees with the prose's tags, and each kind of drift is named.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { checkIndex, readTags, rebuildIndex } from "./requirements-index.ts";

const root = new URL("..", import.meta.url).pathname;
const prose = readFileSync(`${root}spec/smcp-federation.md`, "utf8");
const index = JSON.parse(readFileSync(`${root}spec/requirements.json`, "utf8")).requirements;

describe("requirements index", () => {
  it("the committed index agrees with the prose, and rebuilding it changes nothing", () => {
    const tags = readTags(prose);
    expect(checkIndex(tags, index)).toEqual([]);
    expect(rebuildIndex(tags, index)).toEqual(index);
  });

  it("names an ID missing from the index, one missing from the prose, a level and a section mismatch, a duplicate", () => {
    const text = "## 5. S\n### 5.3 T\n- **[SIGN-13] MUST** a.\n- **[SIGN-13] MUST** b.\n- **[SIGN-14] SHOULD** c.\n### 5.4 U\n- **[SIGN-15] MAY** d.\n";
    const idx = [
      { id: "SIGN-14", level: "MUST", section: "5.3", summary: "c" },
      { id: "SIGN-15", level: "MAY", section: "5.3", summary: "d" },
      { id: "SIGN-16", level: "MUST", section: "5.4", summary: "gone" },
    ];
    expect(checkIndex(readTags(text), idx)).toEqual([
      "SIGN-13: tagged twice in the prose (lines 3 and 4)",
      "SIGN-13: in the prose (line 4) but not in spec/requirements.json",
      "SIGN-14: level SHOULD in the prose, MUST in spec/requirements.json",
      "SIGN-15: section 5.4 in the prose, 5.3 in spec/requirements.json",
      "SIGN-16: in spec/requirements.json but not tagged in the prose",
    ]);
  });
});
