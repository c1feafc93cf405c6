// Roshumba component host tests: listing, tool calls and the SMCP error each failure maps to (spec §10, §13).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validate } from "../../protocol/schemas.ts";
import { ComponentHost, ComponentUnavailableError } from "./host.ts";
import { toToolInfo, toToolResult } from "./managed.ts";
import { errorOf, fixtureConfig, quietLogger } from "../../tests/support/components.ts";
import { tempDir } from "../../tests/support/temp-dir.ts";
import { until } from "../../tests/support/until.ts";

function status(host: ComponentHost, name: string): string | undefined {
  return host.health().find((h) => h.name === name)?.status;
}

describe("ComponentHost with vikunja and the fixture server", () => {
  let host: ComponentHost;
  beforeAll(async () => {
    host = await ComponentHost.start({ dataDir: tempDir("host"), components: [fixtureConfig()], logger: quietLogger });
  });
  afterAll(async () => {
    await host.close();
  });

  it("HOST: lists every component with its tools as valid ComponentInfo (spec §11.2)", () => {
    expect(host.names()).toEqual(["vikunja", "fixture"]);
    const infos = host.list("a.example:8443");
    for (const info of infos) expect(validate("ComponentInfo", info)).toEqual([]);
    expect(infos[0]).toMatchObject({ name: "vikunja", uri: "smcp://a.example:8443/vikunja", kind: "mcp" });
    expect(host.tools("vikunja")!.map((t) => t.name).sort()).toEqual(["complete_task", "create_task", "list_tasks"]);
    expect(host.tools("vikunja")!.find((t) => t.name === "create_task")!.input_schema).toMatchObject({ required: ["title"] });
    expect(host.tools("nope")).toBeUndefined();
    expect(host.health()).toEqual([
      { name: "vikunja", status: "up" },
      { name: "fixture", status: "up" },
    ]);
  });

  it("HOST: calls a vikunja tool and returns a schema-valid ToolResult (spec §10.2, §16)", async () => {
    const created = await host.callTool("vikunja", "create_task", { title: "from host" }, 5000);
    expect(validate("ToolResult", created)).toEqual([]);
    expect(created.structuredContent).toMatchObject({ task: { title: "from host", done: false } });
  });

  it("HOST: unknown component → SMCP_UNKNOWN_TARGET, unknown tool → SMCP_UNKNOWN_TOOL (spec §10)", async () => {
    expect((await errorOf(host.callTool("nope", "list_tasks", {}, 1000))).errcode).toBe("SMCP_UNKNOWN_TARGET");
    expect((await errorOf(host.callTool("vikunja", "drop_tables", {}, 1000))).errcode).toBe("SMCP_UNKNOWN_TOOL");
  });

  it("HOST: a failing tool is a normal result with isError, not an SMCP error (spec §10)", async () => {
    const failed = await host.callTool("fixture", "fail", {}, 5000);
    expect(failed.isError).toBe(true);
    expect(JSON.stringify(failed.content)).toContain("deliberate failure");
    const bad = await host.callTool("fixture", "bad_result", {}, 5000);
    expect(bad.isError).toBe(true);
    expect(validate("ToolResult", bad)).toEqual([]);
  });

  it("HOST: a tool slower than the timeout → SMCP_CALL_TIMEOUT, and the component keeps serving (spec §10)", async () => {
    const err = await errorOf(host.callTool("fixture", "sleep", { ms: 10_000 }, 150));
    expect(err.errcode).toBe("SMCP_CALL_TIMEOUT");
    expect(err.status).toBe(504);
    const quick = await host.callTool("fixture", "sleep", { ms: 1 }, 5000);
    expect(quick.structuredContent).toMatchObject({ slept: 1 });
  });
});

