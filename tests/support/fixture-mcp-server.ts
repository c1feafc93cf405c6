// Roshumba component host test fixture: an MCP server over stdio that can be slow, fail, crash or answer garbage on demand.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import * as z from "zod";

const server = new McpServer({ name: "fixture", version: "1.0.0" });
let calls = 0;

server.registerTool("sleep", { inputSchema: { ms: z.number().int().min(0) } }, async ({ ms }) => {
  calls++;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { content: [{ type: "text", text: `slept ${ms}` }], structuredContent: { slept: ms, calls } };
});

// Dies without answering: the host must report the component unavailable and restart it.
server.registerTool("crash", { inputSchema: {} }, async () => process.exit(1));

server.registerTool("fail", { inputSchema: {} }, async () => {
  throw new Error("deliberate failure");
});

// A content block no MCP client accepts: the host must turn it into a tool error, not crash.
server.registerTool("bad_result", { inputSchema: {} }, async () => ({ content: [{ type: "x".repeat(100) }] }) as never);

await server.connect(new StdioServerTransport());
