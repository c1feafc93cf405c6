// Roshumba component host: one MCP tool server over stdio — its process, its MCP client, its tool cache, its restarts (spec §10).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ErrorCode as McpErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { backoffDelay } from "../../protocol/backoff.ts";
import { SmcpError } from "../../protocol/errors.ts";
import { validate } from "../../protocol/schemas.ts";
import type { ToolInfo, ToolResult } from "../../protocol/types.ts";

/** How to run one MCP server: any command speaking MCP over stdio can be attached. */
export interface ComponentConfig {
  /** The component's name in `smcp://server/<name>` (ComponentName pattern). */
  name: string;
  command: string;
  args?: string[];
  /** Added to the SDK's safe default environment (PATH, HOME...). */
  env?: Record<string, string>;
}

/**
 * SMCP_COMPONENT_UNAVAILABLE with whether the request reached the component. Roshumba needs the difference:
 * a call that was never dispatched can safely run later; a dispatched one may have had effects (at-most-once).
 */
export class ComponentUnavailableError extends SmcpError {
  constructor(message: string, readonly dispatched: boolean) {
    super("SMCP_COMPONENT_UNAVAILABLE", message);
  }
}

/** Restarts of a crashing component: not a spec schedule, the reference's own (250 ms doubling to 30 s, jittered). */
const RESTART_BACKOFF = { baseMs: 250, maxMs: 30_000 };
/** A process that stayed up this long was healthy: its next crash restarts with the shortest back-off again. */
const STABLE_AFTER_MS = 10_000;
const CONNECT_TIMEOUT_MS = 20_000;
const MAX_TOOLS = 1024;
const MAX_DESCRIPTION = 4096;
const CLIENT_INFO = { name: "smcp-roshumba", version: "1.0.0" };

/** MCP `Tool` → the wire `ToolInfo`, or null when SMCP cannot address it (name outside the wire pattern). */
export function toToolInfo(tool: Tool): ToolInfo | null {
  const info: ToolInfo = { name: tool.name, input_schema: tool.inputSchema as unknown as ToolInfo["input_schema"] };
  if (tool.description !== undefined) info.description = tool.description.slice(0, MAX_DESCRIPTION);
  return validate("ToolInfo", info).length === 0 ? info : null;
}

/** An MCP `CallToolResult` → the wire `ToolResult`; a malformed result becomes a tool error, since the tool did run. */
export function toToolResult(res: Record<string, unknown>): ToolResult {
  const out: Record<string, unknown> = { content: res.content ?? [] };
  if (res.structuredContent !== undefined) out.structuredContent = res.structuredContent;
  if (res.isError !== undefined) out.isError = res.isError;
  const issues = validate("ToolResult", out);
  if (issues.length === 0) return out as ToolResult;
  const where = issues.map((i) => `${i.path || "/"} ${i.message}`).join("; ");
  return toolFailure(`component returned a result that is not a valid ToolResult: ${where}`);
}

export function toolFailure(text: string): ToolResult {
  return { content: [{ type: "text", text } as ToolResult["content"][number]], isError: true };
}

export class ManagedComponent {
  private client: Client | undefined;
  private toolCache: ToolInfo[] = [];
  private listed = false;
  private closed = false;
  private failures = 0;
  private upSince = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** The start in progress, so that close() can wait for a process being spawned right now. */
  private starting: Promise<boolean> | undefined;

  constructor(
    readonly config: ComponentConfig,
    private readonly log: Logger,
  ) {}

  get up(): boolean {
    return this.client !== undefined;
  }

  /** The last tool listing; kept while the process is down so that the registry stays stable across restarts. */
  get tools(): ToolInfo[] {
    return this.toolCache;
  }

  /** True once a listing succeeded: before that, an unknown tool cannot be told apart from a component that is down. */
  get hasListing(): boolean {
    return this.listed;
  }

  /** First start; a failure is logged and retried with back-off rather than failing the whole instance. */
  async start(): Promise<void> {
    if (!(await this.tracked())) this.scheduleRestart();
  }

