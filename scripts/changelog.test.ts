// Spec tooling tests (spec §14): the revision is stated consistently, and the changelog entry of the current
// revision names every requirement ID added since the newest release and every numbered fix.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { latestRelease } from "./compat/compat.ts";

const root = new URL("..", import.meta.url).pathname;
const read = (p: string) => readFileSync(`${root}${p}`, "utf8");
const prose = read("spec/smcp-federation.md");
const version = /^# .* — version (\d+\.\d+\.\d+)$/m.exec(prose)?.[1];
const changelog = read("spec/CHANGELOG.md");
const entry = changelog.split(/^## /m).find((s) => s.startsWith(`${version} `)) ?? "";

describe("spec revision and changelog", () => {
  it("prose, requirements.json, OpenAPI and changelog state the same revision, newer than the newest release", () => {
    expect(version).toBe("1.1.0");
    expect(JSON.parse(read("spec/requirements.json")).version).toBe(version);
    expect(JSON.parse(read("schemas/openapi/openapi.json")).info.version).toBe(version);
    expect(entry).not.toBe("");
    expect(latestRelease(`${root}spec/releases`)).not.toBe(version);
  });

  it("the current entry names every requirement ID added since the newest release", () => {
    const release = latestRelease(`${root}spec/releases`);
    const released = new Set(JSON.parse(read(`spec/releases/${release}/requirements.json`)).requirements.map((r: { id: string }) => r.id));
    const added = JSON.parse(read("spec/requirements.json")).requirements.map((r: { id: string }) => r.id).filter((id: string) => !released.has(id));
    expect(added.length).toBeGreaterThan(0);
    // IDs an earlier, not yet frozen revision added are named in that revision's entry (1.0.1 before 1.1.0).
    const earlier = changelog.split(/^## /m).filter((s) => /^\d+\.\d+\.\d+ /.test(s) && !s.startsWith(`${version} `)).join("\n");
    expect(added.filter((id: string) => !entry.includes(id) && !new RegExp(`\\b${id}\\b`).test(earlier))).toEqual([]);
  });

  it("the 1.0.1 entry has one item per point of issue 12 (1–7)", () => {
    const entry101 = changelog.split(/^## /m).find((s) => s.startsWith("1.0.1 ")) ?? "";
    expect([...entry101.matchAll(/^(\d)\. \*\*/gm)].map((m) => m[1])).toEqual(["1", "2", "3", "4", "5", "6", "7"]);
  });
});