describe("ComponentHost failures and restarts", () => {
  it("HOST: a component that dies mid-call → SMCP_COMPONENT_UNAVAILABLE (dispatched), then it is restarted (spec §10)", async () => {
    const host = await ComponentHost.start({ dataDir: tempDir("host"), components: [fixtureConfig()], logger: quietLogger, includeVikunja: false });
    try {
      const before = await host.callTool("fixture", "sleep", { ms: 0 }, 5000);
      expect(before.structuredContent).toMatchObject({ calls: 1 });
      const err = await errorOf(host.callTool("fixture", "crash", {}, 5000));
      expect(err.errcode).toBe("SMCP_COMPONENT_UNAVAILABLE");
      expect(err.status).toBe(502);
      expect(err).toBeInstanceOf(ComponentUnavailableError);
      expect((err as ComponentUnavailableError).dispatched).toBe(true);
      expect(status(host, "fixture")).toBe("down");
      const whileDown = await errorOf(host.callTool("fixture", "sleep", { ms: 0 }, 5000));
      expect((whileDown as ComponentUnavailableError).dispatched).toBe(false);
      // Tools stay listed while down, so the registry does not flap.
      expect(host.tools("fixture")!.map((t) => t.name)).toContain("sleep");
      await until("fixture restarted", () => status(host, "fixture") === "up", 15_000);
      const after = await host.callTool("fixture", "sleep", { ms: 0 }, 5000);
      // A fresh process: its in-memory call counter starts again.
      expect(after.structuredContent).toMatchObject({ calls: 1 });
    } finally {
      await host.close();
    }
  });

  it("HOST: a component that cannot start is down, not fatal; calls → SMCP_COMPONENT_UNAVAILABLE (not dispatched) (spec §10)", async () => {
    const broken = { name: "broken", command: "/nonexistent/mcp-server" };
    const host = await ComponentHost.start({ dataDir: tempDir("host"), components: [broken], logger: quietLogger, includeVikunja: false });
    try {
      expect(host.health()).toEqual([{ name: "broken", status: "down" }]);
      expect(host.tools("broken")).toEqual([]);
      const err = await errorOf(host.callTool("broken", "anything", {}, 1000));
      expect(err.errcode).toBe("SMCP_COMPONENT_UNAVAILABLE");
      expect((err as ComponentUnavailableError).dispatched).toBe(false);
    } finally {
      await host.close();
    }
  });

  it("HOST: rejects component names outside the ComponentName pattern, duplicates and SMCP service names (spec §2.2)", async () => {
    const base = { dataDir: tempDir("host"), logger: quietLogger, includeVikunja: false };
    await expect(ComponentHost.start({ ...base, components: [{ name: "Bad Name", command: "x" }] })).rejects.toThrow(/does not match/);
    await expect(ComponentHost.start({ ...base, components: [{ name: "naomi", command: "x" }] })).rejects.toThrow(/reserved/);
    await expect(ComponentHost.start({ ...base, includeVikunja: true, components: [{ name: "vikunja", command: "x" }] })).rejects.toThrow(/twice/);
  });
});

describe("MCP results and tools → wire shapes", () => {
  it("HOST: an MCP result outside the ToolResult schema becomes a valid isError result (spec §10.2)", () => {
    const longType = toToolResult({ content: [{ type: "x".repeat(65) }] });
    expect(longType.isError).toBe(true);
    expect(JSON.stringify(longType.content)).toContain("not a valid ToolResult");
    expect(toToolResult({ content: [], structuredContent: [1, 2] }).isError).toBe(true);
    const good = toToolResult({ content: [{ type: "text", text: "hi" }], structuredContent: { a: 1 }, _meta: { x: 1 } });
    expect(good).toEqual({ content: [{ type: "text", text: "hi" }], structuredContent: { a: 1 } });
    for (const r of [longType, good]) expect(validate("ToolResult", r)).toEqual([]);
  });

  it("HOST: tools whose names SMCP cannot address are left out of the listing (spec §11.2)", () => {
    expect(toToolInfo({ name: "has space", inputSchema: { type: "object" } })).toBeNull();
    const info = toToolInfo({ name: "ok.tool", description: "d".repeat(5000), inputSchema: { type: "object" } });
    expect(info?.description).toHaveLength(4096);
  });
});