  async callTool(tool: string, params: Record<string, unknown>, timeoutMs: number): Promise<ToolResult> {
    const client = this.client;
    if (!client) throw new ComponentUnavailableError(`component ${this.config.name} is not running`, false);
    try {
      const opts = { timeout: timeoutMs, maxTotalTimeout: timeoutMs };
      const res = await client.callTool({ name: tool, arguments: params }, undefined, opts);
      return toToolResult(res as Record<string, unknown>);
    } catch (err) {
      return this.callFailure(tool, err, timeoutMs);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    await this.starting;
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  /** Protocol failures become SMCP errors; anything the component itself answered becomes a tool error result. */
  private callFailure(tool: string, err: unknown, timeoutMs: number): ToolResult {
    const name = this.config.name;
    if (err instanceof McpError && err.code === McpErrorCode.RequestTimeout) {
      throw new SmcpError("SMCP_CALL_TIMEOUT", `${name}/${tool} did not answer within ${timeoutMs} ms`);
    }
    if (err instanceof McpError && err.code === McpErrorCode.ConnectionClosed) {
      throw new ComponentUnavailableError(`component ${name} stopped during the call to ${tool}`, true);
    }
    if (!(err instanceof McpError) && (err as Error)?.message === "Not connected") {
      throw new ComponentUnavailableError(`component ${name} is not running`, false);
    }
    if (err instanceof McpError) return toolFailure(err.message);
    return toolFailure(`component ${name} returned a malformed answer: ${(err as Error)?.message ?? String(err)}`);
  }

  /** One start: spawn, MCP initialize, tools/list. Returns whether the component is now up. */
  private async attempt(): Promise<boolean> {
    if (this.closed) return false;
    const client = this.newClient();
    const transport = this.newTransport();
    client.onclose = () => this.onClosed(client);
    try {
      await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
      const tools = await listAllTools(client);
      if (this.closed) throw new Error("host closed while starting");
      this.setTools(tools);
      this.client = client;
      this.upSince = Date.now();
      this.log.info({ tools: this.toolCache.map((t) => t.name), pid: transport.pid }, "component up");
      return true;
    } catch (err) {
      client.onclose = undefined;
      await client.close().catch(() => undefined);
      if (!this.closed) this.log.warn({ err: (err as Error).message }, "component failed to start");
      return false;
    }
  }

  private newClient(): Client {
    const onChanged = (err: Error | null, tools: Tool[] | null): void => {
      if (err) this.log.warn({ err: err.message }, "tool list refresh failed");
      else if (tools) this.setTools(tools);
    };
    return new Client(CLIENT_INFO, { listChanged: { tools: { onChanged } } });
  }

  private newTransport(): StdioClientTransport {
    const { command, args, env } = this.config;
    const transport = new StdioClientTransport({ command, args: args ?? [], ...(env ? { env } : {}), stderr: "pipe" });
    // The component's diagnostics go to our log rather than our stderr, tagged with the component.
    transport.stderr?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) this.log.info({ stderr: line }, "component stderr");
    });
    return transport;
  }

  private setTools(tools: Tool[]): void {
    const infos: ToolInfo[] = [];
    for (const tool of tools.slice(0, MAX_TOOLS)) {
      const info = toToolInfo(tool);
      if (info) infos.push(info);
      else this.log.warn({ tool: tool.name }, "tool cannot be offered over SMCP (name or schema outside the wire format)");
    }
    this.toolCache = infos;
    this.listed = true;
  }

  private onClosed(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    this.log.warn("component stopped; restarting");
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.closed) return;
    if (this.upSince !== 0 && Date.now() - this.upSince >= STABLE_AFTER_MS) this.failures = 0;
    this.upSince = 0;
    this.failures++;
    const delay = backoffDelay(this.failures, RESTART_BACKOFF);
    this.restartTimer = setTimeout(() => void this.restart(), delay);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    if (!(await this.tracked())) this.scheduleRestart();
  }

  private async tracked(): Promise<boolean> {
    this.starting = this.attempt();
    try {
      return await this.starting;
    } finally {
      this.starting = undefined;
    }
  }
}

async function listAllTools(client: Client): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined && tools.length < MAX_TOOLS);
  return tools;
}
