// Spec tooling tests (spec §14): one test per compatibility rule, each planting the change against release 1.0.0.
import { describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareBuilds, loadBuild, verifyRelease, type Build } from "./compat.ts";

const root = new URL("../..", import.meta.url).pathname;
const releaseDir = join(root, "spec", "releases", "1.0.0");
const release = () => loadBuild(join(releaseDir, "json-schema"), join(releaseDir, "openapi", "openapi.json"), join(releaseDir, "requirements.json"));
const clone = (b: Build): Build => structuredClone(b);
const any = (b: Build) => b as any;

/** Plants a change in a copy of the release and compares the release with it. */
function against(mutate: (b: any) => void, accepted = [] as Parameters<typeof compareBuilds>[3], deps = [] as Parameters<typeof compareBuilds>[4]) {
  const old = release();
  const now = clone(old);
  mutate(any(now));
  return compareBuilds("1.0.0", old, now, accepted, deps);
}
const breaking = (r: ReturnType<typeof against>) => r.breaking.map((c) => `[${c.rule}] ${c.message}`);

describe("spec:compat rules", () => {
  it("the release against itself has no change at all", () => {
    const r = against(() => {});
    expect([r.breaking, r.additive, r.accepted]).toEqual([[], [], []]);
  });

  it("refuses a removed required member, naming it (request body model)", () => {
    const r = against((b) => {
      delete b.models.Transaction.properties.origin;
      b.models.Transaction.required = ["origin_ts"];
    });
    expect(breaking(r)).toEqual(["[member-removed] Transaction.origin: removed member origin (required)"]);
  });

  it("refuses a removed optional member of a response model", () => {
    const r = against((b) => delete b.models.TransactionResult.properties[Object.keys(b.models.TransactionResult.properties).at(-1)!]);
    expect(breaking(r)).toHaveLength(1);
    expect(r.breaking[0]!.rule).toBe("member-removed");
  });

  it("refuses a renamed endpoint, naming the old and the new path", () => {
    const r = against((b) => {
      b.openapi.paths["/federation/v1/transmit/{txn_id}"] = b.openapi.paths["/federation/v1/send/{txn_id}"];
      delete b.openapi.paths["/federation/v1/send/{txn_id}"];
    });
    expect(breaking(r)).toEqual([
      "[endpoint-renamed] PUT /federation/v1/send/{txn_id}: endpoint renamed to PUT /federation/v1/transmit/{txn_id} (operation sendTransaction)",
    ]);
    expect(r.additive).toEqual([]);
  });

  it("refuses a removed endpoint", () => {
    const r = against((b) => delete b.openapi.paths["/federation/v1/registry"]);
    expect(breaking(r)).toEqual(["[endpoint-removed] GET /federation/v1/registry: endpoint removed"]);
  });

  it("refuses a removed method (the same path, another method)", () => {
    const r = against((b) => {
      const item = b.openapi.paths["/federation/v1/send/{txn_id}"];
      item.post = { ...item.put, operationId: "sendTransactionPost" };
      delete item.put;
    });
    expect(breaking(r)).toEqual(["[method-removed] PUT /federation/v1/send/{txn_id}: method PUT removed from /federation/v1/send/{txn_id}"]);
  });

  it("refuses a member that becomes required", () => {
    const r = against((b) => b.models.Transaction.required.push("events"));
    expect(breaking(r)).toEqual(["[member-required] Transaction.events: member events became required"]);
  });

  it("refuses a new required member, and a required member becoming optional", () => {
    const r = against((b) => {
      b.models.Transaction.properties.priority = { type: "integer" };
      b.models.Transaction.required = ["origin", "priority"];
    });
    expect(breaking(r)).toEqual([
      "[member-optional] Transaction.origin_ts: member origin_ts is no longer required: a peer of the release needs it",
      "[member-required] Transaction.priority: new required member priority",
    ]);
  });

  it("refuses a narrowed type and a widened one", () => {
    const r = against((b) => {
      b.models.TimestampMs.type = "string";
    });
    expect(r.breaking.map((c) => c.rule).sort()).toEqual(["type-narrowed", "type-widened"]);
    expect(r.breaking[0]!.message).toMatch(/^TimestampMs: /);
  });

  it("refuses a changed, added or removed pattern", () => {
    const r = against((b) => {
      b.models.ServerName.pattern = "^[a-z]+$";
      delete b.models.KeyId.pattern;
      b.models.ChannelName.pattern ??= "^x$";
    });
    const rules = r.breaking.map((c) => c.rule);
    expect(rules).toContain("pattern-changed");
    expect(rules).toContain("pattern-widened");
    expect(r.breaking.find((c) => c.rule === "pattern-changed")!.message).toMatch(/^ServerName: pattern changed from/);
  });

  it("refuses a narrowed bound (maxItems, maxLength, minimum) and a widened one", () => {
    const r = against((b) => {
      b.models.Transaction.properties.events.maxItems = 100;
      b.models.ServerName.maxLength = 300;
    });
    expect(breaking(r)).toEqual([
      "[bound-widened] ServerName: maxLength widened from 255 to 300: a peer of the release refuses it",
      "[bound-narrowed] Transaction.events: maxItems narrowed from 1000 to 100",
    ]);
  });

  it("refuses a narrowed query parameter bound in a request (backfill limit)", () => {
    const r = against((b) => {
      const p = b.openapi.paths["/federation/v1/channels/{channel}/events"].get.parameters.find((x: any) => x.name === "limit");
      p.schema.maximum = 500;
    });
    expect(breaking(r)).toEqual(["[bound-narrowed] GET /federation/v1/channels/{channel}/events query parameter limit: maximum narrowed from 1000 to 500"]);
  });

  it("refuses a removed query parameter and a new required one", () => {
    const r = against((b) => {
      const op = b.openapi.paths["/federation/v1/channels/{channel}/events"].get;
      op.parameters = op.parameters.filter((x: any) => x.name !== "limit");
      op.parameters.push({ name: "since", in: "query", required: true, schema: { type: "integer" } });
    });
    expect(r.breaking.map((c) => c.rule)).toEqual(["member-removed", "member-required"]);
  });

  it("refuses a removed enum value and a removed error code, naming the code", () => {
    const r = against((b) => {
      b.models.ErrorCode.enum = b.models.ErrorCode.enum.filter((c: string) => c !== "SMCP_REPLAY");
    });
    expect(breaking(r)).toEqual(["[error-code-removed] ErrorCode: removed error code SMCP_REPLAY"]);
  });

  it("refuses a narrowed response body (a response schema that changes type)", () => {
    const r = against((b) => {
      b.openapi.paths["/federation/v1/ping"].get.responses["200"].content["application/json"].schema = { $ref: "#/components/schemas/Error" };
    });
    expect(breaking(r)).toEqual(["[type-narrowed] GET /federation/v1/ping response 200: type changed from Ping to Error"]);
  });

  it("refuses a security scheme an operation now requires, and lists one it no longer declares", () => {
    const r = against((b) => {
      b.openapi.paths["/federation/v1/ping"].get.security = [{ BearerAuth: [] }];
    });
    expect(breaking(r)).toEqual(["[security-added] GET /federation/v1/ping: now requires security scheme BearerAuth"]);
    expect(r.additive.map((c) => c.message)).toEqual(["GET /federation/v1/ping: no longer declares security scheme ApiKeyAuth"]);
  });

  it("refuses a removed model", () => {
    const r = against((b) => delete b.models.RejectedItem);
    expect(breaking(r)).toContain("[model-removed] RejectedItem: model removed");
  });

  it("passes additive changes and lists them: optional member, endpoint, error code, response, model", () => {
    const r = against((b) => {
      b.models.Transaction.properties.note = { type: "string" };
      b.models.ErrorCode.enum.push("SMCP_NEW_THING");
      b.openapi.paths["/federation/v1/extra"] = { get: { operationId: "extra", responses: { "200": { description: "ok" } } } };
      b.openapi.paths["/federation/v1/ping"].get.responses["405"] = { description: "method" };
      b.models.Extra = { type: "object" };
    });
    expect(r.breaking).toEqual([]);
    expect(r.additive.map((c) => c.message).sort()).toEqual([
      "ErrorCode: new error code SMCP_NEW_THING",
      "Extra: new model",
      "GET /federation/v1/extra: new endpoint",
      "GET /federation/v1/ping response 405: response 405 now declared",
      "Transaction.note: new optional member note",
    ]);
  });

  it("a recorded acceptance turns a breaking change into an accepted one; a stale acceptance is reported", () => {
    const change = "ServerName: maxLength widened from 255 to 300: a peer of the release refuses it";
    const r = against((b) => (b.models.ServerName.maxLength = 300), [
      { release: "1.0.0", change, reason: "test" },
      { release: "1.0.0", change: "nothing like this", reason: "stale" },
    ]);
    expect(r.breaking).toEqual([]);
    expect(r.accepted.map((c) => c.reason)).toEqual(["test"]);
    expect(r.unusedAcceptances.map((a) => a.reason)).toEqual(["stale"]);
  });
});

