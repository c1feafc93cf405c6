// Test support (Roshumba component host): the fixture MCP server's config, a quiet logger, and errorOf for expected SmcpErrors.
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { pino, type Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import type { ComponentConfig } from "../../reference-impl/components/host.ts";

export const quietLogger: Logger = pino({ level: process.env.SMCP_TEST_LOG ?? "silent" });

/** The fixture MCP server (slow / failing / crashing tools), run like vikunja: this Node with tsx as loader. */
export function fixtureConfig(name = "fixture"): ComponentConfig {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const server = fileURLToPath(new URL("./fixture-mcp-server.ts", import.meta.url));
  return { name, command: process.execPath, args: ["--import", tsx, server] };
}

/** Awaits `p` and returns the SmcpError it fails with; fails the test when it succeeds or throws anything else. */
export async function errorOf(p: Promise<unknown>): Promise<SmcpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SmcpError) return err;
    throw err;
  }
  throw new Error("expected an SmcpError, the call succeeded");
}
