// Roshumba component host: runs this instance's MCP tool servers (vikunja and any configured one) and calls their tools (spec §10, §16).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { componentUri } from "../../protocol/identity.ts";
import type { ComponentHealth, ComponentInfo, ToolInfo, ToolResult } from "../../protocol/types.ts";
import { ManagedComponent, type ComponentConfig } from "./managed.ts";

export { ComponentUnavailableError, type ComponentConfig } from "./managed.ts";

const COMPONENT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
/** SMCP's own services own these names in `smcp://server/<name>`; an MCP component may not shadow them. */
/** SMCP service names (spec NAME-09): an MCP tool component may not take one. */
const RESERVED_NAMES = new Set(["paulina", "naomi", "roshumba", "vendela", "gail", "judith", "kathy"]);
const MAX_COMPONENTS = 256;

export interface ComponentHostOptions {
  dataDir: string;
  components?: ComponentConfig[];
  logger: Logger;
  /** Run the sample `vikunja` task server (the conformance profile, spec §16). Default true. */
  includeVikunja?: boolean;
}

/** The built-in vikunja server, run by this Node binary through the instance's own launcher (bundled, or tsx). */
export function vikunjaConfig(dataDir: string): ComponentConfig {
  const launcher = fileURLToPath(new URL("../../bin/run-entry.js", import.meta.url));
  const server = fileURLToPath(new URL("./vikunja/server.ts", import.meta.url));
  return { name: "vikunja", command: process.execPath, args: [launcher, server, "--db", join(dataDir, "vikunja.sqlite")] };
}

function checkConfigs(configs: ComponentConfig[]): void {
  const seen = new Set<string>();
  if (configs.length > MAX_COMPONENTS) throw new Error(`at most ${MAX_COMPONENTS} components`);
  for (const c of configs) {
    if (!COMPONENT_NAME.test(c.name)) throw new Error(`component name ${JSON.stringify(c.name)} does not match ${COMPONENT_NAME.source}`);
    if (RESERVED_NAMES.has(c.name)) throw new Error(`component name ${c.name} is reserved for an SMCP service`);
    if (seen.has(c.name)) throw new Error(`component ${c.name} configured twice`);
    if (!c.command) throw new Error(`component ${c.name} has no command`);
    seen.add(c.name);
  }
}

export class ComponentHost {
  private constructor(private readonly components: Map<string, ManagedComponent>) {}

  /** Starts every component (in parallel) and lists its tools. One that fails to start stays `down` and is retried. */
  static async start(opts: ComponentHostOptions): Promise<ComponentHost> {
    mkdirSync(opts.dataDir, { recursive: true });
    const configs = [...(opts.includeVikunja === false ? [] : [vikunjaConfig(opts.dataDir)]), ...(opts.components ?? [])];
    checkConfigs(configs);
    const map = new Map<string, ManagedComponent>();
    for (const c of configs) map.set(c.name, new ManagedComponent(c, opts.logger.child({ component: c.name })));
    await Promise.all([...map.values()].map((m) => m.start()));
    return new ComponentHost(map);
  }

  names(): string[] {
    return [...this.components.keys()];
  }

  /** Registry entries for every component, tools as last listed (a component that is down keeps its listing). */
  list(self: string): ComponentInfo[] {
    return [...this.components.values()].map((m) => ({
      name: m.config.name,
      uri: componentUri(self, m.config.name),
      kind: "mcp",
      tools: m.tools,
    }));
  }

  /** The component's tools, or undefined when there is no such component. */
  tools(name: string): ToolInfo[] | undefined {
    return this.components.get(name)?.tools;
  }

  /**
   * Calls one tool. Throws SmcpError: SMCP_UNKNOWN_TARGET, SMCP_UNKNOWN_TOOL, SMCP_COMPONENT_UNAVAILABLE
   * (a ComponentUnavailableError saying whether the request was dispatched), SMCP_CALL_TIMEOUT.
   * A tool that fails is a normal result with `isError: true`.
   */
  async callTool(component: string, tool: string, params: Record<string, unknown>, timeoutMs: number): Promise<ToolResult> {
    const m = this.components.get(component);
    if (!m) throw new SmcpError("SMCP_UNKNOWN_TARGET", `no component named ${component}`);
    if (m.hasListing && !m.tools.some((t) => t.name === tool)) {
      throw new SmcpError("SMCP_UNKNOWN_TOOL", `component ${component} has no tool named ${tool}`);
    }
    return m.callTool(tool, params, timeoutMs);
  }

  health(): ComponentHealth[] {
    return [...this.components.values()].map((m) => ({ name: m.config.name, status: m.up ? "up" : "down" }));
  }

  /** Stops every component: closes stdin, then SIGTERM, then SIGKILL (the SDK's escalation). */
  async close(): Promise<void> {
    await Promise.all([...this.components.values()].map((m) => m.close()));
  }
}