describe("spec:compat requirement IDs", () => {
  it("refuses a requirement ID that disappears and one whose level changes", () => {
    const r = against((b) => {
      b.requirements = b.requirements.filter((x: any) => x.id !== "SIGN-13");
      b.requirements.find((x: any) => x.id === "SIGN-14").level = "SHOULD";
    });
    expect(breaking(r)).toEqual([
      "[requirement-removed] SIGN-13: requirement MUST removed without a recorded deprecation",
      "[requirement-level-changed] SIGN-14: level changed from MUST to SHOULD without a recorded deprecation",
    ]);
  });

  it("accepts both with a recorded deprecation, and lists new IDs as additive", () => {
    const r = against(
      (b) => {
        b.requirements = b.requirements.filter((x: any) => x.id !== "SIGN-13");
        b.requirements.find((x: any) => x.id === "SIGN-14").level = "SHOULD";
        b.requirements.push({ id: "SIGN-99", level: "MUST", section: "5.3", summary: "new" });
      },
      [],
      [
        { id: "SIGN-13", since: "1.0.1", reason: "merged into SIGN-12" },
        { id: "SIGN-14", since: "1.0.1", reason: "relaxed", level: "SHOULD" },
      ],
    );
    expect(r.breaking).toEqual([]);
    expect(r.additive.map((c) => c.rule).sort()).toEqual(["requirement-added", "requirement-deprecated", "requirement-deprecated"]);
  });
});

