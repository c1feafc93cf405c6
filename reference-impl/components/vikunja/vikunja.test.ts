// Roshumba sample component (vikunja) tests: the conformance profile's tools through a real stdio MCP client (spec §16).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { vikunjaConfig } from "../host.ts";
import { tempDir } from "../../../tests/support/temp-dir.ts";

const clients: Client[] = [];

async function connect(dataDir: string): Promise<Client> {
  const cfg = vikunjaConfig(dataDir);
  const client = new Client({ name: "vikunja-test", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: cfg.command, args: cfg.args ?? [], stderr: "pipe" }));
  clients.push(client);
  return client;
}

type Structured = Record<string, unknown> | undefined;

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const res = await client.callTool({ name, arguments: args });
  return { structured: res.structuredContent as Structured, isError: res.isError === true, content: res.content as { type: string; text?: string }[] };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe("vikunja MCP server (spec §16 conformance profile)", () => {
  it("VIKUNJA: tools/list declares create_task, list_tasks, complete_task with input and output schemas (spec §16)", async () => {
    const client = await connect(tempDir("vk"));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["complete_task", "create_task", "list_tasks"]);
    const create = tools.find((t) => t.name === "create_task")!;
    expect(create.inputSchema.required).toEqual(["title"]);
    expect(create.inputSchema.properties?.title).toMatchObject({ type: "string", minLength: 1, maxLength: 500 });
    expect(tools.every((t) => t.outputSchema?.type === "object")).toBe(true);
  });

  it("VIKUNJA: create, list and complete tasks; structuredContent mirrored in a JSON text block (spec §16)", async () => {
    const client = await connect(tempDir("vk"));
    const a = await call(client, "create_task", { title: "write the spec" });
    expect(a.structured).toEqual({ task: { id: 1, title: "write the spec", done: false } });
    expect(JSON.parse(a.content[0]!.text!)).toEqual(a.structured);
    await call(client, "create_task", { title: "ship it" });
    const done = await call(client, "complete_task", { id: 1 });
    expect(done.structured).toEqual({ task: { id: 1, title: "write the spec", done: true } });
    const list = await call(client, "list_tasks", {});
    expect(list.structured).toEqual({
      tasks: [
        { id: 1, title: "write the spec", done: true },
        { id: 2, title: "ship it", done: false },
      ],
    });
  });

  it("VIKUNJA: unknown id and invalid titles are tool errors (isError), not protocol errors (spec §10, §16)", async () => {
    const client = await connect(tempDir("vk"));
    const missing = await call(client, "complete_task", { id: 42 });
    expect(missing.isError).toBe(true);
    expect(missing.content[0]!.text).toContain("no task with id 42");
    expect((await call(client, "create_task", { title: "" })).isError).toBe(true);
    expect((await call(client, "create_task", { title: "x".repeat(501) })).isError).toBe(true);
    expect((await call(client, "complete_task", { id: 1.5 })).isError).toBe(true);
    expect((await call(client, "list_tasks", {})).structured).toEqual({ tasks: [] });
  });

  it("VIKUNJA: tasks persist in <dataDir>/vikunja.sqlite across a restart (spec §16)", async () => {
    const dir = tempDir("vk");
    const first = await connect(dir);
    await call(first, "create_task", { title: "survive" });
    await call(first, "complete_task", { id: 1 });
    await first.close();
    const second = await connect(dir);
    expect((await call(second, "list_tasks", {})).structured).toEqual({ tasks: [{ id: 1, title: "survive", done: true }] });
    expect((await call(second, "create_task", { title: "next" })).structured).toEqual({ task: { id: 2, title: "next", done: false } });
    expect(vikunjaConfig(dir).args).toContain(join(dir, "vikunja.sqlite"));
  });

  it("KEY-26: the task database and its WAL files are 0600 whatever the umask (spec §4.4)", async () => {
    const dir = tempDir("vk-mode");
    const old = process.umask(0o022);
    try {
      await call(await connect(dir), "create_task", { title: "private" });
    } finally {
      process.umask(old);
    }
    const files = readdirSync(dir).filter((f) => f.startsWith("vikunja.sqlite"));
    expect(files).toContain("vikunja.sqlite-wal");
    expect(Object.fromEntries(files.map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]))).toEqual(Object.fromEntries(files.map((f) => [f, "600"])));
  });
});
