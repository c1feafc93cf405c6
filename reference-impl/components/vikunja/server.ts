// Roshumba sample component (vikunja): a real MCP tool server over stdio — the conformance profile's task tools (spec §16).
// Usage: node --import tsx server.ts --db <file.sqlite>. stdout is the MCP channel; diagnostics go to stderr only.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import { TaskStore, type Task } from "./store.ts";

const taskShape = z.object({ id: z.number().int(), title: z.string(), done: z.boolean() });

/** Structured content plus the same JSON as text, for clients that only read text blocks. */
function ok(structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(structured) }], structuredContent: structured };
}

function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

export function buildServer(store: TaskStore): McpServer {
  const server = new McpServer({ name: "vikunja", version: "1.0.0" });
  server.registerTool(
    "create_task",
    {
      description: "Create a task that is not done yet.",
      inputSchema: { title: z.string().min(1).max(500) },
      outputSchema: { task: taskShape },
    },
    async ({ title }) => ok({ task: store.create(title) }),
  );
  server.registerTool(
    "list_tasks",
    {
      description: "List every task, oldest first.",
      inputSchema: {},
      outputSchema: { tasks: z.array(taskShape) },
    },
    async () => ok({ tasks: store.list() }),
  );
  server.registerTool(
    "complete_task",
    {
      description: "Mark a task done; an unknown id is a tool error.",
      inputSchema: { id: z.number().int() },
      outputSchema: { task: taskShape },
    },
    async ({ id }) => {
      const task: Task | undefined = store.complete(id);
      return task ? ok({ task }) : toolError(`no task with id ${id}`);
    },
  );
  return server;
}

function dbPathFromArgs(argv: string[]): string {
  const i = argv.indexOf("--db");
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    process.stderr.write("vikunja: usage: server.ts --db <file.sqlite>\n");
    process.exit(2);
  }
  return file;
}

async function main(): Promise<void> {
  const store = new TaskStore(dbPathFromArgs(process.argv.slice(2)));
  const server = buildServer(store);
  // The host closes stdin to stop us; flush SQLite and leave.
  const stop = (): void => {
    store.close();
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await server.connect(new StdioServerTransport());
}

await main();