describe("spec:compat release immutability", () => {
  it("the committed release matches its SHA256SUMS", () => {
    expect(verifyRelease(releaseDir)).toEqual([]);
  });

  it("names a released file changed or added after release", () => {
    const dir = mkdtempSync(join(tmpdir(), "smcp-release-"));
    try {
      cpSync(releaseDir, dir, { recursive: true });
      writeFileSync(join(dir, "json-schema", "Ping.json"), "{}");
      writeFileSync(join(dir, "json-schema", "Extra.json"), "{}");
      expect(verifyRelease(dir).sort()).toEqual(["./json-schema/Ping.json: changed after release", "json-schema/Extra.json: added after release"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("spec:compat accepted changes", () => {
  it("the accepted 1.0.1 ServerName pattern is equivalent to 1.0.0's under its maxLength (NAME-16)", async () => {
    const fc = (await import("fast-check")).default;
    const { readFileSync } = await import("node:fs");
    const load = (p: string) => JSON.parse(readFileSync(join(root, p), "utf8")) as { pattern: string; maxLength: number };
    const [old, now] = [load("spec/releases/1.0.0/json-schema/ServerName.json"), load("schemas/json-schema/ServerName.json")];
    const [a, b] = [new RegExp(old.pattern, "u"), new RegExp(now.pattern, "u")];
    const label = fc.stringMatching(/^[a-z0-9-]{1,63}$/);
    const name = fc.oneof(
      fc.array(label, { minLength: 1, maxLength: 6 }).map((l) => l.join(".")),
      fc.string({ unit: fc.constantFrom("a", "b", "0", "9", "-", ".", ":", "\n"), maxLength: 300 }),
      fc.array(fc.constant("a".repeat(63)), { minLength: 4, maxLength: 5 }).map((l) => l.join(".")),
    );
    fc.assert(fc.property(name, (s) => a.test(s) === (b.test(s) && s.length <= now.maxLength)), { numRuns: 3000 });
    expect(now.maxLength).toBe(old.maxLength);
  });
});

describe("npm run spec:compat (the CLI npm test runs)", () => {
  const run = async (schemas?: string) => {
    const { spawnSync } = await import("node:child_process");
    const args = ["tsx", "scripts/spec-compat.ts", ...(schemas ? ["--schemas", schemas] : [])];
    return spawnSync("npx", args, { cwd: root, encoding: "utf8" });
  };

  it("passes the current build, listing its additive changes", async () => {
    const r = await run();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/non-breaking changes against 1\.0\.0/);
  });

  it("refuses a removed required member and a renamed endpoint, naming both", async () => {
    const { readFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "smcp-compat-"));
    try {
      cpSync(join(root, "schemas"), dir, { recursive: true });
      const txnFile = join(dir, "json-schema", "Transaction.json");
      const txn = JSON.parse(readFileSync(txnFile, "utf8"));
      delete txn.properties.origin_ts;
      txn.required = txn.required.filter((m: string) => m !== "origin_ts");
      writeFileSync(txnFile, JSON.stringify(txn));
      const apiFile = join(dir, "openapi", "openapi.json");
      const api = JSON.parse(readFileSync(apiFile, "utf8"));
      api.paths["/federation/v1/invitation"] = api.paths["/federation/v1/invite"];
      delete api.paths["/federation/v1/invite"];
      writeFileSync(apiFile, JSON.stringify(api));
      const r = await run(dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("[member-removed] Transaction.origin_ts: removed member origin_ts (required)");
      expect(r.stderr).toContain("[endpoint-renamed] POST /federation/v1/invite: endpoint renamed to POST /federation/v1/invitation (operation invite)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
